"""The kit as students see it: JupyterLab in a real (headless) Chromium.

These tests start JupyterLab on 127.0.0.1 with a token and a free port, on a temporary copy of
the notebooks, and drive Chromium (or Chrome, or Edge) with Playwright, on Linux, macOS and
Windows alike. They install nothing: ``make test`` (and so CI) installs Debian's Chromium where it
is missing, and ``playwright`` is in the ``test`` extra. The browser is ``$LABKIT_CHROMIUM`` when
set, else the first one found on the PATH or in the platform's usual places, else Playwright's own
Chromium (``python -m playwright install chromium``). Without any, the tests marked ``browser``
fail and say what to install; deselect them with ``-m "not browser"``.

The small tests at the end check, on this machine, the choices made for the other platforms (how
the server is started and stopped, which browser is found) by simulating those platforms.

Screenshots are saved in ``test-artifacts/`` (or ``$LABKIT_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import importlib.util
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

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = Path(os.environ.get("LABKIT_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))
# Browsers looked up on the PATH, in this order (shutil.which adds ".exe" on Windows).
CHROMIUM_COMMANDS = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "msedge",
]
# Where the installers put them off the PATH: on macOS below /Applications, on Windows below
# %PROGRAMFILES%, %PROGRAMFILES(X86)% (all users) or %LOCALAPPDATA% (one user).
MACOS_APPLICATIONS = Path("/Applications")
MACOS_BROWSERS = [
    ("Google Chrome.app", "Contents", "MacOS", "Google Chrome"),
    ("Chromium.app", "Contents", "MacOS", "Chromium"),
]
WINDOWS_FOLDERS = ["PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA"]
WINDOWS_BROWSERS = [
    ("Google", "Chrome", "Application", "chrome.exe"),
    ("Microsoft", "Edge", "Application", "msedge.exe"),
    ("Chromium", "Application", "chrome.exe"),
]
PLATFORM_NAMES = {"linux": "Linux", "darwin": "macOS", "win32": "Windows"}
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
SERVER_STOP_SECONDS = 20  # to shut down politely, then it is killed
SERVER_KILL_SECONDS = 10
PAGE_SECONDS = 60
RUN_ALL_SECONDS = 600  # notebook 05 in quick mode trains five small models
WIDGET_UPDATE_SECONDS = 60
FRONT_END_ERRORS = ["Error displaying widget", "Error rendering", "Javascript Error"]


# --- Starting and stopping JupyterLab, on every platform ----------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _allow_root_options() -> list[str]:
    """``--allow-root`` when the tests run as root, which JupyterLab refuses without it.

    CI machines often run tests as root. Windows has no user ids (no ``os.geteuid``).
    """
    return ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []


def _server_popen_options() -> dict:
    """Popen options that start the server in a process group of its own.

    The kernels it starts join that group, so that ``_stop`` can stop them all at once: on
    Windows a new console process group, elsewhere a new session (``setsid``, POSIX only).
    """
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and its kernels: politely, then by force after SERVER_STOP_SECONDS."""
    if process.poll() is not None:
        return
    windows = sys.platform == "win32"
    if windows:
        process.send_signal(signal.CTRL_BREAK_EVENT)  # reaches the whole process group
    else:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=SERVER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        if windows:
            # /T: the whole tree, the kernels included; /F: by force.
            taskkill = ["taskkill", "/T", "/F", "/PID", str(process.pid)]
            subprocess.run(taskkill, capture_output=True, check=False)
            process.kill()  # the server itself, should taskkill have failed
        else:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=SERVER_KILL_SECONDS)


def _wait_for_server(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with status {process.returncode}:\n{_read_log(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_SECONDS} s:\n{_read_log(log)}")


def _read_log(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")


def _write_settings(path: Path, settings: dict) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(settings), encoding="utf-8")


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory, mnist_dir) -> Iterator[dict]:
    """A JupyterLab server on a copy of the notebooks; stopped whatever happens."""
    home = tmp_path_factory.mktemp("jupyterlab")
    root = home / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, root, ignore=shutil.ignore_patterns(".labkit_cache"))
    settings = home / "settings" / "@jupyterlab"
    # Render every cell at once (no windowing), so that every stored figure is in the page.
    _write_settings(
        settings / "notebook-extension" / "tracker.jupyterlab-settings", {"windowingMode": "none"}
    )
    # No "get notified about Jupyter news?" pop-up over the page.
    _write_settings(
        settings / "apputils-extension" / "notification.jupyterlab-settings",
        {"fetchNews": "false"},
    )
    port, token = _free_port(), os.urandom(16).hex()
    environment = {
        **os.environ,
        "LABKIT_QUICK": "1",
        "LABKIT_DATA_DIR": str(mnist_dir),
        # The model cache of nbval's runs of the same notebooks: a model that Lab 05 under nbval
        # and Lab 05 in the browser both need is trained once a run, by whichever comes first.
        "LABKIT_CACHE_DIR": str(NOTEBOOK_DIR / ".labkit_cache"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    log = home / "jupyterlab.log"
    with log.open("wb") as log_file:
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
                *_allow_root_options(),
            ],
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            **_server_popen_options(),
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(f"{base}/api/status?token={token}", process, log)
        yield {"base": base, "token": token, "root": root, "log": log}
    finally:
        _stop(process)


# --- Finding a browser, on every platform -------------------------------------------------------


def _platform_browser_paths() -> list[Path]:
    """Where this platform's installers put Chrome, Edge or Chromium, off the PATH."""
    if sys.platform == "darwin":
        return [MACOS_APPLICATIONS.joinpath(*parts) for parts in MACOS_BROWSERS]
    if sys.platform == "win32":
        folders = [os.environ[name] for name in WINDOWS_FOLDERS if os.environ.get(name)]
        return [Path(folder, *parts) for parts in WINDOWS_BROWSERS for folder in folders]
    return []


def _no_browser_message() -> str:
    platform = PLATFORM_NAMES.get(sys.platform, sys.platform)
    searched = [
        "$LABKIT_CHROMIUM",
        f"{', '.join(CHROMIUM_COMMANDS)} on the PATH",
        *map(str, _platform_browser_paths()),
        "Playwright's own Chromium",
    ]
    install = "`python -m playwright install chromium`"
    if sys.platform.startswith("linux"):
        install = f"on Debian/Ubuntu `sudo apt-get install chromium`, elsewhere {install}"
    return (
        f"No Chromium, Chrome or Edge found on this {platform} machine (searched: "
        f"{'; '.join(searched)}). To run the browser tests, install one: {install}; or set "
        "LABKIT_CHROMIUM=PATH to a Chromium, Chrome or Edge executable. To leave them out, "
        'deselect them with -m "not browser".'
    )


def _find_chromium(playwright_chromium: Path) -> Path | None:
    """The browser to launch: its path, or None for Playwright's own Chromium.

    In order: ``$LABKIT_CHROMIUM`` (which must exist), the first of CHROMIUM_COMMANDS on the
    PATH, the platform's usual install places, then Playwright's own Chromium, which
    ``python -m playwright install chromium`` puts at ``playwright_chromium``. Fails the test,
    saying what to install on this platform, when there is none.
    """
    named = os.environ.get("LABKIT_CHROMIUM", "").strip()
    if named:
        if not Path(named).is_file():
            pytest.fail(
                f"LABKIT_CHROMIUM={named!r} is not a file. Point it at a Chromium, Chrome or Edge "
                "executable, or unset it to let the tests search for one."
            )
        return Path(named)
    for command in CHROMIUM_COMMANDS:
        found = shutil.which(command)
        if found:
            return Path(found)
    for path in _platform_browser_paths():
        if path.is_file():
            return path
    if playwright_chromium.is_file():
        return None
    pytest.fail(_no_browser_message())


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is in the test extra: pip install -e '.[test]'"
    )
    with playwright_api.sync_playwright() as playwright:
        executable = _find_chromium(Path(playwright.chromium.executable_path))
        where = {} if executable is None else {"executable_path": str(executable)}
        chromium = playwright.chromium.launch(headless=True, args=CHROMIUM_ARGS, **where)
        try:
            yield chromium
        finally:
            chromium.close()


# --- The browser tests --------------------------------------------------------------------------


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
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
    )


@pytest.mark.browser
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


# Queued and running cells show "[*]" in their prompt.
BUSY = (
    "() => Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'))"
    ".some(prompt => prompt.textContent.includes('*'))"
)
KERNEL_IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
# Exactly this label: the Kernel menu's "Restart Kernel and Run All Cells…" must not match.
RUN_ALL_ITEM = (
    ".lm-Menu-item:not(.lm-mod-disabled):has(.lm-Menu-itemLabel:text-is('Run All Cells'))"
)
RUN_ALL_TRIES = 3
RUN_ALL_START_SECONDS = 20  # from the click to the first "[*]"


def _run_all_cells(page) -> None:
    # Run All does nothing while the notebook is not the current widget (the menu item is
    # disabled) and skips every cell while its kernel is not yet there, so wait for an idle
    # kernel, give the notebook the focus, and click again if no cell was queued. A CI run
    # under load once clicked too early and then waited for a "[*]" that never came.
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.wait_for_selector(KERNEL_IDLE, state="attached", timeout=SERVER_START_SECONDS * 1000)
    for attempt in range(1, RUN_ALL_TRIES + 1):
        page.click(".jp-Notebook .jp-Cell .jp-InputPrompt >> nth=0")
        page.click(".lm-MenuBar-item:has-text('Run')")
        try:
            page.click(RUN_ALL_ITEM, timeout=RUN_ALL_START_SECONDS * 1000)
            page.wait_for_function(BUSY, timeout=RUN_ALL_START_SECONDS * 1000)
            break
        except PlaywrightTimeout:
            _screenshot(page, f"run-all-not-started-{attempt}")
            page.keyboard.press("Escape")
            if attempt == RUN_ALL_TRIES:
                raise AssertionError(
                    f"Run All Cells queued no cell in {RUN_ALL_TRIES} tries; see the "
                    f"screenshots run-all-not-started-*.png in {ARTIFACTS}"
                ) from None
    page.wait_for_function(f"() => !({BUSY})()", timeout=RUN_ALL_SECONDS * 1000)


def _explorer_and_its_digit(page):
    explorer = page.locator(".widget-vbox:has(.widget-slider)").first
    digit = explorer.locator("img.widget-image").first  # the decoded digit, left
    digit.wait_for(state="visible")
    explorer.scroll_into_view_if_needed()
    return explorer, digit


def _wait_for_a_new_picture(page, digit, before: str) -> None:
    page.wait_for_function(
        f"([img, before]) => ({IMAGE_PIXELS})(img) !== before",
        arg=[digit.element_handle(), before],
        timeout=WIDGET_UPDATE_SECONDS * 1000,
    )
    assert digit.evaluate(IMAGE_PIXELS) != before


def _drag_the_first_slider(page, explorer, digit) -> None:
    before = digit.evaluate(IMAGE_PIXELS)
    handle = explorer.locator(".widget-slider .noUi-handle").first
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    _wait_for_a_new_picture(page, digit, before)


@pytest.mark.browser
def test_latent_explorer_redraws_the_digit_when_a_slider_moves(jupyterlab, browser):
    # A copy under its own name: the notebook itself may still have the session (and kernel)
    # the opening test started, which JupyterLab replaces while Run All is being clicked. The
    # copy ends after the explorer's cells: the beta-VAEs trained further on are not its subject.
    copy = "05_explore_latent_space_run_all.ipynb"
    notebook = json.loads((jupyterlab["root"] / "05_explore_latent_space.ipynb").read_text("utf-8"))
    last = max(
        index
        for index, cell in enumerate(notebook["cells"])
        if "explorer" in "".join(cell["source"]) and cell["cell_type"] == "code"
    )
    notebook["cells"] = notebook["cells"][: last + 1]
    (jupyterlab["root"] / copy).write_text(json.dumps(notebook), encoding="utf-8")
    page = _open(browser, jupyterlab, copy)
    try:
        _run_all_cells(page)
        explorer, digit = _explorer_and_its_digit(page)
        _drag_the_first_slider(page, explorer, digit)
        assert _front_end_errors(page) == []
        _screenshot(page, "latent-explorer-after-slider")
    finally:
        page.close()


# Lab 07's explorer on the kit's conditional VAE, untrained (its decoder still draws a
# different picture for each digit and point): running all of Lab 07 would train the model.
CONDITIONAL_EXPLORER_CELLS = [
    "import labkit\n"
    "settings = labkit.load_settings()\n"
    "labkit.seed_everything(settings.seed)\n"
    "data = labkit.load_lab_data(settings)",
    "cvae = labkit.models.build_conditional_vae(seed=settings.seed)\n"
    "explorer = labkit.LatentExplorer(cvae, data.x_test[:300], data.y_test[:300], digit=7)\n"
    "explorer",
]


@pytest.mark.browser
def test_conditional_explorer_redraws_for_a_new_digit_and_a_new_point(jupyterlab, browser):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    notebook = new_notebook(cells=[new_code_cell(source) for source in CONDITIONAL_EXPLORER_CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, jupyterlab["root"] / "conditional_explorer.ipynb")
    page = _open(browser, jupyterlab, "conditional_explorer.ipynb")
    try:
        _run_all_cells(page)
        explorer, digit = _explorer_and_its_digit(page)
        seven = explorer.locator(".widget-toggle-button:text-is('7')")
        assert "mod-active" in (seven.get_attribute("class") or "")
        before = digit.evaluate(IMAGE_PIXELS)
        explorer.locator(".widget-toggle-button:text-is('2')").click()
        _wait_for_a_new_picture(page, digit, before)
        _drag_the_first_slider(page, explorer, digit)
        assert _front_end_errors(page) == []
        _screenshot(page, "conditional-explorer-after-digit-and-slider")
    finally:
        page.close()


# --- The other platforms, simulated on this one (not marked browser: they run everywhere) -------

WINDOWS_CREATE_NEW_PROCESS_GROUP = 0x00000200  # subprocess's and signal's values on Windows
WINDOWS_CTRL_BREAK_EVENT = 1
POSIX_SIGTERM, POSIX_SIGKILL = 15, 9  # signal.SIGKILL does not exist on Windows
SERVER_PID = 4242


class _FakeServer:
    """Stands in for the server's Popen and records what ``_stop`` does to it, in order."""

    def __init__(self, obeys: bool) -> None:
        self.pid = SERVER_PID
        self.obeys = obeys  # whether it exits when asked politely
        self.returncode = None
        self.calls: list[tuple] = []

    def poll(self):
        return self.returncode

    def asked(self, call: tuple) -> None:
        self.calls.append(call)
        if self.obeys:
            self.returncode = 0

    def killed(self, call: tuple) -> None:
        self.calls.append(call)
        self.returncode = -9

    def send_signal(self, signal_number: int) -> None:
        self.asked(("send_signal", signal_number))

    def kill(self) -> None:
        self.killed(("kill",))

    def wait(self, timeout: float) -> int:
        self.calls.append(("wait", timeout))
        if self.returncode is None:
            raise subprocess.TimeoutExpired("jupyterlab", timeout)
        return self.returncode


def _simulate_windows(monkeypatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    for name in ("killpg", "setsid", "getpgid", "geteuid"):  # POSIX only
        monkeypatch.delattr(os, name, raising=False)
    monkeypatch.setattr(
        subprocess, "CREATE_NEW_PROCESS_GROUP", WINDOWS_CREATE_NEW_PROCESS_GROUP, raising=False
    )
    monkeypatch.setattr(signal, "CTRL_BREAK_EVENT", WINDOWS_CTRL_BREAK_EVENT, raising=False)


def test_this_file_loads_where_the_posix_calls_are_missing(monkeypatch):
    _simulate_windows(monkeypatch)
    monkeypatch.delattr(signal, "SIGKILL", raising=False)
    spec = importlib.util.spec_from_file_location("browser_tests_on_windows", __file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # collecting the tests touches no POSIX-only name
    assert module._server_popen_options() == {"creationflags": WINDOWS_CREATE_NEW_PROCESS_GROUP}
    assert module._allow_root_options() == []


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_on_posix_the_server_gets_a_session_of_its_own(platform, monkeypatch):
    monkeypatch.setattr(sys, "platform", platform)
    assert _server_popen_options() == {"start_new_session": True}


def test_on_windows_the_server_gets_a_process_group_of_its_own(monkeypatch):
    _simulate_windows(monkeypatch)
    assert _server_popen_options() == {"creationflags": WINDOWS_CREATE_NEW_PROCESS_GROUP}


@pytest.mark.parametrize("platform", ["linux", "darwin"])
@pytest.mark.parametrize(
    "obeys, expected",
    [
        (True, [("killpg", SERVER_PID, POSIX_SIGTERM), ("wait", SERVER_STOP_SECONDS)]),
        (
            False,
            [
                ("killpg", SERVER_PID, POSIX_SIGTERM),
                ("wait", SERVER_STOP_SECONDS),
                ("killpg", SERVER_PID, POSIX_SIGKILL),
                ("wait", SERVER_KILL_SECONDS),
            ],
        ),
    ],
    ids=["exits when asked", "killed"],
)
def test_on_posix_stop_signals_the_group_then_kills_it(platform, obeys, expected, monkeypatch):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(signal, "SIGTERM", POSIX_SIGTERM)
    monkeypatch.setattr(signal, "SIGKILL", POSIX_SIGKILL, raising=False)
    server = _FakeServer(obeys)

    def killpg(pid, signal_number):
        call = ("killpg", pid, signal_number)
        if signal_number == POSIX_SIGKILL:
            server.killed(call)
        else:
            server.asked(call)

    monkeypatch.setattr(os, "killpg", killpg, raising=False)
    _stop(server)
    assert server.calls == expected


@pytest.mark.parametrize(
    "obeys, expected",
    [
        (True, [("send_signal", WINDOWS_CTRL_BREAK_EVENT), ("wait", SERVER_STOP_SECONDS)]),
        (
            False,
            [
                ("send_signal", WINDOWS_CTRL_BREAK_EVENT),
                ("wait", SERVER_STOP_SECONDS),
                ("run", ["taskkill", "/T", "/F", "/PID", str(SERVER_PID)]),
                ("kill",),
                ("wait", SERVER_KILL_SECONDS),
            ],
        ),
    ],
    ids=["exits on ctrl-break", "killed with its tree"],
)
def test_on_windows_stop_sends_ctrl_break_then_kills_the_tree(obeys, expected, monkeypatch):
    _simulate_windows(monkeypatch)  # os.killpg is gone: calling it would raise AttributeError
    server = _FakeServer(obeys)

    def run(arguments, **options):
        assert "shell" not in options
        server.calls.append(("run", arguments))

    monkeypatch.setattr(subprocess, "run", run)
    _stop(server)
    assert server.calls == expected


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_stop_leaves_a_server_that_already_exited_alone(platform, monkeypatch):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.delattr(os, "killpg", raising=False)
    server = _FakeServer(obeys=True)
    server.returncode = 1
    _stop(server)
    assert server.calls == []


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX only")
def test_on_posix_stop_reaches_the_processes_the_server_started(tmp_path):
    # A stand-in server that starts a stand-in kernel; the kernel notes the SIGTERM it gets.
    stopped = tmp_path / "kernel-stopped"
    kernel = (
        "import pathlib, signal, sys, time\n"
        "def note(*_):\n"
        "    pathlib.Path(sys.argv[1]).write_text('SIGTERM', encoding='utf-8')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, note)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    server = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', sys.argv[1], sys.argv[2]])\n"
        "time.sleep(60)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", server, kernel, str(stopped)],
        stdout=subprocess.PIPE,
        **_server_popen_options(),
    )
    try:
        assert process.stdout.readline() == b"ready\n"  # the kernel's handler is in place
        _stop(process)
        assert process.returncode == -signal.SIGTERM
        deadline = time.monotonic() + SERVER_KILL_SECONDS
        while not stopped.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stopped.read_text(encoding="utf-8") == "SIGTERM"
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()


@pytest.mark.parametrize("user_id, expected", [(0, ["--allow-root"]), (1000, [])])
def test_allow_root_only_for_root(user_id, expected, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: user_id, raising=False)
    assert _allow_root_options() == expected


def test_allow_root_is_not_asked_where_there_are_no_user_ids(monkeypatch):
    monkeypatch.delattr(os, "geteuid", raising=False)  # as on Windows
    assert _allow_root_options() == []


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.fixture
def no_browser(monkeypatch, tmp_path) -> list[str]:
    """No browser anywhere: returns the names looked up on the (empty) PATH, in order."""
    looked_up: list[str] = []

    def which(command, *args, **kwargs):
        looked_up.append(command)
        return None

    monkeypatch.delenv("LABKIT_CHROMIUM", raising=False)
    monkeypatch.setattr(shutil, "which", which)
    monkeypatch.setitem(globals(), "MACOS_APPLICATIONS", tmp_path / "Applications")
    for name in WINDOWS_FOLDERS:
        monkeypatch.delenv(name, raising=False)
    return looked_up


def test_labkit_chromium_comes_first_and_must_exist(no_browser, monkeypatch, tmp_path):
    named = _executable(tmp_path / "my-browser")
    monkeypatch.setattr(shutil, "which", lambda command: str(tmp_path / command))
    monkeypatch.setenv("LABKIT_CHROMIUM", str(named))
    assert _find_chromium(tmp_path / "playwright-chromium") == named
    monkeypatch.setenv("LABKIT_CHROMIUM", str(tmp_path / "missing"))
    with pytest.raises(pytest.fail.Exception, match=r"LABKIT_CHROMIUM='.*missing' is not a file"):
        _find_chromium(tmp_path / "playwright-chromium")


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_the_first_browser_on_the_path_is_taken(platform, no_browser, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", platform)
    on_path = {"google-chrome": tmp_path / "google-chrome", "msedge": tmp_path / "msedge.exe"}

    def which(command, *args, **kwargs):
        no_browser.append(command)
        return str(on_path[command]) if command in on_path else None

    monkeypatch.setattr(shutil, "which", which)
    assert _find_chromium(tmp_path / "playwright-chromium") == tmp_path / "google-chrome"
    assert no_browser == ["chromium", "chromium-browser", "google-chrome"]


def test_on_macos_the_applications_folder_is_searched(no_browser, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "darwin")
    applications = tmp_path / "Applications"
    chromium = _executable(applications / "Chromium.app" / "Contents" / "MacOS" / "Chromium")
    assert _find_chromium(tmp_path / "playwright-chromium") == chromium
    assert no_browser == [  # the PATH first
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
        "chrome",
        "msedge",
    ]
    chrome = _executable(
        applications / "Google Chrome.app" / "Contents" / "MacOS" / "Google Chrome"
    )
    assert _find_chromium(tmp_path / "playwright-chromium") == chrome
    monkeypatch.setattr(sys, "platform", "linux")  # not where Linux keeps its browsers
    with pytest.raises(pytest.fail.Exception, match="No Chromium, Chrome or Edge found"):
        _find_chromium(tmp_path / "playwright-chromium")


def test_on_windows_program_files_are_searched(no_browser, monkeypatch, tmp_path):
    _simulate_windows(monkeypatch)
    folders = {name: tmp_path / name for name in WINDOWS_FOLDERS}
    for name, folder in folders.items():
        monkeypatch.setenv(name, str(folder))
    edge = folders["PROGRAMFILES(X86)"] / "Microsoft" / "Edge" / "Application" / "msedge.exe"
    _executable(edge)
    assert _find_chromium(tmp_path / "playwright-chromium") == edge
    chrome = folders["LOCALAPPDATA"] / "Google" / "Chrome" / "Application" / "chrome.exe"
    _executable(chrome)  # Chrome is preferred to Edge
    assert _find_chromium(tmp_path / "playwright-chromium") == chrome


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_playwrights_own_chromium_comes_last(platform, no_browser, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", platform)
    assert _find_chromium(_executable(tmp_path / "ms-playwright" / "chrome")) is None


@pytest.mark.parametrize(
    "platform, named, said, not_said",
    [
        ("linux", "Linux", "on Debian/Ubuntu `sudo apt-get install chromium`", "macOS"),
        ("darwin", "macOS", "install one: `python -m playwright install chromium`", "apt-get"),
        ("win32", "Windows", "install one: `python -m playwright install chromium`", "apt-get"),
    ],
)
def test_without_a_browser_the_failure_says_what_to_do_here(
    platform, named, said, not_said, no_browser, monkeypatch, tmp_path
):
    monkeypatch.setattr(sys, "platform", platform)
    with pytest.raises(pytest.fail.Exception) as failure:
        _find_chromium(tmp_path / "playwright-chromium")
    message = str(failure.value)
    assert f"No Chromium, Chrome or Edge found on this {named} machine" in message
    assert said in message and not_said not in message
    assert "`python -m playwright install chromium`" in message
    assert "LABKIT_CHROMIUM=PATH" in message and '-m "not browser"' in message
