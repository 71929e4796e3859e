"""Export: every field has its loader, and a result survives JSON unchanged."""

from __future__ import annotations

from dataclasses import fields

from _synthetic import BUILDERS

from ipyparallel_ds import export
from ipyparallel_ds.result import ConfigTiming, ParCompareResult


def test_every_field_has_an_explicit_loader():
    assert set(export.CONFIG_LOADERS) == {f.name for f in fields(ConfigTiming)}
    stored = {f.name for f in fields(ParCompareResult)} - {"configs"}
    assert set(export.RESULT_LOADERS) == stored


def test_json_round_trip_of_every_synthetic_result():
    for build in BUILDERS.values():
        result = build()
        again = ParCompareResult.from_json(result.to_json())
        assert again.to_json() == result.to_json()
        assert again.report() == result.report()
