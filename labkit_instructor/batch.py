"""Grading a class at once: ``--jobs N`` notebooks in parallel, a line as each one finishes.

Each notebook is graded on a worker thread; with ``--execute`` the work is in each notebook's
kernel (a process of its own), so threads are enough to keep N kernels busy. Reports come back
in the order notebooks finish, and the caller writes each one (CSV row, progress line) at once.
"""

from __future__ import annotations

import concurrent.futures
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from labkit_instructor.exports import GradesCsv, StudentIds, feedback_names, write_gradescope
from labkit_instructor.grading import Grader, GradeReport

__all__ = ["grade_batch", "grade_class", "notebook_name", "progress_line"]


def notebook_name(path: Path) -> str:
    """How the CSV and the progress lines name a notebook: its path from the current folder
    when it lies below it (``submissions/alice/03_vae.ipynb``), else its absolute path."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def progress_line(done: int, total: int, name: str, report: GradeReport) -> str:
    """``[3/20] alice/03_vae.ipynb  12/15 points  41 s`` (or why it was not graded)."""
    if report.error:
        score = "not graded"
    else:
        score = f"{report.points:g}/{report.max_points:g} points"
        if report.execution_note:
            score += f" ({report.execution_note})"
    width = len(str(total))
    return f"[{done:>{width}}/{total}] {name}  {score}  {report.seconds:.0f} s"


def grade_batch(
    grader: Grader,
    paths: Sequence[Path],
    *,
    jobs: int = 1,
    on_report: Callable[[GradeReport], None] | None = None,
) -> list[GradeReport]:
    """Grade ``paths`` with ``jobs`` at a time; ``on_report`` sees each report as it finishes.

    Returns:
        The reports in the order of ``paths``.

    Raises:
        ValueError: ``jobs`` is below 1.
        KeyboardInterrupt: Passed on once the notebooks not yet started are cancelled and those
            running have finished (``on_report`` sees them; a second Ctrl-C abandons them).
    """
    if jobs < 1:
        raise ValueError(f"--jobs must be 1 or more. Received: {jobs}.")
    reports: dict[Path, GradeReport] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grader.grade, path): path for path in paths}
        pending = set(futures)

        def collect(done) -> None:
            for future in done:
                pending.discard(future)
                reports[futures[future]] = future.result()
                if on_report is not None:
                    on_report(reports[futures[future]])

        try:
            collect(concurrent.futures.as_completed(futures))
        except KeyboardInterrupt:
            cancelled = sum(future.cancel() for future in pending)
            running = [future for future in pending if not future.cancelled()]
            print(
                f"\nInterrupted: {cancelled} notebook(s) not started; finishing the "
                f"{len(running)} running (Ctrl-C again to abandon them).",
                file=sys.stderr,
                flush=True,
            )
            collect(concurrent.futures.as_completed(running))
            raise
    return [reports[path] for path in paths]


def grade_class(
    grader: Grader,
    paths: Sequence[Path],
    *,
    jobs: int = 1,
    csv_path: Path | None = None,
    resume: bool = False,
    feedback_dir: Path | None = None,
    gradescope_path: Path | None = None,
    student_id_pattern: str | None = None,
    folders: Sequence[Path] = (),
    stream: TextIO | None = None,
) -> list[GradeReport]:
    """What ``labkit grade`` does: grade, print a line per notebook, write CSV and feedback.

    Args:
        grader: Holds the rubrics, the instructor's notebooks and the execution settings.
        paths: The notebooks (``find_submissions``).
        jobs: Notebooks graded at once.
        csv_path: The grades CSV, a row written as each notebook finishes.
        resume: Skip the notebooks already in ``csv_path`` and add to it.
        feedback_dir: One feedback text file per notebook.
        gradescope_path: Gradescope's ``results.json``, for all these notebooks together.
        student_id_pattern: How ``student_id`` is read from a path (see :class:`StudentIds`).
        folders: The folders the notebooks were found in (``student_id`` comes from the
            folders below them).
        stream: Where the lines go (default: standard output).

    Returns:
        The reports of the notebooks graded now, in the order of ``paths``.
    """
    stream = stream if stream is not None else sys.stdout
    if resume and csv_path is None:
        raise ValueError("--resume adds to a CSV file: pass --csv FILE too.")
    if jobs < 1:  # before the CSV is written
        raise ValueError(f"--jobs must be 1 or more. Received: {jobs}.")
    student_ids = StudentIds(paths, student_id_pattern, folders)
    item_ids = list(
        dict.fromkeys(item.id for lab in grader.templates for item in grader.rubrics[lab].items)
    )
    grades = GradesCsv(csv_path, item_ids, resume=resume) if csv_path else None
    todo = [path for path in paths if not grades or notebook_name(path) not in grades.done]
    if grades and len(todo) < len(paths):
        print(f"--resume: {len(paths) - len(todo)} notebook(s) already in {csv_path}", file=stream)
    verb = "Executing and grading" if grader.execute else "Grading"
    print(f"{verb} {len(todo)} notebook(s), {jobs} at a time", file=stream, flush=True)
    finished = []

    def write(report: GradeReport) -> None:
        name = notebook_name(report.path)
        finished.append(report)
        if grades:
            grades.add(report, student_ids(report.path), name)
        print(progress_line(len(finished), len(todo), name, report), file=stream, flush=True)

    reports = grade_batch(grader, todo, jobs=jobs, on_report=write)
    for report in reports:
        print("\n" + report.feedback(), file=stream)
    if csv_path:
        print(f"\nWrote {csv_path}", file=stream)
    if feedback_dir:
        feedback_dir.mkdir(parents=True, exist_ok=True)
        for report, name in zip(reports, feedback_names(student_ids, todo), strict=True):
            (feedback_dir / name).write_text(report.feedback() + "\n", encoding="utf-8")
        print(f"Wrote {len(reports)} feedback file(s) into {feedback_dir}/", file=stream)
    if gradescope_path:
        write_gradescope(gradescope_path, reports)
        print(f"Wrote Gradescope's results to {gradescope_path}", file=stream)
    return reports
