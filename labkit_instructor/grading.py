"""Grading students' lab notebooks: the engine of ``labkit grade``.

Each lab has a rubric (``rubrics.json``): items worth points, each checked against what the
student's notebook stores (outputs, figures, the numbers of ``labkit.report_results``, the
exercise outcomes of ``labkit.reporting.report_check``, the text of the Observations and
Result sections).
An item earns all its points or none, with a line of feedback that says why.

The grader trusts only the lab's own cells. It matches the student's notebook against the
instructor's, cell by cell (``labkit_instructor.cells``): results and exercise outcomes are read
from the lab's Result and check cells alone, and

* without ``execute``, an item that reads a locked cell the student changed, deleted or retyped
  earns no points, and the feedback says which cell;
* with ``execute``, the notebook that runs is rebuilt from the instructor's locked cells (hidden
  tests included) around the student's solution cells, in a fresh kernel, in a sandbox
  (``labkit_instructor.sandbox``), with a per-cell and a per-notebook time limit; then the
  exercises are judged and the thresholded results measured again in the grader's own process
  (``labkit_instructor.verdicts``), not read from what the kernel printed.

Either way, the student's own cells are read for code that reaches into the grading
(``labkit_instructor.tamper``): each finding is noted, and tampering costs the result and
exercise items.

Students' files are read, never written. A file that cannot be graded (not JSON, the wrong
notebook format, too large, the wrong lab) becomes a report with an ``error`` instead of
stopping the batch.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labkit_instructor.cells import RESULTS_CELL, LabCell, LabTemplate, match, restore
from labkit_instructor.checks import CHECKS, Submission, clip
from labkit_instructor.limits import (
    ANSWER_CHARACTERS,
    CELL_TIMEOUT_SECONDS,
    DEFAULT_MEMORY_MEGABYTES,
    MAX_NOTEBOOK_MEGABYTES,
    OUTPUT_CHARACTERS,
    TOTAL_TIMEOUT_SECONDS,
)
from labkit_instructor.notebook_files import (
    NotGradable,
    multiline_text,
    printable,
    read_checks,
    read_notebook_file,
    read_results,
)
from labkit_instructor.rubrics import LAB_FILE, Rubric, RubricItem, load_rubrics

__all__ = [
    "GradeReport",
    "Grader",
    "ItemResult",
    "find_submissions",
    "grade_notebook",
    "kit_notebooks",
]

_LAB_TITLE = re.compile(r"^#\s+Lab\s+(\d+)\b")
# The lines the runner leaves where it cut a cell's output (runner.OUTPUT_DROPPED and
# OUTPUT_TOO_LARGE).
_DROPPED = re.compile(r"\[labkit: this cell sent an output over ([\d,]+) bytes")
_CUT = re.compile(
    r"\[labkit: this cell printed or displayed ([\d,]+) characters; the first ([\d,]+)"
)


@dataclass(frozen=True)
class ItemResult:
    """How one rubric item went for one notebook."""

    id: str
    points: float
    max_points: float
    feedback: str


@dataclass
class GradeReport:
    """The grade of one notebook, or the reason it could not be graded (``error``)."""

    path: Path
    lab: str | None = None
    items: list[ItemResult] = field(default_factory=list)
    error: str | None = None
    execution_note: str | None = None
    notes: list[str] = field(default_factory=list)  # what the student changed in the lab's cells
    max_points: float = 0.0
    seconds: float = 0.0

    @property
    def points(self) -> float:
        return sum(item.points for item in self.items)

    @property
    def status(self) -> str:
        if self.error:
            return f"not graded: {self.error}"
        return f"graded; {self.execution_note}" if self.execution_note else "graded"

    def feedback(self) -> str:
        """Feedback for the student: the score, then one line per rubric item."""
        if self.error:
            return f"{printable(str(self.path))}: not graded.\n{self.error}"
        path = printable(str(self.path))
        lines = [f"{path}: {_points(self.points)} of {_points(self.max_points)} points"]
        if self.execution_note:
            lines.append(f"Execution: {self.execution_note}")
        if self.notes:
            lines.append(f"The lab's cells: {'; '.join(self.notes)}.")
        for item in self.items:
            mark = "ok  " if item.points == item.max_points else "lost"
            lines.append(
                f"  [{mark}] {item.id} ({_points(item.points)}/{_points(item.max_points)}): "
                f"{item.feedback}"
            )
        return "\n".join(lines)


def _points(value: float) -> str:
    return f"{value:g}"


def _lab_of(notebook: dict) -> str | None:
    # The notebook's own record first, then the number in its title ("# Lab 03 · ...").
    metadata = notebook.get("metadata")
    record = metadata.get("labkit") if isinstance(metadata, dict) else None
    if isinstance(record, dict) and isinstance(record.get("lab"), str):
        return record["lab"]
    for cell in notebook["cells"][:1]:
        title = _LAB_TITLE.match(multiline_text(cell.get("source")).lstrip())
        if cell["cell_type"] == "markdown" and title:
            return f"{int(title[1]):02d}"
    return None


def _choose_rubric(
    path: Path, notebook: dict, rubrics: Mapping[str, Rubric], expected_lab: str | None
) -> Rubric:
    found = _lab_of(notebook)
    by_number = {rubric.number: rubric for rubric in rubrics.values()}
    detected = rubrics.get(found) or by_number.get((found or "")[:2]) if found else None
    if expected_lab is not None:
        expected = rubrics[expected_lab]
        if detected is not None and detected is not expected:
            raise NotGradable(
                f"this is the notebook of {detected.lab}, not {expected.lab}: was the wrong "
                "notebook submitted?"
            )
        return expected
    if detected is None:
        raise NotGradable(
            "cannot tell which lab this notebook is for: it has no labkit lab record in its "
            "metadata and its first cell is not titled '# Lab NN · ...'. Grade it with --lab "
            f"NAME (one of: {', '.join(rubrics)})."
        )
    named = LAB_FILE.match(path.name)
    if named and named[1] in by_number and named[1] != detected.number:
        raise NotGradable(
            f"the file is named for {by_number[named[1]].lab} but holds the notebook of "
            f"{detected.lab}: was the wrong notebook submitted?"
        )
    return detected


# --- Grading ---


def find_submissions(paths: Sequence[Path]) -> list[Path]:
    """The notebooks to grade: files as given, and every ``*.ipynb`` under each folder.

    Links, given or met in a folder, are listed but never followed: grading refuses them.

    Raises:
        FileNotFoundError: A path does not exist, or the paths hold no notebook.
    """
    from labkit_instructor.notebook_files import list_notebooks

    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_symlink():
            found.append(path)
        elif path.is_dir():
            found += list_notebooks(path)
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"No file or folder {path}.")
    if not found:
        raise FileNotFoundError(
            f"No notebooks (*.ipynb) in {', '.join(map(str, paths))}. Pass students' notebooks "
            "or the folders that hold them."
        )
    return list(dict.fromkeys(found))


def kit_notebooks() -> Path | None:
    """The kit's instructor notebooks: ``./notebooks``, else those beside an editable install."""
    for folder in (Path("notebooks"), Path(__file__).resolve().parents[1] / "notebooks"):
        if any(folder.glob("[0-9][0-9]_*.ipynb")):
            return folder
    return None


def _output_notes(notebook: dict) -> list[str]:
    """Which cells printed or displayed more than their limit (the runner cut them)."""
    notes = []
    for index, cell in enumerate(notebook["cells"], start=1):
        for output in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            text = multiline_text(output.get("text"))
            cut, dropped = _CUT.match(text), _DROPPED.match(text)
            if output.get("output_type") == "stream" and cut:
                notes.append(
                    f"cell {index} printed or displayed {cut[1]} characters; the grader kept the "
                    f"first {cut[2]}"
                )
            elif output.get("output_type") == "stream" and dropped:
                notes.append(f"cell {index} sent an output over {dropped[1]} bytes: dropped unread")
    return notes


class Grader:
    """Grades notebooks against the rubrics and the instructor's notebooks (``source``).

    Args:
        rubrics: ``{lab: Rubric}``; default: the kit's rubrics.
        source: The folder of the instructor's notebooks, one ``<lab>.ipynb`` per rubric lab,
            with their cells' metadata (``labkit tag-cells``); default :func:`kit_notebooks`.
        lab: Grade every notebook as this lab; default: the lab each notebook names.
        execute: Run each notebook (rebuilt from the lab's cells) before grading it.
        sandbox: With ``execute``: the ``bwrap`` program to run each kernel under
            (``labkit_instructor.sandbox.check_sandbox``), or None to run it unconfined.
        memory_megabytes: With a sandbox: the cap on each kernel's memory.
        cell_timeout, total_timeout: With ``execute``: seconds per cell, and per notebook.
        max_megabytes: Larger files are reported, not read.

    Raises:
        ValueError: ``lab`` has no rubric, or ``source`` lacks a lab's notebook or its metadata.
    """

    def __init__(
        self,
        rubrics: Mapping[str, Rubric] | None = None,
        source: Path | None = None,
        *,
        lab: str | None = None,
        execute: bool = False,
        sandbox: str | None = None,
        memory_megabytes: int | None = None,
        cell_timeout: float = CELL_TIMEOUT_SECONDS,
        total_timeout: float = TOTAL_TIMEOUT_SECONDS,
        max_megabytes: float = MAX_NOTEBOOK_MEGABYTES,
    ) -> None:
        self.rubrics = load_rubrics() if rubrics is None else dict(rubrics)
        if lab is not None and lab not in self.rubrics:
            raise ValueError(f"no rubric for lab {lab!r}; use one of {', '.join(self.rubrics)}.")
        source = kit_notebooks() if source is None else Path(source)
        if source is None or not source.is_dir():
            raise ValueError(
                "the grader compares each notebook with the instructor's: pass --source DIR, "
                f"the folder of the instructor notebooks (no folder {source or 'notebooks'})."
            )
        self.templates: dict[str, LabTemplate] = {}
        for name in self.rubrics if lab is None else [lab]:
            path = source / f"{name}.ipynb"
            try:
                notebook = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as err:
                raise ValueError(
                    f"the rubric grades lab {name}, but {path} cannot be read ({err}); pass "
                    "--source DIR with the instructor notebooks, or a rubric of your labs only."
                ) from err
            self.templates[name] = LabTemplate(notebook, str(path))
        # Which of the lab's locked cells each rubric item reads: the same for every notebook.
        self.reads = {
            lab: {
                item.id: _cells_read(template, item, CHECKS[item.check].reads)
                for item in self.rubrics[lab].items
            }
            for lab, template in self.templates.items()
        }
        self.lab = lab
        self.execute = execute
        self.sandbox = sandbox
        self.memory_megabytes = memory_megabytes
        self.cell_timeout = cell_timeout
        self.total_timeout = total_timeout
        self.max_megabytes = max_megabytes

    def grade(self, path: Path) -> GradeReport:
        """Grade one student's notebook. Never raises for a bad file: the report says why."""
        started = time.perf_counter()
        report = GradeReport(Path(path))
        try:
            self._grade(report)
        except NotGradable as err:
            report.error = str(err)
        except Exception as err:  # a file damaged in a way no check foresaw: its row says so
            report.error = clip(f"the grader could not read it ({type(err).__name__}: {err})")
            report.items = []
        report.seconds = time.perf_counter() - started
        _make_printable(report)
        return report

    def _grade(self, report: GradeReport) -> None:
        notebook = read_notebook_file(report.path, self.max_megabytes)
        rubric = _choose_rubric(report.path, notebook, self.rubrics, self.lab)
        report.lab, report.max_points = rubric.lab, rubric.max_points
        template = self.templates[rubric.lab]
        seen = _check_names(notebook)  # what the student's own check cells showed them
        judged: dict[str, dict] = {}
        measured: dict[str, tuple] = {}  # result -> (value, None) or (None, why)
        if self.execute:
            notebook, found = restore(template, notebook)
            report.notes = found.notes(restored=True)
            judged, measured, report.execution_note = self._run_and_judge(
                template, rubric, notebook
            )
            report.notes += _output_notes(notebook)
            # Every locked cell in the run copy is the instructor's, and appears once.
            lab_cells = {
                cell.grade_id: notebook["cells"][index]
                for index, cell in _locked_positions(template, notebook)
            }
            untrusted: dict[str, str] = {}
        else:
            found = match(template, notebook)
            report.notes = found.notes(restored=False)
            lab_cells, untrusted = found.cells, found.changed
        trusted = {key: cell for key, cell in lab_cells.items() if key not in untrusted}
        results = (
            read_results({"cells": [trusted[RESULTS_CELL]]}) if RESULTS_CELL in trusted else {}
        )
        checks = {}
        for exercise, key in template.check_cells.items():
            record = (
                read_checks({"cells": [trusted[key]]}).get(exercise) if key in trusted else None
            )
            record = judged.get(exercise, record)  # the grader's own verdict first
            if record is not None:
                checks[exercise] = {**record, "seen": seen.get(exercise, set())}
        positions = {id(cell): index for index, cell in enumerate(notebook["cells"], start=1)}
        submission = Submission(
            notebook,
            results,
            checks,
            {
                positions[id(cell)]
                for key, cell in trusted.items()
                if template.by_id[key].locked and id(cell) in positions
            },
        )
        findings = self._findings(template, rubric, submission)
        report.notes += [str(finding) for finding in findings]
        tampered = next((f for f in findings if f.kind == "tampering"), None)
        for item in rubric.items:
            check = CHECKS[item.check]
            spoiled = [key for key in self.reads[rubric.lab][item.id] if key in untrusted]
            # Code that reaches into the grading can swap what is judged or measured too.
            forgeable = check.reads in ("results", "check")
            remeasured = measured.get(str(item.options.get("result")))
            if tampered and forgeable:
                passed, feedback = (
                    False,
                    (
                        f"no points: {tampered}. Results and exercise checks count only as the "
                        "lab's own cells produce them; if this is a mistake, ask your instructor."
                    ),
                )
            elif remeasured is not None:
                passed, feedback = _check_measured(check, submission, item, remeasured)
            elif spoiled:
                lab_cell = template.by_id[spoiled[0]]
                passed, feedback = (
                    False,
                    (
                        f"no points: this item reads {lab_cell.label}, which was "
                        f"{untrusted[spoiled[0]]}. Only the lab's cells as released count: copy "
                        "the cell back from the released notebook and run it."
                    ),
                )
            else:
                passed, feedback = check.function(submission, item.options)
            report.items.append(
                ItemResult(item.id, item.points if passed else 0.0, item.points, feedback.strip())
            )

    def _findings(self, template: LabTemplate, rubric: Rubric, submission: Submission) -> list:
        """What the student's own code cells do to the grading (``labkit_instructor.tamper``)."""
        from labkit_instructor import tamper

        solutions = [
            c.instructor_source for c in template.cells if c.cell_type == "code" and not c.locked
        ]
        results = template.by_id.get(RESULTS_CELL)
        reported = tamper.reported_names(results.instructor_source) if results else set()
        for item in rubric.items:  # and the models the grader measures again
            model = item.options.get("recompute", {}).get("model")
            reported |= tamper.reported_names(model) if isinstance(model, str) else set()
        for source in solutions:
            reported -= tamper.written_names(source)
        allowed = set().union(*map(tamper.kit_names, solutions))
        own = [
            (index, multiline_text(cell.get("source")))
            for index, cell in submission.code_cells()
            if not submission.is_lab_cell(index)
        ]
        return tamper.scan(own, reported, allowed)

    def _run_and_judge(
        self, template: LabTemplate, rubric: Rubric, notebook: dict
    ) -> tuple[dict, dict, str | None]:
        """Run the notebook, then judge its exercises and measure its results here.

        Returns the exercises' records, ``{result: (value, why not)}`` and the run's note.
        """
        from labkit_instructor.verdicts import judge_outputs, measure_again, models_check

        exercises, checks = self._grader_checks(template)
        specs = {
            str(item.options["result"]): item.options["recompute"]
            for item in rubric.items
            if isinstance(item.options.get("recompute"), Mapping) and "result" in item.options
        }
        models = models_check(specs)
        extra = [check.source for check in checks] + ([models.source] if models else [])
        note, outputs = self._run(notebook, extra)
        judged = judge_outputs(checks, outputs[: len(checks)], exercises) if checks else {}
        measured = measure_again(models, outputs[-1]) if models else {}
        return judged, measured, note

    def _grader_checks(self, template: LabTemplate) -> tuple[Mapping, list]:
        """The kit's exercises, and a grader's check for each one the lab's check cells call."""
        from labkit_instructor.verdicts import answer_names, grader_checks

        answers: dict[str, list[str]] = {}
        for key in template.check_cells.values():
            answers.update(answer_names(template.by_id[key].instructor_source))
        if not answers:  # a lab of the instructor's own, without labkit.check_exercise
            return {}, []
        from labkit.checks import EXERCISES

        return EXERCISES, grader_checks(answers, EXERCISES)

    def _run(self, notebook: dict, extra: Sequence[str] = ()) -> tuple[str | None, list]:
        """Execute ``notebook`` in place, sandboxed if the grader has a sandbox.

        The cells ``extra`` run after the notebook's and are taken out again; their outputs are
        returned beside why the run stopped early (None if it did not).
        """
        # Imported here: only --execute needs nbclient (and labkit, for the data's location).
        import nbformat
        from nbformat.v4 import new_code_cell

        from labkit_instructor.runner import CurrentPythonKernelManager, execute_notebook
        from labkit_instructor.sandbox import Sandbox

        node = nbformat.reads(json.dumps(notebook), as_version=4)
        node.cells += [new_code_cell(source) for source in extra]
        with contextlib.ExitStack() as stack:
            if self.sandbox is not None:
                data = _data_for_kernel()
                box = stack.enter_context(
                    Sandbox(
                        self.sandbox,
                        self.memory_megabytes or DEFAULT_MEMORY_MEGABYTES,
                        readable=tuple(data.values()),
                    )
                )
                cwd, manager = box.workdir, box.kernel_manager_class()
                env = box.environment({name: str(path) for name, path in data.items()})
            else:
                cwd = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="labkit-grade-")))
                manager = CurrentPythonKernelManager
                # Each submission gets its own model cache: trained models never pass from one
                # student's notebook to another's, whatever LABKIT_CACHE_DIR the grader has set.
                env = {**os.environ, "LABKIT_CACHE_DIR": str(cwd / ".labkit_cache")}
            note = execute_notebook(
                node,
                cwd=cwd,
                cell_timeout=self.cell_timeout,
                total_timeout=self.total_timeout,
                allow_errors=True,
                env=env,
                kernel_manager_class=manager,
                output_limit=lambda index: (
                    OUTPUT_CHARACTERS if index < len(node.cells) - len(extra) else ANSWER_CHARACTERS
                ),
            )
        cells = json.loads(json.dumps(node.cells))
        notebook["cells"] = cells[: len(cells) - len(extra)]
        added = [cell.get("outputs", []) for cell in cells[len(cells) - len(extra) :]]
        return (None if note is None else clip(note)), added


def _make_printable(report: GradeReport) -> None:
    """Every text of the report writable in UTF-8: students' files may hold lone surrogates."""
    report.error = None if report.error is None else printable(report.error)
    report.execution_note = report.execution_note and printable(report.execution_note)
    report.notes = [printable(note) for note in report.notes]
    report.items = [
        ItemResult(item.id, item.points, item.max_points, printable(item.feedback))
        for item in report.items
    ]


def _check_measured(check, submission: Submission, item: RubricItem, measured: tuple) -> tuple:
    """A result item judged on the value the grader measured, if the Result cell reports it."""
    name, (value, why) = str(item.options["result"]), measured
    reported = submission.results.get(name)
    if value is None:
        return False, clip(f"no points: the grader could not measure {name} itself ({why}).")
    tolerance = float(item.options["recompute"].get("tolerance", 0.0))
    if not isinstance(reported, int | float) or abs(float(reported) - value) > tolerance:
        return False, (
            f"no points: the Result cell reports {name} = {reported}, but the grader measured "
            f"{value:.6g} on the lab's model. Report what the lab's own cells compute."
        )
    measured_results = {**submission.results, name: value}
    return check.function(Submission(submission.notebook, measured_results, {}), item.options)


def _check_names(notebook: dict) -> dict[str, set[str]]:
    """``{exercise: names of its checks}`` as the submitted notebook's check cells showed them."""
    return {name: set(record["checks"]) for name, record in read_checks(notebook).items()}


def _locked_positions(template: LabTemplate, notebook: dict) -> list[tuple[int, LabCell]]:
    positions = []
    for index, cell in enumerate(notebook["cells"]):
        lab_cell = template.by_id.get(template.key_of(cell) or "")
        if lab_cell is not None and lab_cell.locked:
            positions.append((index, lab_cell))
    return positions


def _cells_read(template: LabTemplate, item: RubricItem, reads: str) -> list[str]:
    if reads == "code":
        return [
            cell.grade_id for cell in template.cells if cell.locked and cell.cell_type == "code"
        ]
    if reads == "sections":
        instructor = Submission(template.notebook, {}, {})
        sections = [instructor.section(str(name)) for name in item.options["sections"]]
        read = {
            template.cells[index - 1].grade_id
            for section in sections
            if section is not None
            for index, _ in section.code_cells
        }
        return [cell.grade_id for cell in template.cells if cell.grade_id in read and cell.locked]
    if reads == "results":
        return [RESULTS_CELL] if RESULTS_CELL in template.by_id else []
    if reads == "check":
        key = template.check_cells.get(str(item.options.get("exercise")))
        return [key] if key else []
    return []


def _data_for_kernel() -> dict[str, Path]:
    """The MNIST path a sandboxed (offline) kernel may read, as ``{LABKIT_DATA_DIR: path}``:
    the variable's, else Keras's cached mnist.npz, downloaded here if need be.

    Raises MnistDataError when there is no cached file and the download fails.
    """
    from labkit.config import DATA_DIR_ENV
    from labkit.data import keras_mnist_file

    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    path = Path(configured).expanduser() if configured else keras_mnist_file()
    return {DATA_DIR_ENV: path.resolve()}


def grade_notebook(
    path: Path, rubrics: Mapping[str, Rubric] | None = None, **options
) -> GradeReport:
    """Grade one notebook: ``Grader(rubrics, **options).grade(path)`` (see :class:`Grader`)."""
    return Grader(rubrics, **options).grade(path)
