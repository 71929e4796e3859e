"""What %parcompare displays: text in a terminal shell, widget and PNG in a real kernel."""

from __future__ import annotations

import base64
import math

import nbformat
import pytest
from conftest import TINY_SETUP
from nbclient import NotebookClient
from test_plot import synthetic

from ipyparallel_ds import display

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
STATEMENT = "cross_val_score(SVC(), X, y, cv=3)"


def test_terminal_shows_table_text_chart_and_summary(tiny, capsys):
    tiny.run_line_magic("parcompare", f"-j 1,2 -n1 -r2 {STATEMENT}")
    out = capsys.readouterr().out
    assert "warm (median ± IQR)" in out
    assert "speedup once warm" in out and "█" in out
    assert "n_jobs=2" in out


def test_save_option_writes_the_chart(tiny, tmp_path):
    path = tmp_path / "chart.png"
    tiny.run_line_magic("parcompare", f"-q --save {path} -j 1,2 -n1 -r1 {STATEMENT}")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_save_option_rejects_unknown_extensions_before_running(ip):
    from IPython.core.error import UsageError

    ip.run_cell("ran = []").raise_error()
    with pytest.raises(UsageError, match=r"'chart\.txt'"):
        ip.run_line_magic("parcompare", "--save chart.txt -j 1 ran.append(1)")
    assert ip.user_ns["ran"] == []


def test_demo_writes_the_front_pages_between_their_markers(monkeypatch, tmp_path, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from ipyparallel_ds import demo

    (tmp_path / "docs").mkdir()
    for name, _ in demo.FRONT_PAGES:
        (tmp_path / name).write_text(f"# Title\n\n{demo.START}\nold\n{demo.END}\n\nrest\n")
    monkeypatch.setattr(demo, "SEED_SETUP", TINY_SETUP)
    monkeypatch.setattr(demo, "SEED_STATEMENT", f"-j 1,2 -n1 -r1 {STATEMENT}")
    InteractiveShell.instance().run_line_magic("unload_ext", "ipyparallel_ds")
    try:
        assert demo.main(tmp_path / "demo.png", front_page=tmp_path) == 0
    finally:
        if "parcompare" not in InteractiveShell.instance().magics_manager.magics["line"]:
            InteractiveShell.instance().run_line_magic("load_ext", "ipyparallel_ds")
    assert (tmp_path / demo.FRONT_PAGE_CHART).read_bytes().startswith(b"\x89PNG")
    for name, image in demo.FRONT_PAGES:
        text = (tmp_path / name).read_text()
        assert text.startswith("# Title\n\n") and text.endswith("\n\nrest\n")
        assert "old" not in text and f"]({image})" in text
        assert "usable of" in text and "n_jobs" in text  # the caption and the table
    (tmp_path / "README.md").write_text("no markers here\n")
    with pytest.raises(ValueError, match=r"README\.md has no front-page markers"):
        demo.write_front_page(synthetic(), tmp_path)


def test_demo_prints_the_table_and_writes_the_chart(monkeypatch, tmp_path, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from ipyparallel_ds import demo

    monkeypatch.setattr(demo, "SEED_SETUP", TINY_SETUP)
    monkeypatch.setattr(demo, "SEED_STATEMENT", f"-j 1,2 -n1 -r1 {STATEMENT}")
    InteractiveShell.instance().run_line_magic("unload_ext", "ipyparallel_ds")
    try:
        assert demo.main(tmp_path / "demo.png") == 0
    finally:
        if "parcompare" not in InteractiveShell.instance().magics_manager.magics["line"]:
            InteractiveShell.instance().run_line_magic("load_ext", "ipyparallel_ds")
    out = capsys.readouterr().out
    assert "first call" in out and "Chart written to" in out
    assert (tmp_path / "demo.png").read_bytes().startswith(b"\x89PNG")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """A small notebook executed in a real kernel, as nbconvert/nbclient would save it."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext ipyparallel_ds"),
        nbformat.v4.new_code_cell(TINY_SETUP),
        nbformat.v4.new_code_cell(f"%parcompare -j 1,2 -n1 -r2 {STATEMENT}"),
        nbformat.v4.new_code_cell(f"%parcompare --no-widget -j 1,2 -n1 -r2 {STATEMENT}"),
        nbformat.v4.new_code_cell(f"res = %parcompare -o -q -j 1,2 -n1 -r1 {STATEMENT}\nres"),
    ]
    path = tmp_path_factory.mktemp("nb") / "display.ipynb"
    client = NotebookClient(nb, timeout=240, kernel_name="python3", store_widget_state=True)
    client.execute(cwd=str(path.parent))
    nbformat.write(nb, path)
    return nbformat.read(path, as_version=4)


def outputs(cell):
    return [o for o in cell.outputs if o.output_type in ("display_data", "execute_result")]


def test_kernel_shows_table_then_widget_with_png_fallback(executed):
    shown = outputs(executed.cells[2])
    assert "<table" in shown[0].data["text/html"]  # the progress slot became the table
    widgets = [o for o in shown if WIDGET_VIEW in o.data]
    assert len(widgets) == 1  # the chart widget; the progress bar was replaced
    chart = widgets[0].data
    assert chart["image/png"] and "first call" in chart["text/plain"]


def test_saved_notebook_keeps_widget_state(executed):
    state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = {model["model_name"] for model in state.values()}
    assert {"VBoxModel", "ImageModel", "ToggleButtonsModel"} <= models


def test_no_widget_shows_a_static_png(executed):
    shown = outputs(executed.cells[3])
    assert not any(WIDGET_VIEW in o.data for o in shown)
    assert any("image/png" in o.data for o in shown)
    assert "<table" in shown[0].data["text/html"]


def test_quiet_shows_nothing_but_the_returned_result(executed):
    shown = outputs(executed.cells[4])
    assert len(shown) == 1 and shown[0].output_type == "execute_result"
    assert "<table" in shown[0].data["text/html"]


# -- static chart and text progress, without a kernel ---------------------------------------
def test_static_chart_bundle():
    bundle = display.StaticChart(synthetic())._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    assert "speedup once warm" in bundle["text/plain"]


def test_text_progress_is_silent_off_a_terminal(capsys):
    import io

    from ipyparallel_ds.progress import SweepProgress

    stream = io.StringIO()
    progress = display.TextProgress(stream)
    progress(SweepProgress(2, "warm-up", 3, 10, 6.0))
    progress.finish()
    assert stream.getvalue() == ""


def test_text_progress_on_a_terminal():
    import io

    from ipyparallel_ds.progress import SweepProgress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    progress = display.TextProgress(stream)
    progress(SweepProgress(2, "timed runs", 4, 10, 8.0))
    assert "n_jobs=2: timed runs · call 4 of about 10 · about 12 s left" in stream.getvalue()
    progress.finish()
    assert stream.getvalue().endswith("\r")
    assert not math.isnan(SweepProgress(1, "first call", 1, 2, 1.0).remaining)
