"""Executing notebooks headless: the one runner of ``labkit run`` and ``labkit grade --execute``."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import nbformat
import zmq
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from traitlets import default

from labkit_instructor.limits import CELL_TIMEOUT_SECONDS, MESSAGE_BYTES
from labkit_instructor.notebook_files import headings_before, read_results, text_table

__all__ = [
    "CELL_TIMEOUT_SECONDS",
    "OUTPUT_DROPPED",
    "CurrentPythonKernelManager",
    "NotebookRun",
    "RunProgress",
    "execute_notebook",
    "expected_seconds",
    "find_notebooks",
    "run_notebook",
]

NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
HEADING_CHARACTERS = 40  # of the step heading shown beside the cell number
PROGRESS_INTERVAL_SECONDS = 15.0  # without a terminal (CI logs), at most one line this often

# A cell's progress: (cell number counted from 1, number of code cells, heading above it).
CellProgress = Callable[[int, int, str], None]


@dataclass
class NotebookRun:
    """What happened when one notebook ran."""

    name: str
    seconds: float
    error: str | None = None
    results: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def find_notebooks(folder: Path) -> list[Path]:
    """The lab notebooks in ``folder`` (``01_*.ipynb``, ``02_*.ipynb``, ...), in order.

    Raises:
        FileNotFoundError: The folder does not exist or holds no lab notebook.
    """
    notebooks = sorted(Path(folder).glob(NOTEBOOK_PATTERN))
    if not notebooks:
        raise FileNotFoundError(
            f"No lab notebooks (named like 01_setup.ipynb) in {folder}. Pass the folder that "
            "holds them: labkit run FOLDER."
        )
    return notebooks


class _CurrentPythonKernelSpecs(KernelSpecManager):
    """Every kernel name means this interpreter's ipykernel (as nbval's --nbval-current-env)."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())


class _CappedKernelClient(AsyncKernelClient):
    """A kernel client that refuses IOPub messages over MESSAGE_BYTES as ZeroMQ receives them,
    before they are read into memory: a kernel that displays 300 MB costs nothing here."""

    def connect_iopub(self, identity: bytes | None = None):
        self.context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_BYTES)  # for sockets made from now on
        try:
            return super().connect_iopub(identity)
        finally:
            self.context.sockopts.pop(zmq.MAXMSGSIZE, None)


class CurrentPythonKernelManager(AsyncKernelManager):
    """nbclient's kernel manager, starting every kernel on the Python running this code.

    A notebook names its kernel ``python3``, and Jupyter resolves that name through kernel specs
    that may be left over from another install: a conda base environment, a user-wide kernel
    pointing at a Python without TensorFlow, or one that no longer exists. Running the kernel
    on this interpreter means the notebooks see the environment ``labkit`` is installed in, on
    every platform. Pass the class, not an instance, as ``NotebookClient(...,
    kernel_manager_class=CurrentPythonKernelManager)``, so that nbclient still owns the kernel
    and shuts it down, even after a time-out.
    """

    @default("client_factory")
    def _client_factory_default(self) -> type[AsyncKernelClient]:
        return _CappedKernelClient

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return _CurrentPythonKernelSpecs(data_dir=self.data_dir)


def expected_seconds(path: Path, mode: str) -> float | None:
    """How long ``path`` took in its last recorded run in ``mode`` ("full" or "quick"), if known.

    ``labkit run`` records each notebook's time in its metadata (``labkit.run_seconds``); the
    committed notebooks carry the time of the full run that produced their outputs.
    """
    try:
        notebook = nbformat.read(path, as_version=4)
    except (OSError, ValueError):
        return None
    value = notebook.metadata.get("labkit", {}).get("run_seconds", {}).get(mode)
    return float(value) if isinstance(value, int | float) and value > 0 else None


def execute_notebook(
    notebook,
    *,
    cwd: Path,
    cell_timeout: float = CELL_TIMEOUT_SECONDS,
    total_timeout: float | None = None,
    allow_errors: bool = False,
    env: dict[str, str] | None = None,
    kernel_manager_class: type[AsyncKernelManager] = CurrentPythonKernelManager,
    on_cell: CellProgress | None = None,
    stderr: TextIO | None = None,
    output_limit: Callable[[int], int] | None = None,
) -> str | None:
    """Execute ``notebook`` (an nbformat node, changed in place) top to bottom in a fresh kernel.

    The one runner of ``labkit run`` and ``labkit grade --execute``. The kernel starts in
    ``cwd`` with ``env`` (default: this process's environment) and is shut down at the end,
    whatever happened, with every process it started.

    Args:
        cell_timeout: Seconds one cell may run.
        total_timeout: Seconds the whole notebook may run (None: no limit beyond the cells').
        allow_errors: Go on after a cell that raises (grading), instead of stopping (running).
        kernel_manager_class: Starts the kernel; the sandbox of ``labkit grade`` passes its own.
        on_cell: Called as each code cell starts, with its number, the count and its heading.
        stderr: Where the kernel's own stderr goes (default: discarded).
        output_limit: The characters of output each cell may keep, by cell index (default:
            no limit); beyond it, outputs are dropped as they arrive and a line says so.

    Returns:
        None when every cell ran; otherwise why the run stopped early, naming the cell
        ("cell 7: ZeroDivisionError: division by zero", "cell 3 ran past the per-cell limit
        of 900 s", "the kernel died in cell 5 (out of memory?)").
    """
    code_indices = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    above = headings_before(notebook.cells)  # "Step 7 · Train ...", shown with the progress
    headings = [above[i] for i in code_indices]
    code_number = {cell_index: number for number, cell_index in enumerate(code_indices)}
    deadline = None if total_timeout is None else time.monotonic() + total_timeout
    current = {"cell": 0}
    died: dict[str, int | None] = {}

    def timeout_for(cell) -> int:
        left = cell_timeout if deadline is None else deadline - time.monotonic()
        return max(1, int(min(cell_timeout, left)))

    def cell_started(cell, cell_index: int, **_) -> None:
        current["cell"] = cell_index + 1
        if on_cell is not None and cell_index in code_number:
            number = code_number[cell_index]
            on_cell(number + 1, len(code_indices), headings[number])

    def kernel_failed(**_) -> None:
        died["status"] = _exit_status(client.km)  # read before nbclient drops the manager

    client = _CappedClient(
        notebook,
        output_limit=output_limit,
        kernel_manager_class=kernel_manager_class,
        kernel_name="python3",
        timeout=int(cell_timeout),
        timeout_func=timeout_for,
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(Path(cwd).resolve())}},
        record_timing=False,
        on_cell_start=cell_started,
        on_notebook_error=kernel_failed,
    )
    try:
        with contextlib.ExitStack() as stack:
            if stderr is None:
                stderr = stack.enter_context(open(os.devnull, "w", encoding="utf-8"))
            client.execute(stderr=stderr, **({} if env is None else {"env": env}))
    except CellExecutionError as failure:
        return f"cell {current['cell']}: {str(failure).strip().splitlines()[-1]}"
    except CellTimeoutError:
        where = current["cell"]
        if deadline is not None and time.monotonic() >= deadline - 1:
            return f"cell {where} ran past the notebook's limit of {total_timeout:g} s"
        return f"cell {where} ran past the per-cell limit of {cell_timeout:g} s"
    except DeadKernelError:
        return _dead_kernel(current["cell"], died.get("status"))
    except Exception as err:  # a kernel that cannot start, a damaged cell: report it
        return f"could not run: {type(err).__name__}: {err}".splitlines()[0]
    return None


# The lines that replace a cell's output beyond its limits (the grader reports them).
OUTPUT_DROPPED = (
    "[labkit: this cell printed or displayed {total:,} characters; the first {limit:,} are kept]"
)
OUTPUT_TOO_LARGE = "[labkit: this cell sent an output over {limit:,} bytes, dropped unread]"


class _CappedClient(NotebookClient):
    """nbclient's client, keeping at most ``output_limit(cell index)`` characters of output per
    cell, cut as they arrive: a kernel that displays 300 MB cannot make the grader hold it."""

    def __init__(self, notebook, *, output_limit: Callable[[int], int] | None, **kwargs) -> None:
        super().__init__(notebook, **kwargs)
        self._output_limit, self._seen, self._notes = output_limit, {}, {}

    async def async_start_new_kernel_client(self):
        client = await super().async_start_new_kernel_client()
        # ZeroMQ drops a message over MESSAGE_BYTES by closing the connection (it reconnects):
        # a monitor of the IOPub socket sees it, so that the cell can say what was lost.
        self._monitor = client.iopub_channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self._dropped = zmq.Socket.shadow(self._monitor.underlying)
        return client

    async def async_execute(self, *args, **kwargs):
        try:
            return await super().async_execute(*args, **kwargs)
        finally:
            if getattr(self, "_monitor", None) is not None:
                self._monitor.close(linger=0)
                self._monitor = self._dropped = None

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        executed = await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        dropped = getattr(self, "_dropped", None)
        if dropped is not None and dropped.poll(0):
            while dropped.poll(0):
                dropped.recv_multipart()
            note = OUTPUT_TOO_LARGE.format(limit=MESSAGE_BYTES) + "\n"
            executed.outputs.append(nbformat.v4.new_output("stream", name="stderr", text=note))
        return executed

    def output(self, outs, msg, display_id, cell_index):
        if self._output_limit is None:
            return super().output(outs, msg, display_id, cell_index)
        content = msg.get("content", {})
        data = content.get("data") if isinstance(content.get("data"), dict) else {}
        text = content.get("text") if isinstance(content.get("text"), str) else ""
        size = len(text) + sum(len(str(value)) for value in data.values())
        limit, seen = self._output_limit(cell_index), self._seen.get(cell_index, 0)
        self._seen[cell_index] = seen + size
        if seen + size <= limit:
            return super().output(outs, msg, display_id, cell_index)
        if text and not data and seen < limit:  # printed text: keep its first part
            msg = {**msg, "content": {**content, "text": text[: limit - seen]}}
            super().output(outs, msg, display_id, cell_index)
        note = self._notes.get(cell_index)
        if note is None:
            note = self._notes[cell_index] = nbformat.v4.new_output("stream", name="stderr")
            outs.append(note)
        note.text = OUTPUT_DROPPED.format(total=seen + size, limit=limit) + "\n"
        return None


# Why a kernel ends by a signal, as far as can be guessed; others are named only. By name:
# Windows has no SIGKILL or SIGBUS.
SIGNAL_HINTS = {
    "SIGKILL": "out of memory?",
    "SIGABRT": "a library gave up: out of memory or threads?",
    "SIGSEGV": "a crash in compiled code?",
    "SIGBUS": "a crash in compiled code?",
}


def _exit_status(manager) -> int | None:
    """The exit status of the kernel's process, if it has ended and is still known."""
    process = getattr(getattr(manager, "provisioner", None), "process", None)
    return None if process is None else process.poll()


def _dead_kernel(cell: int, status: int | None) -> str:
    """Why the kernel died in ``cell``, from its exit status: one short line.

    Python reports a signal as a negative status; bubblewrap (the sandbox) as 128 + the signal.
    """
    if status is None:
        return f"the kernel died in cell {cell} (out of memory?)"
    number = -status if status < 0 else status - 128 if 128 < status < 128 + signal.NSIG else 0
    if number:
        name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
        hint = SIGNAL_HINTS.get(name)
        return f"the kernel was killed by {name} in cell {cell}" + (f" ({hint})" if hint else "")
    why = "exit() or quit() in a cell?" if status == 0 else "os._exit() or a library's exit()?"
    return f"the kernel exited with code {status} in cell {cell} ({why})"


def run_notebook(
    path: Path,
    output_path: Path,
    *,
    cell_timeout: float = CELL_TIMEOUT_SECONDS,
    mode: str | None = None,
    on_cell: CellProgress | None = None,
) -> NotebookRun:
    """Execute ``path`` top to bottom in a fresh kernel and save the executed copy.

    The kernel runs on this Python (:class:`CurrentPythonKernelManager`), starts in the notebook's
    folder and inherits this process's environment, so ``LABKIT_QUICK`` and ``LABKIT_DATA_DIR``
    reach it. The executed copy is written even when a cell fails, so the error can be read
    there. With ``mode``, a successful run records its seconds in the copy's metadata
    (:func:`expected_seconds` reads them back); ``on_cell`` is called as each code cell starts.
    """
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    output_path.parent.mkdir(parents=True, exist_ok=True)
    # The kernel's own stderr (start-up notices, crash reports) goes to a log beside the copy.
    with output_path.with_suffix(".kernel.log").open("w", encoding="utf-8") as log:
        error = execute_notebook(
            notebook, cwd=path.parent, cell_timeout=cell_timeout, on_cell=on_cell, stderr=log
        )
    seconds = time.perf_counter() - started
    if mode is not None and error is None:
        labkit_metadata = notebook.metadata.setdefault("labkit", {})
        labkit_metadata.setdefault("run_seconds", {})[mode] = round(seconds)
    nbformat.write(notebook, output_path)
    return NotebookRun(path.name, seconds, error, read_results(notebook))


class RunProgress:
    """What ``labkit run`` shows while it works: the notebook, the cell, and the time left.

    The time left comes from each notebook's last recorded run (:func:`expected_seconds`),
    scaled by how this run compares so far (a busier machine, another mode). On a terminal the
    line is redrawn in place; elsewhere (CI logs) a line is printed at most every
    ``interval`` seconds.
    """

    def __init__(
        self,
        expected: dict[str, float | None],
        *,
        stream: TextIO | None = None,
        interval: float = PROGRESS_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.expected = dict(expected)
        self.stream = stream if stream is not None else sys.stdout
        self.interval = interval
        self.clock = clock
        self.finished: dict[str, float] = {}
        self.current: str | None = None
        self._current_started = 0.0
        self._last_printed = -float("inf")
        self._in_place = bool(getattr(self.stream, "isatty", lambda: False)())

    def _scale(self) -> float:
        # How this run compares with the recorded ones, over the notebooks finished so far.
        known = [name for name in self.finished if self.expected.get(name)]
        if not known:
            return 1.0
        return sum(self.finished[name] for name in known) / sum(self.expected[n] for n in known)

    def seconds_left(self) -> float | None:
        """Estimated seconds until the last notebook ends; None when a notebook has no record."""
        waiting = [name for name in self.expected if name not in self.finished]
        if any(self.expected[name] is None for name in waiting):
            return None
        scale = self._scale()
        left = 0.0
        for name in waiting:
            expected = self.expected[name] * scale
            if name == self.current:
                expected = max(expected - (self.clock() - self._current_started), 0.0)
            left += expected
        return left

    def start_notebook(self, name: str) -> None:
        self.current, self._current_started = name, self.clock()

    def finish_notebook(self, name: str, seconds: float) -> None:
        self.finished[name] = seconds
        self.current = None
        if self._in_place:
            self.stream.write("\r\033[K")  # clear the progress line before the result line

    def cell(self, number: int, total: int, heading: str) -> None:
        now = self.clock()
        if not self._in_place and now - self._last_printed < self.interval:
            return
        self._last_printed = now
        left = self.seconds_left()
        estimate = "" if left is None else f", about {_duration(left)} left"
        short = heading if len(heading) <= HEADING_CHARACTERS else heading[: HEADING_CHARACTERS - 1]
        where = f" ({short.rstrip()}…)" if short != heading else f" ({heading})" if heading else ""
        line = f"  {self.current}: cell {number}/{total}{where}{estimate}"
        if self._in_place:
            self.stream.write(f"\r\033[K{line}")
        else:
            self.stream.write(f"{line}\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def summary_table(runs: list[NotebookRun]) -> str:
    """What ``labkit run`` prints at the end: status and time per notebook, then its results."""
    rows = [[run.name, "ok" if run.ok else "FAILED", f"{run.seconds:.0f}"] for run in runs]
    rows.append(["total", "", f"{sum(run.seconds for run in runs):.0f}"])
    lines = [text_table(["notebook", "status", "seconds"], rows)]
    width = max((len(name) for run in runs for name in run.results), default=0)
    for run in runs:
        lines.append(f"\n{run.name}: {run.error}" if not run.ok else f"\n{run.name}")
        lines.extend(f"  {name:<{width}}  {_short(value)}" for name, value in run.results.items())
    return "\n".join(lines)


def _short(value: float | int | str) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
