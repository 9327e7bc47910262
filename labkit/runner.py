"""Executing the lab notebooks headless, in order: the engine of ``labkit run``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from traitlets import default

from labkit.reporting import format_table, read_results

__all__ = [
    "CELL_TIMEOUT_SECONDS",
    "CurrentPythonKernelManager",
    "NotebookRun",
    "find_notebooks",
    "run_notebook",
]

CELL_TIMEOUT_SECONDS = 1_200  # a full-mode training cell takes a few minutes on 2 cores
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"


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

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return _CurrentPythonKernelSpecs(data_dir=self.data_dir)


def run_notebook(
    path: Path, output_path: Path, *, cell_timeout: int = CELL_TIMEOUT_SECONDS
) -> NotebookRun:
    """Execute ``path`` top to bottom in a fresh kernel and save the executed copy.

    The kernel runs on this Python (:class:`CurrentPythonKernelManager`), starts in the notebook's
    folder and inherits this process's environment, so ``LABKIT_QUICK`` and ``LABKIT_DATA_DIR``
    reach it. The executed copy is written even when a cell fails, so the error can be read
    there.
    """
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_manager_class=CurrentPythonKernelManager,
        kernel_name="python3",
        timeout=cell_timeout,
        resources={"metadata": {"path": str(path.parent.resolve())}},
        record_timing=False,
    )
    started = time.perf_counter()
    error = None
    output_path.parent.mkdir(parents=True, exist_ok=True)
    # The kernel's own stderr (start-up notices, crash reports) goes to a log beside the copy.
    kernel_log = output_path.with_suffix(".kernel.log")
    try:
        with kernel_log.open("w", encoding="utf-8") as log:
            client.execute(stderr=log)
    except CellExecutionError as failure:
        error = str(failure).strip().splitlines()[-1]
    except (CellTimeoutError, DeadKernelError) as failure:
        error = f"{type(failure).__name__}: {failure}".splitlines()[0]
    seconds = time.perf_counter() - started
    nbformat.write(notebook, output_path)
    return NotebookRun(path.name, seconds, error, read_results(notebook))


def summary_table(runs: list[NotebookRun]) -> str:
    """What ``labkit run`` prints at the end: status and time per notebook, then its results."""
    rows = [[run.name, "ok" if run.ok else "FAILED", f"{run.seconds:.0f}"] for run in runs]
    rows.append(["total", "", f"{sum(run.seconds for run in runs):.0f}"])
    lines = [format_table(["notebook", "status", "seconds"], rows)]
    for run in runs:
        lines.append(f"\n{run.name}: {run.error}" if not run.ok else f"\n{run.name}")
        lines.extend(f"  {name:<36} {_short(value)}" for name, value in run.results.items())
    return "\n".join(lines)


def _short(value: float | int | str) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
