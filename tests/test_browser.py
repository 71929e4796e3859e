"""End to end in a real browser: JupyterLab in headless Chromium, driven by Playwright.

The test starts its own JupyterLab on 127.0.0.1 (free port, random token, config and data
dirs in tmp), writes a notebook that runs ``%parcompare``, runs all cells from the Run menu
as a person would, waits for the chart widget, clicks the "efficiency" toggle and checks that
the chart and its y label change. Screenshots go to ``tests/artifacts/`` (git-ignored).

Chromium comes from Debian's package (browsers cannot be downloaded here); ``.ci/run``
installs it. Without it (or without Playwright) the test is skipped locally, but fails in CI
(``CI=true``), where it must really run.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium",)
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # No network but this machine: every host name fails to resolve (we use the IP literal).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
SERVER_START_TIMEOUT = 90  # s
RUN_TIMEOUT_MS = 180_000  # the sweep: cold loky pools, warm-ups and 3 repeats per n_jobs value

NOTEBOOK_NAME = "parcompare-browser.ipynb"
CELLS = [
    "%load_ext ipyparallel_ds",
    "from sklearn.datasets import make_classification\n"
    "from sklearn.model_selection import cross_val_score\n"
    "from sklearn.svm import SVC\n"
    "X, y = make_classification(n_samples=200, random_state=0)",
    "%parcompare -j 1,2 -n1 -r3 cross_val_score(SVC(), X, y, cv=5)",
]


def _unavailable(reason: str):
    """Skip on a developer's machine; fail in CI, which installs everything this test needs."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run should have installed it)", pytrace=False)
    pytest.skip(reason)


def _find_chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


# Talk to our own server directly, never through a proxy from the environment.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(url: str) -> bool:
    try:
        with _LOCAL.open(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    """Terminate the server (it shuts its kernels down), then kill whatever is left of it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    # The server ran in its own session: kill the rest of its process group (a kernel or its
    # loky workers that outlived it), and only that group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def chromium_path() -> str:
    path = _find_chromium()
    if path is None:
        _unavailable(
            "Chromium not found: neither /usr/bin/chromium nor `chromium` on PATH "
            "(apt-get install chromium)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        _unavailable(f"Playwright for Python not found: {exc} (pip install -e '.[test]')")
    return path


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab of this interpreter, isolated in tmp; yields (base url, token, root dir)."""
    try:
        import jupyterlab  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as exc:
        _unavailable(f"JupyterLab or nbformat not found: {exc} (pip install -e '.[test]')")

    root = tmp_path / "root"
    jupyter = tmp_path / "jupyter"
    for sub in ("root", "jupyter/config", "jupyter/data", "jupyter/runtime", "ipython"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_CONFIG_PATH", None)
    env.update(
        JUPYTER_PLATFORM_DIRS="1",
        JUPYTER_CONFIG_DIR=str(jupyter / "config"),
        JUPYTER_DATA_DIR=str(jupyter / "data"),
        JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(jupyter / "config" / "lab" / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(jupyter / "config" / "lab" / "workspaces"),
        IPYTHONDIR=str(tmp_path / "ipython"),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    # No "get notified about official Jupyter news?" toast over the notebook.
    settings = jupyter / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    # The notebook's "python3" kernel is this interpreter: a kernel spec in the tmp data dir
    # (first on the kernel search path) whose argv is sys.executable.
    subprocess.run(
        [
            *(sys.executable, "-m", "ipykernel", "install", "--user"),
            *("--name", "python3", "--display-name", "Python 3 (ipykernel)"),
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )

    port = _free_port()
    token = secrets.token_hex(24)
    log_path = tmp_path / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_remote_access=False",
        "--ServerApp.terminals_enabled=False",
        "--allow-root",  # CI and this machine run as root
        # Nothing from outside: no update checks, no news feed.
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=",
        "--LabApp.extension_manager=readonly",
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not _answers(f"{base}/api/status?token={token}"):
            if proc.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited with {proc.returncode}:\n{_tail(log_path)}", pytrace=False
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"JupyterLab did not answer in {SERVER_START_TIMEOUT} s:\n{_tail(log_path)}",
                    pytrace=False,
                )
            time.sleep(0.25)
        yield base, token, root
    finally:
        _stop(proc)


def _write_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, str(path))


PROGRESS_OBSERVER = """() => {
    window.__parcompareProgress = [];
    const record = () => {
        for (const box of document.querySelectorAll(".parcompare-progress")) {
            const text = box.innerText.trim();
            const seen = window.__parcompareProgress;
            if (!seen.length || seen[seen.length - 1].text !== text) {
                seen.push({text, bar: box.querySelector(".progress-bar") !== null});
            }
        }
    };
    new MutationObserver(record).observe(document.body, {
        childList: true, subtree: true, characterData: true, attributes: true,
    });
}"""


# JupyterLab shows a traceback as a stderr output; tell it from warnings by its text.
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|\b\w*(Error|Exception): ")
_STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"


def _output_errors(page) -> list[str]:
    """Tracebacks shown in the notebook's output areas."""
    errors = page.locator(_STDERR).filter(has_text=_TRACEBACK)
    return [errors.nth(i).inner_text() for i in range(errors.count())]


def _wait_for_output(page, locator, what: str, timeout_ms: int) -> None:
    """Wait until ``locator`` is in the page; fail at once with the traceback if a cell raised."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        errors = _output_errors(page)
        if errors:
            pytest.fail(f"a cell raised while waiting for {what}:\n{errors[0][-4000:]}")
        if locator.count():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not shown within {timeout_ms / 1000:.0f} s")
        page.wait_for_timeout(250)


@pytest.mark.timeout(300)
def test_parcompare_widget_in_jupyterlab(chromium_path, jupyterlab):
    from playwright.sync_api import expect, sync_playwright

    base, token, root = jupyterlab
    _write_notebook(root / NOTEBOOK_NAME)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    console: list[str] = []

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.on(
                "console",
                lambda m: m.type in ("error", "warning") and console.append(f"{m.type}: {m.text}"),
            )
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            try:
                _drive(page, base, token, expect)
            except BaseException:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(ARTIFACTS / "browser-failure.png"), full_page=True)
                print("\n--- browser console ---\n" + "\n".join(console[-60:]))
                raise
        finally:
            browser.close()


def _drive(page, base: str, token: str, expect) -> None:
    page.goto(f"{base}/lab/tree/{NOTEBOOK_NAME}?token={token}", timeout=60_000)

    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(notebook.locator(".jp-Cell")).to_have_count(len(CELLS), timeout=60_000)

    # Wait for the kernel to be ready; choose the default kernel if JupyterLab asks for one.
    idle = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
    page.wait_for_selector(f"{idle}, .jp-Dialog", timeout=90_000)
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        dialog.get_by_role("button", name=re.compile(r"^Select")).click()
        page.wait_for_selector(idle, timeout=90_000)

    # Record every state of the progress box: it lives only while the sweep runs.
    page.evaluate(PROGRESS_OBSERVER)

    # Run → Run All Cells, as a person would; and again, as a person would, when the first
    # cell shows no sign of running ("[*]" or a number) after 30 s: once in a full suite's
    # run the first click reached JupyterLab but ran nothing.
    started = notebook.locator(".jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]"))
    for _ in range(2):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        deadline = time.monotonic() + 30
        while not started.count() and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        if started.count():
            break

    # While it runs: the live progress box (bar + text), then the final chart widget.
    widget = notebook.locator(".parcompare-widget")
    progress = notebook.locator(".parcompare-progress")
    _wait_for_output(page, widget, "the chart widget (.parcompare-widget)", RUN_TIMEOUT_MS)
    expect(widget).to_have_count(1)
    seen = page.evaluate("() => window.__parcompareProgress")
    assert seen, "the progress box (.parcompare-progress) was never shown during the run"
    assert any(s["bar"] for s in seen), f"the progress box had no progress bar: {seen}"
    print(f"\nprogress box seen {len(seen)} times; last text: {seen[-1]['text']!r}")

    # The run is over: the progress box is closed, the kernel idle, the table shown.
    expect(progress).to_have_count(0, timeout=30_000)
    page.wait_for_selector(idle, timeout=60_000)
    table_header = notebook.locator(
        ".jp-OutputArea-output table th", has_text=re.compile("^speedup$")
    )
    expect(table_header).to_have_count(1)

    # The controls: metric toggle buttons with "speedup" selected, the chart image, the caption.
    metric = widget.locator(".widget-toggle-buttons").filter(has_text="metric")
    expect(metric.locator(".widget-label").first).to_have_text("metric")
    buttons = metric.locator("button.widget-toggle-button")
    expect(buttons).to_have_text(["time", "speedup", "efficiency"])
    expect(metric.locator("button.mod-active")).to_have_text("speedup")
    image = widget.locator("img.widget-image")
    expect(image).to_have_attribute("src", re.compile(r"^(blob:|data:image/png)"))
    expect(image).to_have_js_property("complete", True)
    assert image.evaluate("img => img.naturalWidth") > 0, "the chart image did not load"
    ylabel = widget.locator(".parcompare-ylabel")
    expect(ylabel).to_have_text(re.compile(r"^speedup"))

    widget.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "browser-speedup.png"), full_page=True)

    # Switch the metric: the chart is redrawn from the stored result, nothing is re-run.
    before = image.get_attribute("src")
    metric.locator("button", has_text=re.compile(r"^efficiency$")).click()
    expect(metric.locator("button.mod-active")).to_have_text("efficiency")
    expect(image).not_to_have_attribute("src", before, timeout=30_000)
    expect(ylabel).to_have_text(re.compile(r"^efficiency"), timeout=30_000)
    expect(image).to_have_js_property("complete", True)
    assert image.evaluate("img => img.naturalWidth") > 0, "the redrawn chart did not load"
    assert not _output_errors(page), "\n\n".join(_output_errors(page))

    widget.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "browser-efficiency.png"), full_page=True)
