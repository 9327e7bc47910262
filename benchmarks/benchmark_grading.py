"""Seconds per notebook of ``labkit grade --execute`` with one job and with more, side by side.

Makes ``--copies`` copies of the instructor's notebook 03 (one folder per pretend student), then
grades them all in quick mode, in the sandbox, once per ``--jobs`` value, in the order given, and
repeats that ``--rounds`` times (alternating, so that a stall of this shared machine does not
fall on one setting only). Prints wall seconds and CPU seconds (the whole machine's busy time,
Linux only: keep it otherwise idle) per notebook, each round and their medians, and the
speed-up against the first ``--jobs`` value:

    python benchmarks/benchmark_grading.py                  # 20 copies, --jobs 1 and 2
    python benchmarks/benchmark_grading.py --copies 4 --jobs 1 2 4 --rounds 1

Needs MNIST (``LABKIT_DATA_DIR``, or Keras's cache) and bubblewrap (``--no-sandbox`` runs the
kernels without it).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from labkit_instructor.batch import grade_class
from labkit_instructor.grading import Grader
from labkit_instructor.notebook_files import text_table
from labkit_instructor.sandbox import check_sandbox

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "03_vae.ipynb"


def _cpu_seconds() -> float:
    # The machine's busy CPU time: the kernels run in PID namespaces of their own, killed at the
    # end, so no rusage of this process counts them. Keep the machine otherwise idle.
    user, nice, system, _idle, _iowait, irq, softirq = map(
        int, Path("/proc/stat").read_text(encoding="utf-8").split()[1:8]
    )
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def grade_copies(folder: Path, grader: Grader, jobs: int) -> dict:
    """Grade every copy in ``folder`` with ``jobs`` at a time; seconds per notebook."""
    paths = sorted(folder.rglob("*.ipynb"))
    wall, cpu = time.perf_counter(), _cpu_seconds()
    reports = grade_class(grader, paths, jobs=jobs, stream=io.StringIO())
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    scores = {report.points for report in reports}
    failed = [report.path for report in reports if report.error or report.execution_note]
    if failed:
        raise RuntimeError(f"{len(failed)} copies did not run through, the first {failed[0]}")
    return {"jobs": jobs, "wall": wall / len(paths), "cpu": cpu / len(paths), "scores": scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-sandbox", action="store_true")
    arguments = parser.parse_args()
    os.environ["LABKIT_QUICK"] = "1"
    grader = Grader(execute=True, sandbox=None if arguments.no_sandbox else check_sandbox())
    print(f"{arguments.copies} copies of {NOTEBOOK.name}, quick mode, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="labkit-grading-benchmark-") as scratch:
        folder = Path(scratch)
        for number in range(1, arguments.copies + 1):
            (folder / f"student{number:02d}").mkdir()
            shutil.copyfile(NOTEBOOK, folder / f"student{number:02d}" / NOTEBOOK.name)
        runs = []
        for round_number in range(1, arguments.rounds + 1):
            for jobs in arguments.jobs:
                run = grade_copies(folder, grader, jobs)
                runs.append(run)
                print(
                    f"round {round_number}, --jobs {jobs}: {run['wall']:.1f} s wall, "
                    f"{run['cpu']:.1f} CPU-s per notebook (scores {sorted(run['scores'])})",
                    flush=True,
                )
    medians = {
        jobs: {
            key: statistics.median(run[key] for run in runs if run["jobs"] == jobs)
            for key in ("wall", "cpu")
        }
        for jobs in arguments.jobs
    }
    baseline = medians[arguments.jobs[0]]["wall"]
    rows = [
        [f"--jobs {jobs}", f"{m['wall']:.1f}", f"{m['cpu']:.1f}", f"{baseline / m['wall']:.2f}x"]
        for jobs, m in medians.items()
    ]
    print(text_table(["", "wall s/notebook", "CPU s/notebook", "speed-up"], rows))


if __name__ == "__main__":
    main()
