"""The kit as students see it: JupyterLab in a real (headless) Chromium.

These tests start JupyterLab on 127.0.0.1 with a token and a free port, on a temporary copy of
the notebooks, and drive Debian's Chromium with Playwright. They install nothing: ``make test``
(and so CI) installs Chromium where it is missing, and ``playwright`` is in the ``test`` extra.
Without Chromium they fail; deselect them with ``-m "not browser"``.

Screenshots are saved in ``test-artifacts/`` (or ``$LABKIT_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = Path(os.environ.get("LABKIT_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))
CHROMIUM = os.environ.get("LABKIT_CHROMIUM", "/usr/bin/chromium")
# Chromium must not reach out to Google's services: this machine's network is closed.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_SECONDS = 90
PAGE_SECONDS = 60
RUN_ALL_SECONDS = 600  # notebook 05 in quick mode trains five small models
WIDGET_UPDATE_SECONDS = 60
FRONT_END_ERRORS = ["Error displaying widget", "Error rendering", "Javascript Error"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_server(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with status {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_SECONDS} s:\n{log.read_text()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # the server and the kernels it started
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory, mnist_dir) -> Iterator[dict]:
    """A JupyterLab server on a copy of the notebooks; stopped whatever happens."""
    home = tmp_path_factory.mktemp("jupyterlab")
    root = home / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, root)
    # Render every cell at once (no windowing), so that every stored figure is in the page.
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    # No "get notified about Jupyter news?" pop-up over the page.
    notification = home / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false"})
    )
    port, token = _free_port(), os.urandom(16).hex()
    environment = {
        **os.environ,
        "LABKIT_QUICK": "1",
        "LABKIT_DATA_DIR": str(mnist_dir),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    log = home / "jupyterlab.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                # CI machines often run tests as root; JupyterLab refuses that without this.
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(f"{base}/api/status?token={token}", process, log)
        yield {"base": base, "token": token, "root": root, "log": log}
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is in the test extra: pip install -e '.[test]'"
    )
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"No Chromium at {CHROMIUM}. Run `make test` (it installs Debian's chromium), or "
            "deselect the browser tests with -m 'not browser'."
        )
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser, jupyterlab: dict, name: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(PAGE_SECONDS * 1000)
    # A workspace of its own, so that no other notebook is open in the page.
    workspace = Path(name).stem
    page.goto(
        f"{jupyterlab['base']}/lab/workspaces/{workspace}/tree/{name}?token={jupyterlab['token']}"
    )
    page.wait_for_selector(".jp-Notebook .jp-Cell", state="attached")
    return page


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def _front_end_errors(page) -> list[str]:
    text = page.inner_text("body")
    return [error for error in FRONT_END_ERRORS if error in text]


def _stored_figures(path: Path) -> int:
    # Every PNG output, the widgets' snapshots included: a notebook opened from disk is not
    # trusted, so JupyterLab shows a widget's PNG snapshot until its cell runs again.
    notebook = json.loads(path.read_text())
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_notebook_opens_and_its_stored_figures_render(path, jupyterlab, browser):
    page = _open(browser, jupyterlab, path.name)
    try:
        expected = _stored_figures(path)
        page.wait_for_function(
            "n => Array.from(document.querySelectorAll('.jp-RenderedImage img'))"
            ".filter(img => img.complete && img.naturalWidth > 0).length >= n",
            arg=expected,
        )
        rendered = page.eval_on_selector_all(
            ".jp-RenderedImage img", "images => images.filter(i => i.naturalWidth > 0).length"
        )
        _screenshot(page, f"open-{path.stem}")
        assert rendered == expected
        assert _front_end_errors(page) == []
    finally:
        page.close()


IMAGE_PIXELS = """img => {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    canvas.getContext('2d').drawImage(img, 0, 0);
    return canvas.toDataURL('image/png');
}"""


def test_latent_explorer_redraws_the_digit_when_a_slider_moves(jupyterlab, browser):
    page = _open(browser, jupyterlab, "05_explore_latent_space.ipynb")
    try:
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator", state="attached")
        page.click(".lm-MenuBar-item:has-text('Run')")
        page.click(".lm-Menu-item:has-text('Run All Cells')")
        # Queued and running cells show "[*]": wait for it to appear, then to disappear.
        busy = (
            "() => Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'))"
            ".some(prompt => prompt.textContent.includes('*'))"
        )
        page.wait_for_function(busy)
        page.wait_for_function(f"() => !({busy})()", timeout=RUN_ALL_SECONDS * 1000)
        explorer = page.locator(".widget-vbox:has(.widget-slider)").first
        digit = explorer.locator("img.widget-image").first  # the decoded digit, left
        digit.wait_for(state="visible")
        explorer.scroll_into_view_if_needed()
        before = digit.evaluate(IMAGE_PIXELS)
        handle = explorer.locator(".widget-slider .noUi-handle").first
        box = handle.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        page.wait_for_function(
            f"([img, before]) => ({IMAGE_PIXELS})(img) !== before",
            arg=[digit.element_handle(), before],
            timeout=WIDGET_UPDATE_SECONDS * 1000,
        )
        assert digit.evaluate(IMAGE_PIXELS) != before
        assert _front_end_errors(page) == []
        _screenshot(page, "latent-explorer-after-slider")
    finally:
        page.close()
