"""Behaviour-unchanged snapshots: the report, HTML, JSON and chart contents of fixed synthetic
results, compared with golden files in ``tests/snapshots/``.

These snapshots were recorded before the layering refactor (issue 13) and must stay identical
through it. Regenerate them only for an intended change of output, with::

    .venv/bin/python -m tests._synthetic

and review the diff of ``tests/snapshots/`` like any other change.
"""

from __future__ import annotations

import json

import pytest
from _synthetic import BUILDERS, SNAPSHOTS, axes_contents

REGENERATE = "regenerate with `.venv/bin/python -m tests._synthetic` only if the change is intended"


def golden(name: str, suffix: str) -> str:
    path = SNAPSHOTS / f"{name}.{suffix}"
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


@pytest.fixture(params=sorted(BUILDERS))
def case(request):
    return request.param, BUILDERS[request.param]()


def test_report(case):
    name, result = case
    assert result.report() + "\n" == golden(name, "report.txt"), REGENERATE


def test_html(case):
    name, result = case
    assert result._repr_html_() + "\n" == golden(name, "html"), REGENERATE


def rounded(value):
    """Floats to 9 significant digits: the t quantile and the fit (scipy) may differ in
    the last digits between releases without any change of behaviour."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def test_json(case):
    name, result = case
    expected = rounded(json.loads(golden(name, "json")))
    assert rounded(json.loads(result.to_json())) == expected, REGENERATE


def test_axes(case):
    name, result = case
    # Through JSON, as written, so that tuples and lists compare alike.
    drawn = json.loads(json.dumps(axes_contents(result), ensure_ascii=False))
    assert drawn == json.loads(golden(name, "axes.json")), REGENERATE
