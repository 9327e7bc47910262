"""Grading students' lab notebooks from their outputs: the engine of ``labkit grade``.

Each lab has a rubric, kept as data in ``labkit/rubrics.json``: items worth points, each checked
against what the student's notebook stores (outputs, figures, the numbers of
:func:`labkit.report_results`, the exercise outcomes of :func:`labkit.report_check`, the text
of the Observations and Result sections). An item earns all its points or none, with a line of
feedback that says why.

Students' files are read, never written. A file that cannot be graded (not JSON, the wrong
notebook format, too large, the wrong lab) becomes a report with an ``error`` instead of
stopping the batch. With ``execute=True`` each notebook first runs in a fresh kernel, in a
temporary copy, with a per-cell and a total time limit.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labkit.release import ANSWER_PLACEHOLDER
from labkit.reporting import multiline_text, read_checks, read_results

__all__ = [
    "DEFAULT_RUBRICS",
    "GradeReport",
    "ItemResult",
    "Rubric",
    "RubricItem",
    "find_submissions",
    "grade_notebook",
    "load_rubrics",
]

DEFAULT_RUBRICS = Path(__file__).with_name("rubrics.json")
MAX_NOTEBOOK_MEGABYTES = 50.0  # a lab notebook with all its figures is under 1 MB
CELL_TIMEOUT_SECONDS = 900
TOTAL_TIMEOUT_SECONDS = 1_800
FEEDBACK_CHARACTERS = 200  # error messages quoted in feedback are cut to this length
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LAB_TITLE = re.compile(r"^#\s+Lab\s+(\d+)\b")
_LAB_FILE = re.compile(r"^(\d\d)_")
_WORD = re.compile(r"[A-Za-z0-9]+")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])-?\d+(?:\.\d+)?")
_FAILED_LINE = re.compile(r"\bFAIL\b")
_PASSED_LINE = re.compile(r"\bPASS\b")


class NotGradable(ValueError):
    """A student's file cannot be graded; the message says why and what to do."""


@dataclass(frozen=True)
class RubricItem:
    """One thing the grader checks, worth ``points``; ``options`` configure the ``check``."""

    id: str
    points: float
    check: str
    description: str
    options: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Rubric:
    """The rubric of one lab: ``lab`` is the notebook's name without ``.ipynb``."""

    lab: str
    items: tuple[RubricItem, ...]

    @property
    def number(self) -> str:
        return self.lab[:2]

    @property
    def max_points(self) -> float:
        return sum(item.points for item in self.items)


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
    max_points: float = 0.0

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
            return f"{self.path}: not graded.\n{self.error}"
        lines = [f"{self.path}: {_points(self.points)} of {_points(self.max_points)} points"]
        if self.execution_note:
            lines.append(f"Execution: {self.execution_note}")
        for item in self.items:
            mark = "ok  " if item.points == item.max_points else "lost"
            lines.append(
                f"  [{mark}] {item.id} ({_points(item.points)}/{_points(item.max_points)}): "
                f"{item.feedback}"
            )
        return "\n".join(lines)


def _points(value: float) -> str:
    return f"{value:g}"


def _clip(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= FEEDBACK_CHARACTERS else text[: FEEDBACK_CHARACTERS - 3] + "..."


# --- Reading a notebook ---


@dataclass
class _Section:
    markdown: list[str] = field(default_factory=list)
    code_cells: list[tuple[int, dict]] = field(default_factory=list)


class _Submission:
    """A student's notebook, checked for structure and indexed for the rubric's checks."""

    def __init__(self, notebook: dict) -> None:
        self.notebook = notebook
        self.cells: list[dict] = notebook["cells"]
        self.results = read_results(notebook)
        self.checks = read_checks(notebook)
        self.sections: dict[str, _Section] = {}
        open_sections: list[tuple[int, _Section]] = []
        for index, cell in enumerate(self.cells, start=1):
            if cell["cell_type"] == "code":
                for _, section in open_sections:
                    section.code_cells.append((index, cell))
                continue
            if cell["cell_type"] != "markdown":
                continue
            for line in multiline_text(cell.get("source")).splitlines():
                heading = _HEADING.match(line)
                if heading:
                    level = len(heading[1])
                    open_sections = [(lv, sec) for lv, sec in open_sections if lv < level]
                    section = self.sections.setdefault(heading[2].strip().lower(), _Section())
                    open_sections.append((level, section))
                    continue
                for _, section in open_sections:
                    section.markdown.append(line)

    def section(self, name: str) -> _Section | None:
        """The section whose heading starts with ``name`` (case ignored), if any."""
        wanted = name.strip().lower()
        for title, section in self.sections.items():
            if title == wanted or (title.startswith(wanted) and not title[len(wanted)].isalnum()):
                return section
        return None

    def code_cells(self) -> list[tuple[int, dict]]:
        return [(i, cell) for i, cell in enumerate(self.cells, 1) if cell["cell_type"] == "code"]


def _outputs(cell: dict) -> list[dict]:
    outputs = cell.get("outputs", [])
    return (
        [output for output in outputs if isinstance(output, dict)]
        if isinstance(outputs, list)
        else []
    )


def _check_structure(notebook: object) -> dict:
    if not isinstance(notebook, dict) or not ("cells" in notebook or "nbformat" in notebook):
        raise NotGradable("the file is JSON but not a Jupyter notebook (it has no cells).")
    version = notebook.get("nbformat")
    if version != 4:
        raise NotGradable(
            f"the notebook is in format version {version!r}, and the kit reads version 4 "
            "(JupyterLab 3 and later). Open it in JupyterLab, save it, and submit it again."
        )
    if not isinstance(notebook["cells"], list):
        raise NotGradable("the notebook's 'cells' is not a list; the file is damaged.")
    for index, cell in enumerate(notebook["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise NotGradable(f"cell {index} is damaged (it has no valid cell_type).")
        if not isinstance(cell.get("source", ""), str | list):
            raise NotGradable(f"cell {index} is damaged (its source is not text).")
    return notebook


def _read_notebook(path: Path, max_megabytes: float) -> dict:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise NotGradable(f"the file cannot be read: {err.strerror}.") from err
    if size > max_megabytes * 1024 * 1024:
        raise NotGradable(
            f"the file is {size / 1024 / 1024:.0f} MB, over the grader's limit of "
            f"{max_megabytes:g} MB (a lab notebook with its figures is under 1 MB). It probably "
            "prints or displays very large outputs; clear those cells' outputs, or raise the "
            "limit with --max-megabytes."
        )
    try:
        notebook = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise NotGradable(f"the file is not a notebook: it is not UTF-8 text ({err}).") from err
    except json.JSONDecodeError as err:
        raise NotGradable(
            f"the file is not a notebook: it is not valid JSON ({err.msg} at line {err.lineno}, "
            f"column {err.colno}). Was it saved from JupyterLab, or edited by hand?"
        ) from err
    return _check_structure(notebook)


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
    named = _LAB_FILE.match(path.name)
    if named and named[1] in by_number and named[1] != detected.number:
        raise NotGradable(
            f"the file is named for {by_number[named[1]].lab} but holds the notebook of "
            f"{detected.lab}: was the wrong notebook submitted?"
        )
    return detected


# --- Checks: one function per kind of rubric item ---

_Outcome = tuple[bool, str]


def _ran_without_errors(submission: _Submission, options: Mapping) -> _Outcome:
    code_cells = submission.code_cells()
    if not code_cells:
        return False, "the notebook has no code cells."
    for index, cell in code_cells:
        for output in _outputs(cell):
            if output.get("output_type") == "error":
                error = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                return False, f"cell {index} stopped with an error ({_clip(error)})."
    unrun = [index for index, cell in code_cells if cell.get("execution_count") is None]
    if unrun:
        return False, (
            f"{len(unrun)} code cell(s) were not run (the first is cell {unrun[0]}). Run the "
            "whole notebook (Run > Run All Cells), then save it."
        )
    return True, f"all {len(code_cells)} code cells ran without errors."


def _figures(submission: _Submission, options: Mapping) -> _Outcome:
    missing = []
    for name in options["sections"]:
        section = submission.section(name)
        if section is None:
            missing.append(f"'{name}' (section not found; keep the lab's headings)")
        elif not any(
            any(kind in output.get("data", {}) for kind in IMAGE_TYPES)
            for _, cell in section.code_cells
            for output in _outputs(cell)
            if isinstance(output.get("data"), dict)
        ):
            missing.append(f"'{name}'")
    if missing:
        return False, f"no figure under {', '.join(missing)}; run those cells and keep the output."
    return True, f"figures present under {', '.join(options['sections'])}."


def _no_failed_checks(submission: _Submission, options: Mapping) -> _Outcome:
    printed = "\n".join(
        multiline_text(output.get("text"))
        for _, cell in submission.code_cells()
        for output in _outputs(cell)
        if output.get("output_type") == "stream"
    )
    failed = [line.strip() for line in printed.splitlines() if _FAILED_LINE.search(line)]
    if failed:
        return False, f"{len(failed)} check(s) printed FAIL, first: {_clip(failed[0])}"
    passed = sum(1 for line in printed.splitlines() if _PASSED_LINE.search(line))
    if passed == 0:
        return False, "no check printed PASS: were the check cells run?"
    return True, f"{passed} built-in check(s) printed PASS."


def _result(submission: _Submission, name: str) -> float | None:
    value = submission.results.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:.4g}"


def _missing_result(name: str) -> _Outcome:
    return False, (
        f"no result '{name}': run the cell of the Result section (labkit.report_results) "
        "and save the notebook."
    )


def _result_at_most(submission: _Submission, options: Mapping) -> _Outcome:
    name, limit = options["result"], options["max"]
    value = _result(submission, name)
    if value is None:
        return _missing_result(name)
    if value <= limit:
        return True, f"{name} = {_number(value)}, within the limit of {_number(limit)}."
    hint = options.get("hint", "")
    return False, f"{name} = {_number(value)}, above the limit of {_number(limit)}. {hint}"


def _result_at_least(submission: _Submission, options: Mapping) -> _Outcome:
    name, limit = options["result"], options["min"]
    value = _result(submission, name)
    if value is None:
        return _missing_result(name)
    if value >= limit:
        return True, f"{name} = {_number(value)}, at least {_number(limit)}."
    return False, f"{name} = {_number(value)}, below {_number(limit)}. {options.get('hint', '')}"


def _result_decreased(submission: _Submission, options: Mapping) -> _Outcome:
    first_name, last_name = options["first"], options["last"]
    first, last = _result(submission, first_name), _result(submission, last_name)
    if first is None or last is None:
        return _missing_result(first_name if first is None else last_name)
    if last < first:
        return True, f"the loss fell from {first:.4g} (first epoch) to {last:.4g} (last epoch)."
    return False, f"the loss did not fall: {first:.4g} in the first epoch, {last:.4g} in the last."


def _section_written(submission: _Submission, options: Mapping) -> _Outcome:
    name, min_words = options["section"], options["min_words"]
    section = submission.section(name)
    if section is None:
        return False, f"no '{name}' section: keep the heading '## {name}' and write below it."
    text = _HTML_COMMENT.sub(" ", "\n".join(section.markdown))
    if ANSWER_PLACEHOLDER in text:
        return False, f"the {name} section still holds the placeholder '{ANSWER_PLACEHOLDER}'."
    words = len(_WORD.findall(text))
    if words < min_words:
        return False, f"the {name} section has {words} words; write at least {min_words}."
    return True, f"the {name} section is written ({words} words)."


def _section_states_result(submission: _Submission, options: Mapping) -> _Outcome:
    name, result, decimals = options["section"], options["result"], options.get("decimals", 1)
    section = submission.section(name)
    if section is None:
        return False, f"no '{name}' section: keep the heading '## {name}' and write below it."
    value = _result(submission, result)
    if value is None:
        return _missing_result(result)
    text = _HTML_COMMENT.sub(" ", "\n".join(section.markdown))
    # Any number written within rounding of the result counts: 151.5 or 151.46 for 151.4613.
    tolerance = 0.5 * 10.0**-decimals + 1e-9
    written = [float(number.replace(",", "")) for number in _NUMBER.findall(text)]
    if any(abs(number - value) <= tolerance for number in written):
        return True, f"the {name} section states {result} ({value:,.{decimals}f})."
    return False, (
        f"the {name} section does not state {result}, which the Result cell reports as "
        f"{value:,.{decimals}f}: write the number you measured, to {decimals} decimal(s)."
    )


def _exercise_passed(submission: _Submission, options: Mapping) -> _Outcome:
    name = options["exercise"]
    record = submission.checks.get(name)
    if record is None:
        return False, (
            f"exercise '{name}' has no check result: its check cell did not run, or stopped "
            "with an error (is the NotImplementedError stub still there?)."
        )
    failed = [what for what, held in record["checks"].items() if held is not True]
    if failed or not record["passed"]:
        return False, f"exercise '{name}' fails: {_clip('; '.join(failed) or 'see the notebook')}."
    return True, f"exercise '{name}' passes its {len(record['checks'])} checks."


# Each check, and the options its rubric items must give.
CHECKS: dict[str, tuple[Callable[[_Submission, Mapping], _Outcome], tuple[str, ...]]] = {
    "ran_without_errors": (_ran_without_errors, ()),
    "figures": (_figures, ("sections",)),
    "no_failed_checks": (_no_failed_checks, ()),
    "result_at_most": (_result_at_most, ("result", "max")),
    "result_at_least": (_result_at_least, ("result", "min")),
    "result_decreased": (_result_decreased, ("first", "last")),
    "section_written": (_section_written, ("section", "min_words")),
    "section_states_result": (_section_states_result, ("section", "result")),
    "exercise_passed": (_exercise_passed, ("exercise",)),
}


# --- Rubrics ---


def load_rubrics(path: Path | None = None) -> dict[str, Rubric]:
    """Read and check the rubrics, ``{lab: Rubric}`` (default: the kit's ``rubrics.json``).

    The file holds ``{"labs": {"03_vae": [item, ...], ...}}``; an item is an object with
    ``id``, ``points``, ``check`` (one of :data:`CHECKS`), ``description`` and the options its
    check needs.

    Raises:
        ValueError: The file is not valid JSON, or an item is incomplete (the message names it).
        FileNotFoundError: No file at ``path``.
    """
    path = Path(path) if path is not None else DEFAULT_RUBRICS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"rubric file {path} is not valid JSON: {err}.") from err
    labs = data.get("labs") if isinstance(data, dict) else None
    if not isinstance(labs, dict) or not labs:
        raise ValueError(f"rubric file {path} needs a 'labs' object: {{lab name: [items]}}.")
    rubrics = {}
    for lab, items in labs.items():
        if not _LAB_FILE.match(lab) or not isinstance(items, list) or not items:
            raise ValueError(
                f"rubric file {path}: lab {lab!r} needs a name like '03_vae' and a list of items."
            )
        rubrics[lab] = Rubric(lab, tuple(_rubric_item(path, lab, item) for item in items))
        if len({item.id for item in rubrics[lab].items}) != len(items):
            raise ValueError(f"rubric file {path}: lab {lab} repeats an item id.")
    return rubrics


def _rubric_item(path: Path, lab: str, item: object) -> RubricItem:
    where = f"rubric file {path}, lab {lab}"
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise ValueError(f"{where}: every item needs an 'id'. Received: {item!r}.")
    where += f", item {item['id']!r}"
    check = item.get("check")
    if check not in CHECKS:
        raise ValueError(f"{where}: unknown check {check!r}; use one of {', '.join(CHECKS)}.")
    points = item.get("points")
    if isinstance(points, bool) or not isinstance(points, int | float) or points <= 0:
        raise ValueError(f"{where}: 'points' must be a positive number. Received: {points!r}.")
    missing = [name for name in CHECKS[check][1] if name not in item]
    if missing:
        raise ValueError(f"{where}: the check {check!r} needs {', '.join(missing)}.")
    for name in ("max", "min", "min_words"):
        value = item.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: {name!r} must be a number. Received: {value!r}.")
    decimals = item.get("decimals", 1)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 6:
        raise ValueError(
            f"{where}: 'decimals' must be a whole number from 0 to 6. Received: {decimals!r}."
        )
    sections = item.get("sections", [])
    if not isinstance(sections, list) or not all(isinstance(name, str) for name in sections):
        raise ValueError(f"{where}: 'sections' must be a list of headings. Received: {sections!r}.")
    options = {key: value for key, value in item.items() if key not in ("id", "points", "check")}
    return RubricItem(item["id"], float(points), check, str(item.get("description", "")), options)


# --- Grading ---


def find_submissions(paths: Sequence[Path]) -> list[Path]:
    """The notebooks to grade: files as given, and every ``*.ipynb`` under each folder.

    Raises:
        FileNotFoundError: A path does not exist, or the paths hold no notebook.
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(
                notebook
                for notebook in path.rglob("*.ipynb")
                if not any(part.startswith(".") for part in notebook.relative_to(path).parts)
            )
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


def _execute_copy(notebook: dict, cell_timeout: float, total_timeout: float) -> str | None:
    """Run a copy of ``notebook`` in place of its outputs; returns a note if it did not finish."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from labkit.runner import CurrentPythonKernelManager

    deadline = time.monotonic() + total_timeout
    # reads() joins the sources and texts that files store as lists of lines, as nbclient needs.
    node = nbformat.reads(json.dumps(notebook), as_version=4)
    current = {"index": 0}

    def timeout_for(cell) -> int:
        return max(1, int(min(cell_timeout, deadline - time.monotonic())))

    def started(cell, cell_index, **_) -> None:
        current["index"] = cell_index + 1

    with tempfile.TemporaryDirectory(prefix="labkit-grade-") as workdir:
        client = NotebookClient(
            node,
            timeout=int(cell_timeout),
            timeout_func=timeout_for,
            allow_errors=True,
            kernel_manager_class=CurrentPythonKernelManager,
            kernel_name="python3",
            resources={"metadata": {"path": workdir}},
            record_timing=False,
            on_cell_start=started,
        )
        # Each submission gets its own model cache: trained models never pass from one
        # student's notebook to another's, whatever LABKIT_CACHE_DIR the grader has set.
        kernel_env = {**os.environ, "LABKIT_CACHE_DIR": str(Path(workdir) / ".labkit_cache")}
        note = None
        try:
            with open(os.devnull, "w", encoding="utf-8") as quiet:
                client.execute(stderr=quiet, env=kernel_env)
        except CellTimeoutError:
            limit = (
                f"the total limit of {total_timeout:g} s"
                if time.monotonic() >= deadline - 1
                else f"the per-cell limit of {cell_timeout:g} s"
            )
            note = f"stopped in cell {current['index']}, which ran past {limit}"
        except DeadKernelError:
            note = f"the kernel died in cell {current['index']} (out of memory?)"
        except Exception as err:  # a kernel that cannot start, a broken cell: report, go on
            note = f"could not run: {_clip(f'{type(err).__name__}: {err}')}"
    notebook["cells"] = json.loads(json.dumps(node.cells))
    return note


def grade_notebook(
    path: Path,
    rubrics: Mapping[str, Rubric] | None = None,
    *,
    lab: str | None = None,
    execute: bool = False,
    cell_timeout: float = CELL_TIMEOUT_SECONDS,
    total_timeout: float = TOTAL_TIMEOUT_SECONDS,
    max_megabytes: float = MAX_NOTEBOOK_MEGABYTES,
) -> GradeReport:
    """Grade one student's notebook against its lab's rubric. Never raises for a bad file.

    Args:
        path: The student's ``.ipynb`` file; it is only read.
        rubrics: ``{lab: Rubric}``; default :func:`load_rubrics`.
        lab: The lab every notebook must be (``"03_vae"``); default: read from the notebook.
        execute: Run a copy of the notebook in a fresh kernel first, and grade that.
        cell_timeout: With ``execute``, seconds one cell may run.
        total_timeout: With ``execute``, seconds the whole notebook may run.
        max_megabytes: Larger files are not read.

    Returns:
        A :class:`GradeReport`; ``error`` says why if the file could not be graded.

    Raises:
        ValueError: ``lab`` is not one of the rubrics' labs (a usage error, not a bad file).
    """
    rubrics = load_rubrics() if rubrics is None else rubrics
    if lab is not None and lab not in rubrics:
        raise ValueError(f"no rubric for lab {lab!r}; use one of {', '.join(rubrics)}.")
    report = GradeReport(Path(path))
    try:
        notebook = _read_notebook(report.path, max_megabytes)
        rubric = _choose_rubric(report.path, notebook, rubrics, lab)
        report.lab, report.max_points = rubric.lab, rubric.max_points
        if execute:
            notebook = copy.deepcopy(notebook)
            report.execution_note = _execute_copy(notebook, cell_timeout, total_timeout)
        submission = _Submission(notebook)
    except NotGradable as err:
        report.error = str(err)
        return report
    for item in rubric.items:
        check, _ = CHECKS[item.check]
        passed, feedback = check(submission, item.options)
        report.items.append(
            ItemResult(item.id, item.points if passed else 0.0, item.points, feedback.strip())
        )
    return report
