"""The lab's cells by id: their nbgrader metadata, and a student's notebook matched against them.

Every cell of an instructor notebook carries ``metadata.nbgrader`` (nbgrader's schema 3), written
by ``labkit tag-cells`` from the notebook and ``rubrics.json``, so that rubric and notebook
cannot drift:

* a code cell with ``### BEGIN SOLUTION`` is a **solution** cell: the student writes it; a
  Markdown cell with ``<!-- BEGIN SOLUTION -->`` is one too (for nbgrader a manually graded
  answer worth 0 points: the rubric's items score it in ``labkit grade``);
* the code cell that calls ``labkit.check_exercise("NAME", ...)`` (or
  ``labkit.reporting.report_check``) is the **grade** cell of the rubric item whose check is
  ``exercise_passed`` for ``NAME``: locked, worth that item's points;
* every other cell is **locked** (read-only), the ``labkit.report_results`` cell among them
  (``grade_id`` ``"results"``).

A grader finds a student's cells by ``grade_id`` (by cell id where a tool dropped the metadata),
which survive release, reordering and JupyterLab's copy and paste (a pasted copy keeps its
metadata). :func:`match` says which locked cells a student changed, deleted or duplicated;
:func:`restore` builds the notebook that ``labkit grade --execute`` runs: the instructor's
locked cells, hidden tests included, around the student's solution cells.
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from labkit_instructor.notebook_files import headings_before, multiline_text
from labkit_instructor.release import release_notebook
from labkit_instructor.rubrics import Rubric

__all__ = [
    "RESULTS_CELL",
    "LabCell",
    "LabTemplate",
    "Matching",
    "match",
    "restore",
    "tag_cells",
]

NBGRADER_SCHEMA_VERSION = 3
RESULTS_CELL = "results"
_REPORT_CHECK = re.compile(r"\b(?:report_check|check_exercise)\(\s*[\"']([^\"']+)[\"']")
_REPORT_RESULTS = re.compile(r"\breport_results\(")
_CODE_SOLUTION = re.compile(r"^\s*### BEGIN SOLUTION\b", re.MULTILINE)
_MARKDOWN_SOLUTION = re.compile(r"^\s*<!--\s*BEGIN SOLUTION\s*-->", re.MULTILINE)
_GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def _nbgrader(cell: dict) -> dict:
    metadata = cell.get("metadata")
    record = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return record if isinstance(record, dict) else {}


def grade_id_of(cell: object) -> str | None:
    """The cell's ``metadata.nbgrader.grade_id``, if it has a usable one."""
    grade_id = _nbgrader(cell).get("grade_id") if isinstance(cell, dict) else None
    return grade_id if isinstance(grade_id, str) and _GRADE_ID.match(grade_id) else None


def _exercise_points(rubric: Rubric) -> dict[str, tuple[str, float]]:
    return {
        str(item.options["exercise"]): (item.id, item.points)
        for item in rubric.items
        if item.check == "exercise_passed"
    }


def tag_cells(notebook: dict, rubric: Rubric, name: str = "notebook") -> int:
    """Write every cell's ``metadata.nbgrader`` from its content and ``rubric``, and the lab's
    name into the notebook's ``metadata.labkit.lab``.

    A cell keeps the ``grade_id`` it has (so that students' copies still match after the
    instructor edits the notebook), except the grade and results cells, whose ids come from the
    rubric. Returns how many cells (and notebook names) changed; running it twice changes nothing
    the second time.

    Raises:
        ValueError: A check cell names an exercise the rubric does not grade, the rubric grades
            an exercise no cell checks, or a cell has no id (save the notebook in JupyterLab 4).
    """
    exercises = _exercise_points(rubric)
    checked, changed, seen = set(), 0, set()
    for index, cell in enumerate(notebook["cells"], start=1):
        where = f"{name}, cell {index}"
        if not isinstance(cell.get("id"), str):
            raise ValueError(f"{where} has no cell id; open and save the notebook in JupyterLab 4.")
        source = multiline_text(cell.get("source"))
        kind = cell["cell_type"]
        exercise = _REPORT_CHECK.search(source) if kind == "code" else None
        reports = exercise or (kind == "code" and _REPORT_RESULTS.search(source))
        if reports and _CODE_SOLUTION.search(source):
            raise ValueError(
                f"{where} holds both a solution and a labkit.report_* call: a check or Result "
                "cell is locked, so grading would run the instructor's solution. Move the "
                "solution into a cell of its own."
            )
        record = {"grade": False, "locked": True, "solution": False, "task": False}
        grade_id = grade_id_of(cell) or f"cell-{cell['id']}"
        if exercise:
            if exercise[1] not in exercises:
                raise ValueError(
                    f"{where} checks exercise {exercise[1]!r}, which {rubric.lab}'s rubric does "
                    "not grade; add an exercise_passed item for it to rubrics.json."
                )
            grade_id, points = exercises[exercise[1]]
            record.update(grade=True, points=points)
            checked.add(exercise[1])
        elif kind == "code" and _REPORT_RESULTS.search(source):
            grade_id = RESULTS_CELL
        elif kind == "code" and _CODE_SOLUTION.search(source):
            record.update(locked=False, solution=True)
        elif kind == "markdown" and _MARKDOWN_SOLUTION.search(source):
            # nbgrader has no Markdown solution cell that is not also graded by hand: there the
            # answer is a "manually graded answer" worth 0; the rubric's items score it here.
            record.update(locked=False, solution=True, grade=True, points=0)
        if grade_id in seen:
            raise ValueError(f"{where}: a second cell with grade_id {grade_id!r}.")
        seen.add(grade_id)
        record = {"grade_id": grade_id, **record, "schema_version": NBGRADER_SCHEMA_VERSION}
        metadata = cell.setdefault("metadata", {})
        if metadata.get("nbgrader") != record:
            metadata["nbgrader"] = record
            changed += 1
    unchecked = sorted(set(exercises) - checked)
    if unchecked:
        raise ValueError(
            f"{name}: {rubric.lab}'s rubric grades exercise(s) {', '.join(unchecked)}, but no "
            "cell calls labkit.check_exercise (or labkit.reporting.report_check) with that name."
        )
    # The lab's name travels with the notebook, so that a renamed submission is still graded
    # against this rubric (labkit_instructor.grading reads it).
    kit_metadata = notebook.setdefault("metadata", {}).setdefault("labkit", {})
    if kit_metadata.get("lab") != rubric.lab:
        kit_metadata["lab"] = rubric.lab
        changed += 1
    return changed


@dataclass(frozen=True)
class LabCell:
    """One cell of the instructor's notebook, as the grader needs it."""

    grade_id: str
    cell_id: str | None
    cell_type: str
    locked: bool
    instructor_source: str  # hidden tests included: what grading runs
    released_source: str  # what students received
    label: str  # how feedback names it: "the check cell of exercise 'binarize'"


class LabTemplate:
    """The instructor's notebook of one lab, indexed by ``grade_id``.

    Raises:
        ValueError: The notebook has no nbgrader metadata (run ``labkit tag-cells``) or a
            solution marker is broken.
    """

    def __init__(self, notebook: dict, name: str) -> None:
        self.name = name
        self.notebook = notebook
        released, replaced = release_notebook(notebook, name)
        if replaced == 0:
            raise ValueError(
                f"{name} holds no solution ('### BEGIN SOLUTION'): it looks like a student "
                "version. Pass --source DIR with the instructor's notebooks."
            )
        self.cells: list[LabCell] = []
        self.check_cells: dict[str, str] = {}  # exercise name -> grade_id of its check cell
        headings = headings_before(notebook["cells"])
        for index, (cell, student, heading) in enumerate(
            zip(notebook["cells"], released["cells"], headings, strict=True), start=1
        ):
            grade_id, record = grade_id_of(cell), _nbgrader(cell)
            if grade_id is None:
                raise ValueError(
                    f"{name}, cell {index} has no nbgrader grade_id: write the cells' metadata "
                    f"first, with labkit tag-cells {Path(name).parent or '.'}"
                )
            source = multiline_text(cell.get("source"))
            exercise = _REPORT_CHECK.search(source) if cell["cell_type"] == "code" else None
            if exercise:
                label = f"the check cell of exercise '{exercise[1]}'"
                self.check_cells[exercise[1]] = grade_id
            elif grade_id == RESULTS_CELL:
                label = "the Result cell (labkit.report_results)"
            else:
                label = f"cell {index} (under '{heading}')" if heading else f"cell {index}"
            self.cells.append(
                LabCell(
                    grade_id,
                    cell.get("id") if isinstance(cell.get("id"), str) else None,
                    cell["cell_type"],
                    bool(record.get("locked")) and not record.get("solution"),
                    source,
                    multiline_text(student.get("source")),
                    label,
                )
            )
        self.by_id = {cell.grade_id: cell for cell in self.cells}
        self._by_cell_id = {cell.cell_id: cell.grade_id for cell in self.cells if cell.cell_id}
        self._released = {
            lab_cell.grade_id: cell
            for lab_cell, cell in zip(self.cells, released["cells"], strict=True)
        }

    def key_of(self, cell: dict) -> str | None:
        """The lab cell a student's cell stands for: by ``grade_id``, else by cell id."""
        grade_id = grade_id_of(cell)
        if grade_id in self.by_id:
            return grade_id
        cell_id = cell.get("id")
        return self._by_cell_id.get(cell_id) if isinstance(cell_id, str) else None

    def released_cell(self, grade_id: str) -> dict:
        """A copy of the cell as students received it."""
        return copy.deepcopy(self._released[grade_id])


def _same_text(a: str, b: str) -> bool:
    # Trailing spaces and newlines are noise of editors, not changes.
    return [line.rstrip() for line in a.rstrip().splitlines()] == [
        line.rstrip() for line in b.rstrip().splitlines()
    ]


@dataclass
class Matching:
    """A student's notebook seen cell by cell against the lab's.

    ``cells`` maps each lab cell found to the student's first cell standing for it; ``changed``
    maps the locked cells that are missing, retyped or edited to how ("deleted", ...);
    ``extra`` holds the student's cells that stand for no lab cell (added, or later copies);
    ``changes`` lists every change to a lab cell, locked or not, and ``copies`` how many times
    a lab cell appears beyond the first.
    """

    cells: dict[str, dict] = field(default_factory=dict)
    changed: dict[str, str] = field(default_factory=dict)
    extra: list[tuple[str | None, dict]] = field(default_factory=list)  # (lab cell before, cell)
    changes: list[tuple[LabCell, str]] = field(default_factory=list)
    copies: dict[LabCell, int] = field(default_factory=dict)
    reordered: bool = False

    def notes(self, restored: bool) -> list[str]:
        """What the student changed, in words; ``restored``: as ``restore`` put it right."""
        notes = []
        for lab_cell, how in self.changes:
            if restored and lab_cell.locked:
                how += " (the lab's version ran)"
            elif restored and how.startswith("turned"):
                how += f" (run as {lab_cell.cell_type})"
            notes.append(f"{lab_cell.label} was {how}")
        for lab_cell, count in self.copies.items():
            fate = "the copies were removed" if restored and lab_cell.locked else "the first counts"
            notes.append(f"{lab_cell.label} appears {count + 1} times; {fate}")
        if self.reordered:
            notes.append(
                "the lab's cells are in another order" + (" (run in the lab's order)" * restored)
            )
        return notes


def match(template: LabTemplate, notebook: dict) -> Matching:
    """Find each of the lab's cells in a student's notebook, and what the student changed."""
    found = Matching()
    order, anchor = [], None
    for cell in notebook["cells"]:
        key = template.key_of(cell)
        if key is None or key in found.cells:
            if key is not None:
                lab_cell = template.by_id[key]
                found.copies[lab_cell] = found.copies.get(lab_cell, 0) + 1
            found.extra.append((anchor, cell))
            continue
        found.cells[key] = cell
        order.append(key)
        anchor = key
    for lab_cell in template.cells:
        cell = found.cells.get(lab_cell.grade_id)
        if cell is None:
            how = "deleted"
        elif cell.get("cell_type") != lab_cell.cell_type:
            how = f"turned from {lab_cell.cell_type} into {cell.get('cell_type')}"
        elif lab_cell.locked and not any(
            _same_text(multiline_text(cell.get("source")), source)
            for source in (lab_cell.released_source, lab_cell.instructor_source)
        ):
            how = "edited"
        else:
            continue
        if lab_cell.locked:
            found.changed[lab_cell.grade_id] = how
        found.changes.append((lab_cell, how))
    found.reordered = order != [cell.grade_id for cell in template.cells if cell.grade_id in order]
    return found


def _runnable(cell: dict) -> dict:
    # A clean copy that nbclient can run whatever the file held: text source, metadata a dict,
    # and no output the student saved.
    kind = cell.get("cell_type") if cell.get("cell_type") in ("code", "markdown") else "raw"
    metadata = cell.get("metadata")
    clean = {
        "cell_type": kind,
        "metadata": copy.deepcopy(metadata) if isinstance(metadata, dict) else {},
        "source": multiline_text(cell.get("source")),
    }
    cell_id = cell.get("id")
    clean["id"] = cell_id if isinstance(cell_id, str) else f"added-{uuid.uuid4().hex[:8]}"
    if kind == "code":
        clean["outputs"], clean["execution_count"] = [], None
    return clean


def restore(template: LabTemplate, notebook: dict) -> tuple[dict, Matching]:
    """The notebook to execute: the lab's cells in the lab's order, the student's answers in it.

    Locked cells are the instructor's (hidden tests included), whatever the student did to
    them; solution cells are the student's, as the lab's cell type (a solution turned into
    Markdown runs as code again); cells the student added stay after the lab cell they followed
    (a solution the student deleted and wrote anew elsewhere still runs). Outputs are cleared;
    the notebook's metadata is the instructor's. The student's notebook is unchanged.
    """
    found = match(template, notebook)
    extra_after: dict[str | None, list[dict]] = {}
    for anchor, cell in found.extra:
        key = template.key_of(cell)
        if key is not None and template.by_id[key].locked:
            continue  # a copy of a locked cell: its twin runs once, from the instructor's source
        extra_after.setdefault(anchor, []).append(_runnable(cell))
    cells = list(extra_after.get(None, []))
    for lab_cell in template.cells:
        student = found.cells.get(lab_cell.grade_id)
        if lab_cell.locked:
            cell = _runnable(template.released_cell(lab_cell.grade_id))
            cell["source"] = lab_cell.instructor_source
            cells.append(cell)
        elif student is not None:
            cell = _runnable(student)
            if cell["cell_type"] != lab_cell.cell_type:
                cell = _runnable({**cell, "cell_type": lab_cell.cell_type})
            cells.append(cell)
        cells.extend(extra_after.get(lab_cell.grade_id, []))
    seen: set[str] = set()
    for cell in cells:  # a hand-edited file may repeat ids; nbformat refuses that
        if cell["id"] in seen:
            cell["id"] = f"added-{uuid.uuid4().hex[:8]}"
        seen.add(cell["id"])
    restored = {
        "nbformat": 4,
        "nbformat_minor": template.notebook.get("nbformat_minor", 5),
        "metadata": copy.deepcopy(template.notebook.get("metadata", {})),
        "cells": cells,
    }
    restored["metadata"].pop("widgets", None)
    return restored, found


def tag_notebooks(folder: Path, rubrics: dict[str, Rubric], *, write: bool = True) -> list:
    """:func:`tag_cells` for each notebook of ``folder`` that a rubric grades.

    Returns:
        ``[(notebook file name, cells changed)]``; with ``write=False`` nothing is written and
        the counts say what would change.

    Raises:
        FileNotFoundError: ``folder`` holds no notebook that a rubric grades.
        ValueError: As :func:`tag_cells`, naming the notebook.
    """
    import nbformat  # writes notebooks as JupyterLab does; only tag-cells needs it

    folder = Path(folder)
    paths = [folder / f"{lab}.ipynb" for lab in rubrics if (folder / f"{lab}.ipynb").is_file()]
    if not paths:
        raise FileNotFoundError(
            f"No notebook in {folder} is named after a rubric's lab ({', '.join(rubrics)})."
        )
    changes = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        changed = tag_cells(notebook, rubrics[path.stem], str(path))
        if changed and write:
            nbformat.write(notebook, path)
        changes.append((path.name, changed))
    return changes
