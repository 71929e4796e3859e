"""The chart widget: controls redraw from the stored result; the bundle carries PNG and text."""

from __future__ import annotations

import base64

from test_plot import synthetic


def test_widget_controls_redraw_from_the_stored_result(monkeypatch):
    from ipyparallel_ds import api

    calls = []
    monkeypatch.setattr(api, "run", lambda *a, **k: calls.append(1))
    from _synthetic import tasks_sweep

    box = tasks_sweep().widget()  # its tasks were measured: the prediction can be switched off
    images = {box.image.value}
    assert box.axes_label.startswith("speedup")
    box.metric.value = "efficiency"
    assert box.axes_label.startswith("efficiency") and "efficiency" in box.caption.value
    images.add(box.image.value)
    box.metric.value = "time"
    images.add(box.image.value)
    box.statistic.value = "best"
    images.add(box.image.value)
    box.log_scale.value = True
    images.add(box.image.value)
    box.first_calls.value = False
    images.add(box.image.value)
    box.prediction.value = False
    images.add(box.image.value)
    assert len(images) == 7  # every control changed the picture
    assert calls == []  # and nothing was measured again


def test_widget_bundle_carries_png_and_text():
    box = synthetic().widget()
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    assert "first call" in bundle["text/plain"]
