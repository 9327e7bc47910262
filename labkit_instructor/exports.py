"""Grades out of the kit: the CSV an instructor keeps, feedback files, and Gradescope's results.

* The CSV has one row per notebook: ``student_id``, the notebook, its lab and status, one column
  per rubric item, then ``total``, ``max``, ``percent`` and ``seconds``. :class:`GradesCsv`
  writes each row as soon as its notebook is graded, so an interrupted batch keeps what was done
  and ``--resume`` carries on from it.
* ``student_id`` comes from the submission's path: by default the notebook's folder when it lies
  in a folder below the one given (``labkit grade submissions/`` and
  ``submissions/alice/03_vae.ipynb`` -> ``alice``), else its file name without ``.ipynb``
  (``submissions/alice_03_vae.ipynb`` -> ``alice_03_vae``); ``--student-id REGEX`` takes the
  group ``id`` (or the first group) of a pattern searched in the path below the batch's common
  folder instead.
* :func:`gradescope_results` is the ``results.json`` of Gradescope's autograder: the score, and
  one test per rubric item with its score, maximum, feedback and visibility.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from labkit_instructor.grading import GradeReport, ItemResult
from labkit_instructor.notebook_files import printable

__all__ = [
    "CSV_COLUMNS_AFTER_ITEMS",
    "GradesCsv",
    "StudentIds",
    "feedback_names",
    "gradescope_results",
    "read_gradescope_reports",
    "write_gradescope",
]

CSV_COLUMNS_BEFORE_ITEMS = ["student_id", "notebook", "lab", "status"]
CSV_COLUMNS_AFTER_ITEMS = ["total", "max", "percent", "seconds", "notes"]


class StudentIds:
    """Names the student of each submission, from its path.

    Args:
        paths: Every notebook of the batch (their common folder is the root).
        pattern: A regular expression searched in the path below the root, written with ``/``;
            its group ``id``, else its first group, else the whole match is the id.
        folders: The folders the notebooks were found in (what the instructor named). Without
            ``pattern``, a notebook in a folder below one of them is named after its folder,
            any other after its file (default: the root is the one folder).

    Raises:
        ValueError: ``pattern`` is not a valid regular expression.
    """

    def __init__(
        self, paths: Sequence[Path], pattern: str | None = None, folders: Sequence[Path] = ()
    ) -> None:
        absolute = [_absolute(path) for path in paths]
        self.root = Path(os.path.commonpath([path.parent for path in absolute])) if paths else None
        given = [_absolute(f) for f in folders if Path(f).is_dir() and not Path(f).is_symlink()]
        self.folders = given or ([self.root] if self.root else [])
        try:
            self.pattern = re.compile(pattern) if pattern else None
        except re.error as err:
            raise ValueError(
                f"--student-id {pattern!r} is not a regular expression: {err}."
            ) from err

    def relative(self, path: Path) -> str:
        absolute = _absolute(path)
        return absolute.relative_to(self.root).as_posix() if self.root else absolute.name

    def in_a_folder(self, path: Path) -> bool:
        """Whether ``path`` lies in a folder below one of :attr:`folders` (named after it)."""
        absolute = _absolute(path)
        return any(absolute.parent != f and absolute.is_relative_to(f) for f in self.folders)

    def names_a_student(self, path: Path) -> bool:
        """Whether the id of ``path`` names a student (a pattern's or a folder's), not a file."""
        return bool(self(path)) and (self.pattern is not None or self.in_a_folder(path))

    def __call__(self, path: Path) -> str:
        if self.pattern is None:
            return _absolute(path).parent.name if self.in_a_folder(path) else Path(path).stem
        found = self.pattern.search(self.relative(path))
        if found is None:
            return ""
        if "id" in found.re.groupindex:
            return found["id"] or ""
        return (found[1] if found.re.groups else found[0]) or ""


def _absolute(path: Path) -> Path:
    # The submission's own path, made absolute without following links (never resolve()).
    return Path(os.path.abspath(path))


def _number(value: float) -> str:
    return f"{value:g}"


class GradesCsv:
    """The grades CSV, one row appended (and flushed) per graded notebook.

    Args:
        path: The CSV file.
        item_ids: The rubric items' ids, one column each, in order.
        resume: Keep the rows already in ``path`` (:attr:`done` lists their notebooks) and add to
            them; otherwise start a new file.

    Raises:
        ValueError: With ``resume``, the file's columns are not these (another rubric or kit
            version): write to a new file instead. Without it, the file exists: nothing already
            graded is overwritten.
    """

    def __init__(self, path: Path, item_ids: Sequence[str], *, resume: bool = False) -> None:
        self.path = Path(path)
        self.columns = [*CSV_COLUMNS_BEFORE_ITEMS, *item_ids, *CSV_COLUMNS_AFTER_ITEMS]
        self.item_ids = list(item_ids)
        self.done: set[str] = set()
        if resume and self.path.is_file() and self.path.stat().st_size:
            with self.path.open(newline="", encoding="utf-8") as file:
                reader = csv.reader(file)
                header = next(reader, [])
                if header != self.columns:
                    raise ValueError(
                        f"--resume: {self.path} has other columns than this batch "
                        f"({', '.join(header[:6])}, ...); it was written for another rubric. "
                        "Grade into a new CSV file."
                    )
                self.done = {row[1] for row in reader if len(row) > 1}
            return
        if self.path.exists() and not resume:
            raise ValueError(
                f"{self.path} exists: pass --resume to add the notebooks not yet in it, or "
                "name a new file (nothing already graded is overwritten)."
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerow(self.columns)

    def add(self, report: GradeReport, student_id: str, notebook: str) -> None:
        """Append the row of one graded notebook."""
        earned = {item.id: _number(item.points) for item in report.items}
        graded = report.error is None
        percent = 100 * report.points / report.max_points if graded and report.max_points else None
        row = [
            student_id,
            notebook,
            report.lab or "",
            report.status,
            *(earned.get(item_id, "") for item_id in self.item_ids),
            _number(report.points) if graded else "",
            _number(report.max_points) if report.max_points else "",
            "" if percent is None else f"{percent:.1f}",
            f"{report.seconds:.1f}",
            "; ".join(report.notes),
        ]
        with self.path.open("a", newline="", encoding="utf-8") as file:
            csv.writer(file).writerow([printable(str(value)) for value in row])
        self.done.add(notebook)


def feedback_names(student_ids: StudentIds, paths: Sequence[Path]) -> list[str]:
    """A feedback file name per notebook, from its path below the batch's folder.

    ``alice/03_vae.ipynb`` -> ``alice__03_vae.txt``, so that students' same-named files stay apart.
    """
    names = []
    for path in paths:
        parts = student_ids.relative(path).removesuffix(".ipynb").split("/")
        names.append("__".join(re.sub(r"[^A-Za-z0-9._-]+", "_", part) for part in parts) + ".txt")
    return names


def write_gradescope(path: Path, reports: Sequence[GradeReport], output: str = "") -> None:
    """Write :func:`gradescope_results` to ``path``, ``output`` first in its text.

    ``extra_data`` keeps the reports, so that ``--resume`` can add to them.
    """
    results = gradescope_results(reports)
    results["output"] = "\n".join(text for text in (output, results["output"]) if text)
    results["extra_data"] = {"labkit_reports": [dataclasses.asdict(r) for r in reports]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")


def read_gradescope_reports(path: Path) -> list[GradeReport]:
    """The reports :func:`write_gradescope` kept in ``path`` (none if it has none)."""
    try:
        results = json.loads(Path(path).read_text(encoding="utf-8"))
        records = results["extra_data"]["labkit_reports"]
        return [_report(record) for record in records]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _report(record: dict) -> GradeReport:
    items = [ItemResult(**item) for item in record.pop("items")]
    return GradeReport(**{**record, "path": Path(record["path"]), "items": items})


def gradescope_results(reports: Sequence[GradeReport]) -> dict:
    """Gradescope's ``results.json`` for one submission (one student's notebooks).

    One test per rubric item (``name``, ``score``, ``max_score``, ``output``, ``visibility``),
    prefixed by the lab when the submission holds several labs; a notebook that could not be
    graded is one test worth its lab's points, scored 0, whose output says why. Where a
    submission holds two notebooks of one lab (``03_vae-Copy1.ipynb``), only the better one
    counts, and the output says which.
    """
    best: dict[str, GradeReport] = {}
    output = []
    for report in reports:
        key = report.lab or str(report.path)
        kept = best.setdefault(key, report)
        if kept is not report:
            if report.points > kept.points:
                best[key], report, kept = report, kept, report
            output.append(f"{report.path.name} is a second notebook of {key}: not counted")
    tests = []
    several = len(best) > 1
    for report in best.values():
        prefix = f"{report.lab or report.path.name}: " if several else ""
        if report.error:
            tests.append(
                {
                    "name": f"{prefix}notebook {report.path.name}",
                    "score": 0.0,
                    "max_score": report.max_points,
                    "output": f"Not graded: {report.error}",
                    "visibility": "visible",
                }
            )
        for item in report.items:
            tests.append(
                {
                    "name": f"{prefix}{item.id}",
                    "score": item.points,
                    "max_score": item.max_points,
                    "output": item.feedback,
                    "visibility": "visible",
                }
            )
        if report.execution_note:
            output.append(f"{prefix}execution: {report.execution_note}")
        if report.notes:
            output.append(f"{prefix}the lab's cells: {'; '.join(report.notes)}")
    return {
        "score": sum(test["score"] for test in tests),
        "output": "\n".join(output),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
