"""Grading a class at once: ``--jobs N`` notebooks in parallel, a line as each one finishes.

Each notebook is graded on a worker thread; with ``--execute`` the work is in each notebook's
kernel (a process of its own), so threads are enough to keep N kernels busy. Reports come back
in the order notebooks finish, and the caller writes each one (CSV row, progress line) at once.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from labkit_instructor.exports import (
    GradesCsv,
    StudentIds,
    feedback_names,
    read_gradescope_reports,
    write_gradescope,
)
from labkit_instructor.grading import Grader, GradeReport
from labkit_instructor.notebook_files import (
    CHECK_MIME_TYPE,
    RESULTS_MIME_TYPE,
    NotGradable,
    multiline_text,
    printable,
    read_notebook_file,
)
from labkit_instructor.rubrics import LAB_FILE

__all__ = [
    "GraderError",
    "grade_batch",
    "grade_class",
    "identical_outputs",
    "notebook_name",
    "output_fingerprint",
    "progress_line",
]

_FIGURES = ("image/png", "image/jpeg", "image/svg+xml")
_WORTH_COPYING = (RESULTS_MIME_TYPE, CHECK_MIME_TYPE, *_FIGURES)


class GraderError(RuntimeError):
    """The grader itself failed (not a student's file): the batch stops."""


def notebook_name(path: Path) -> str:
    """How the CSV and the progress lines name a notebook: its path from the current folder
    when it lies below it (``submissions/alice/03_vae.ipynb``), else its absolute path.

    The submission's own path: links in it are never resolved."""
    absolute = Path(os.path.abspath(path))
    try:
        return printable(absolute.relative_to(Path.cwd()).as_posix())
    except ValueError:
        return printable(absolute.as_posix())


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


# --- Identical outputs ---


def _output_content(output: object) -> dict:
    # What a copy keeps of one output: its type, printed text, displayed data, error.
    if not isinstance(output, Mapping):
        return {}
    data = output.get("data")
    data = data if isinstance(data, Mapping) else {}
    return {
        "type": output.get("output_type"),
        "text": multiline_text(output.get("text")),
        "data": {key: multiline_text(v) if isinstance(v, list) else v for key, v in data.items()},
        "error": [output.get("ename"), output.get("evalue")],
    }


def output_fingerprint(path: Path, max_megabytes: float) -> str | None:
    """A hash of the code cells' outputs of the notebook as submitted, or None when they hold
    no figure and no results or check record (an unrun or unsolved notebook)."""
    try:
        notebook = read_notebook_file(path, max_megabytes)
    except NotGradable:
        return None
    cells = [cell.get("outputs") for cell in notebook["cells"] if cell["cell_type"] == "code"]
    outputs = [[_output_content(o) for o in cell] for cell in cells if isinstance(cell, list)]
    outputs = [cell for cell in outputs if cell]
    if not any(key in o["data"] for cell in outputs for o in cell for key in _WORTH_COPYING):
        return None
    text = json.dumps(outputs, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def identical_outputs(
    paths: Sequence[Path], student_ids: StudentIds, max_megabytes: float
) -> list[list[Path]]:
    """Groups of submissions, of two students or more, whose outputs are identical."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        fingerprint = output_fingerprint(path, max_megabytes)
        if fingerprint is not None:
            groups[fingerprint].append(path)
    return [
        group
        for group in groups.values()
        if len({student_ids(path) or notebook_name(path) for path in group}) > 1
    ]


def _copy_notes(groups: Iterable[list[Path]]) -> dict[Path, str]:
    # Notes reach the student's feedback: they never name the other student (the end of the
    # run lists the groups for the instructor).
    note = "its outputs are identical to another submission's in this batch (to be looked at)"
    return {path: note for group in groups for path in group}


# --- Gradescope: one student ---


def _refuse_several_students(paths: Sequence[Path], student_ids: StudentIds) -> None:
    """Raise ValueError when ``paths`` are the notebooks of more than one student."""
    students = sorted({student_ids(path) for path in paths if student_ids.names_a_student(path)})
    folders: dict[str, set[Path]] = defaultdict(set)
    for path in paths:
        lab = LAB_FILE.match(path.name)
        folders[lab[1] if lab else path.name].add(Path(os.path.abspath(path)).parent)
    shared = next((lab for lab, found in folders.items() if len(found) > 1), None)
    if len(students) < 2 and shared is None:
        return
    who = (
        f"notebooks of {len(students)} students ({', '.join(students[:5])}"
        f"{', ...' if len(students) > 5 else ''})"
        if len(students) > 1
        else f"notebooks of the same lab ({shared}) in different folders"
    )
    raise ValueError(
        f"--gradescope writes the results of one student's submission, but these are {who}. "
        "Gradescope grades one student's submission per run; to grade a class, use --csv FILE "
        "(and --feedback DIR) instead of --gradescope."
    )


# --- Grading ---


def _collect(futures, done, reports, on_report, tolerant: bool = False) -> None:
    # Each finished notebook's report, into ``reports`` and ``on_report``. An exception from
    # the grader stops the batch, unless ``tolerant`` (the batch is already stopping).
    for future in done:
        try:
            report = future.result()
        except KeyboardInterrupt:
            if tolerant:
                continue
            raise
        except Exception as err:
            if tolerant:
                continue
            raise GraderError(
                f"the grader failed on {notebook_name(futures[future])} "
                f"({type(err).__name__}: {err}); this is the grader's fault, not the student's."
            ) from err
        reports[futures[future]] = report
        if on_report is not None:
            on_report(report)


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
        KeyboardInterrupt, GraderError: Passed on (Ctrl-C, or the grader raised), like any
            error of ``on_report``, once the notebooks not yet started are cancelled and those
            running have finished (``on_report`` sees them; a second Ctrl-C abandons them).
    """
    if jobs < 1:
        raise ValueError(f"--jobs must be 1 or more. Received: {jobs}.")
    reports: dict[Path, GradeReport] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grader.grade, path): path for path in paths}
        try:
            _collect(futures, concurrent.futures.as_completed(futures), reports, on_report)
        except BaseException as stop:  # Ctrl-C, the grader, or writing a report failed
            pending = [future for future in futures if not future.done()]
            cancelled = sum(future.cancel() for future in pending)
            running = [future for future in pending if not future.cancelled()]
            why = "Interrupted" if isinstance(stop, KeyboardInterrupt) else "Stopped"
            print(
                f"\n{why}: {cancelled} notebook(s) not started; finishing the "
                f"{len(running)} running (Ctrl-C again to abandon them).",
                file=sys.stderr,
                flush=True,
            )
            done = concurrent.futures.as_completed(running)
            _collect(futures, done, reports, on_report, tolerant=True)
            raise
    return [reports[path] for path in paths]


class _Exports:
    """Where each notebook's grade goes as soon as it is graded: CSV row, feedback file and
    Gradescope's results, so that an interrupted batch keeps everything it graded."""

    def __init__(
        self,
        student_ids: StudentIds,
        grades: GradesCsv | None,
        feedback_dir: Path | None,
        gradescope_path: Path | None,
        copies: Mapping[Path, str],
    ) -> None:
        self.student_ids, self.grades, self.copies = student_ids, grades, copies
        self.feedback_dir, self.gradescope_path = feedback_dir, gradescope_path
        self.reports: list[GradeReport] = []  # for Gradescope: the earlier run's too
        if gradescope_path and grades:  # --resume: keep the reports already written
            earlier = read_gradescope_reports(gradescope_path)
            self.reports = [r for r in earlier if notebook_name(r.path) in grades.done]
        if feedback_dir:
            feedback_dir.mkdir(parents=True, exist_ok=True)

    def add(self, report: GradeReport) -> None:
        if report.path in self.copies:
            report.notes.append(self.copies[report.path])
        self.reports.append(report)
        if self.grades:
            self.grades.add(report, self.student_ids(report.path), notebook_name(report.path))
        if self.feedback_dir:
            name = feedback_names(self.student_ids, [report.path])[0]
            (self.feedback_dir / name).write_text(report.feedback() + "\n", encoding="utf-8")
        self.write_gradescope()

    def write_gradescope(self) -> None:
        if self.gradescope_path:
            write_gradescope(self.gradescope_path, self.reports)

    def kept(self) -> str:
        """Where the graded notebooks' grades are, for the message of an interrupted batch."""
        places = [
            f"rows in {self.grades.path}" if self.grades else "",
            f"feedback in {self.feedback_dir}/" if self.feedback_dir else "",
            f"Gradescope results in {self.gradescope_path}" if self.gradescope_path else "",
        ]
        return ", ".join(place for place in places if place)


def _stopped(exports: _Exports, graded: int, todo: int) -> str:
    kept = exports.kept()
    where = f"; what was graded is kept ({kept})" if kept else ""
    how = (
        " Run the same command with --resume to grade the rest."
        if exports.grades
        else " Pass --csv FILE to keep grades across runs (then --resume)."
    )
    return f"labkit grade: stopped after {graded} of {todo} notebook(s){where}.{how}"


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
        feedback_dir: One feedback text file per notebook, written as each finishes.
        gradescope_path: Gradescope's ``results.json``, for one student's notebooks.
        student_id_pattern: How ``student_id`` is read from a path (see :class:`StudentIds`).
        folders: The folders the notebooks were found in (``student_id`` comes from the
            folders below them).
        stream: Where the lines go (default: standard output).

    Returns:
        The reports of the notebooks graded now, in the order of ``paths``.

    Raises:
        ValueError: A wrong option, or ``gradescope_path`` with several students' notebooks.
        KeyboardInterrupt, GraderError: The batch stopped; what was graded is written.
    """
    stream = stream if stream is not None else sys.stdout
    if resume and csv_path is None:
        raise ValueError("--resume adds to a CSV file: pass --csv FILE too.")
    if jobs < 1:  # before the CSV is written
        raise ValueError(f"--jobs must be 1 or more. Received: {jobs}.")
    student_ids = StudentIds(paths, student_id_pattern, folders)
    if gradescope_path:
        _refuse_several_students(paths, student_ids)
    item_ids = list(
        dict.fromkeys(item.id for lab in grader.templates for item in grader.rubrics[lab].items)
    )
    grades = GradesCsv(csv_path, item_ids, resume=resume) if csv_path else None
    todo = [path for path in paths if not grades or notebook_name(path) not in grades.done]
    if grades and len(todo) < len(paths):
        print(f"--resume: {len(paths) - len(todo)} notebook(s) already in {csv_path}", file=stream)
    copies = [] if gradescope_path else identical_outputs(paths, student_ids, grader.max_megabytes)
    exports = _Exports(student_ids, grades, feedback_dir, gradescope_path, _copy_notes(copies))
    verb = "Executing and grading" if grader.execute else "Grading"
    print(f"{verb} {len(todo)} notebook(s), {jobs} at a time", file=stream, flush=True)
    finished: list[GradeReport] = []

    def write(report: GradeReport) -> None:
        finished.append(report)
        exports.add(report)
        line = progress_line(len(finished), len(todo), notebook_name(report.path), report)
        print(line, file=stream, flush=True)

    try:
        reports = grade_batch(grader, todo, jobs=jobs, on_report=write)
    except (KeyboardInterrupt, GraderError):
        print(_stopped(exports, len(finished), len(todo)), file=sys.stderr, flush=True)
        raise
    _summary(reports, exports, copies, stream)
    return reports


def _summary(
    reports: Sequence[GradeReport], exports: _Exports, copies: list[list[Path]], stream: TextIO
) -> None:
    """Each report's feedback, what was written, and the submissions with identical outputs."""
    for report in reports:
        print("\n" + report.feedback(), file=stream)
    if exports.grades:
        print(f"\nWrote {exports.grades.path}", file=stream)
    if exports.feedback_dir:
        print(f"Wrote {len(reports)} feedback file(s) into {exports.feedback_dir}/", file=stream)
    if exports.gradescope_path:
        exports.write_gradescope()
        print(f"Wrote Gradescope's results to {exports.gradescope_path}", file=stream)
    for group in copies:
        names = ", ".join(notebook_name(path) for path in group)
        print(f"Identical outputs (look at these by hand): {names}", file=stream)
