"""The rubric's checks: one function per kind of rubric item, reading a :class:`Submission`.

A check returns ``(passed, feedback)``; an item earns all its points or none. Each check also
says which of the lab's locked cells it reads (:attr:`Check.reads`): when a student changed one
of those cells, the grader gives the item no points (see ``labkit_instructor.cells``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from labkit_instructor.notebook_files import multiline_text
from labkit_instructor.release import ANSWER_PLACEHOLDER

__all__ = ["CHECKS", "Check", "Outcome", "Submission", "clip"]

FEEDBACK_CHARACTERS = 200  # error messages quoted in feedback are cut to this length
ADVICE_CHARACTERS = 600  # a failed exercise's advice, or the numbers an Observation misses
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_WORD = re.compile(r"[^\W\d_]{2,}|[aAI]\b")  # words of letters: numbers are not words
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])-?\d+(?:\.\d+)?")
_WRITTEN_NUMBER = re.compile(_NUMBER.pattern + r"(?:\s?(%))?")
_FAILED_LINE = re.compile(r"\bFAIL\b")
GRADED_NOTE = "*Graded:"  # a line of the lab's that tells the student how a section is graded
_PASSED_LINE = re.compile(r"\bPASS\b")


def clip(text: str, limit: int = FEEDBACK_CHARACTERS) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class _Section:
    markdown: list[str] = field(default_factory=list)
    code_cells: list[tuple[int, dict]] = field(default_factory=list)


class Submission:
    """A student's notebook indexed for the rubric's checks.

    ``results`` and ``checks`` are what the lab's own Result and check cells stored
    (``read_results`` and ``read_checks`` of those cells only): the grader picks those cells.
    ``lab_cells`` are the (1-based) positions of the lab's own code cells that are trusted; the
    figures and the built-in checks count only there (None: every cell counts).
    """

    def __init__(
        self,
        notebook: dict,
        results: Mapping[str, object],
        checks: Mapping[str, dict],
        lab_cells: Collection[int] | None = None,
    ) -> None:
        self.notebook = notebook
        self.lab_cells = None if lab_cells is None else set(lab_cells)
        self.cells: list[dict] = notebook["cells"]
        self.results = dict(results)
        self.checks = dict(checks)
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

    def is_lab_cell(self, index: int) -> bool:
        return self.lab_cells is None or index in self.lab_cells


def _outputs(cell: dict) -> list[dict]:
    outputs = cell.get("outputs", [])
    return (
        [output for output in outputs if isinstance(output, dict)]
        if isinstance(outputs, list)
        else []
    )


# --- Checks: one function per kind of rubric item ---

Outcome = tuple[bool, str]


def _ran_without_errors(submission: Submission, options: Mapping) -> Outcome:
    code_cells = submission.code_cells()
    if not code_cells:
        return False, "the notebook has no code cells."
    for index, cell in code_cells:
        for output in _outputs(cell):
            if output.get("output_type") == "error":
                error = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                return False, f"cell {index} stopped with an error ({clip(error)})."
    unrun = [index for index, cell in code_cells if cell.get("execution_count") is None]
    if unrun:
        return False, (
            f"{len(unrun)} code cell(s) were not run (the first is cell {unrun[0]}). Run the "
            "whole notebook (Run > Run All Cells), then save it."
        )
    return True, f"all {len(code_cells)} code cells ran without errors."


def _figures(submission: Submission, options: Mapping) -> Outcome:
    missing = []
    for name in options["sections"]:
        section = submission.section(name)
        if section is None:
            missing.append(f"'{name}' (section not found; keep the lab's headings)")
        elif not any(
            any(kind in output.get("data", {}) for kind in IMAGE_TYPES)
            for index, cell in section.code_cells
            if submission.is_lab_cell(index)
            for output in _outputs(cell)
            if isinstance(output.get("data"), dict)
        ):
            missing.append(f"'{name}'")
    if missing:
        return False, f"no figure under {', '.join(missing)}; run those cells and keep the output."
    return True, f"figures present under {', '.join(options['sections'])}."


def _no_failed_checks(submission: Submission, options: Mapping) -> Outcome:
    printed = "\n".join(
        multiline_text(output.get("text"))
        for index, cell in submission.code_cells()
        if submission.is_lab_cell(index)
        for output in _outputs(cell)
        if output.get("output_type") == "stream"
    )
    failed = [line.strip() for line in printed.splitlines() if _FAILED_LINE.search(line)]
    if failed:
        return False, f"{len(failed)} check(s) printed FAIL, first: {clip(failed[0])}"
    passed = sum(1 for line in printed.splitlines() if _PASSED_LINE.search(line))
    if passed == 0:
        return False, "no check printed PASS: were the check cells run?"
    return True, f"{passed} built-in check(s) printed PASS."


def _result(submission: Submission, name: str) -> float | None:
    value = submission.results.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:.4g}"


def _missing_result(name: str) -> Outcome:
    return False, (
        f"no result '{name}': run the cell of the Result section (labkit.report_results) "
        "and save the notebook."
    )


def _result_at_most(submission: Submission, options: Mapping) -> Outcome:
    name, limit = options["result"], options["max"]
    value = _result(submission, name)
    if value is None:
        return _missing_result(name)
    if value <= limit:
        return True, f"{name} = {_number(value)}, within the limit of {_number(limit)}."
    hint = options.get("hint", "")
    return False, f"{name} = {_number(value)}, above the limit of {_number(limit)}. {hint}"


def _result_at_least(submission: Submission, options: Mapping) -> Outcome:
    name, limit = options["result"], options["min"]
    value = _result(submission, name)
    if value is None:
        return _missing_result(name)
    if value >= limit:
        return True, f"{name} = {_number(value)}, at least {_number(limit)}."
    return False, f"{name} = {_number(value)}, below {_number(limit)}. {options.get('hint', '')}"


def _result_decreased(submission: Submission, options: Mapping) -> Outcome:
    first_name, last_name = options["first"], options["last"]
    first, last = _result(submission, first_name), _result(submission, last_name)
    if first is None or last is None:
        return _missing_result(first_name if first is None else last_name)
    if last < first:
        return True, f"the loss fell from {first:.4g} (first epoch) to {last:.4g} (last epoch)."
    return False, f"the loss did not fall: {first:.4g} in the first epoch, {last:.4g} in the last."


def _students_words(section: _Section) -> str:
    """A section's text without comments and without the lab's own "*Graded: ...*" line."""
    lines = [line for line in section.markdown if not line.lstrip().startswith(GRADED_NOTE)]
    return _HTML_COMMENT.sub(" ", "\n".join(lines))


def _section_written(submission: Submission, options: Mapping) -> Outcome:
    name, min_words = options["section"], options["min_words"]
    section = submission.section(name)
    if section is None:
        return False, f"no '{name}' section: keep the heading '## {name}' and write below it."
    text = _students_words(section)
    if ANSWER_PLACEHOLDER in text:
        return False, f"the {name} section still holds the placeholder '{ANSWER_PLACEHOLDER}'."
    words = len(_WORD.findall(text))
    if words < min_words:
        return False, (
            f"the {name} section has {words} words (numbers not counted); write at least "
            f"{min_words}."
        )
    return True, f"the {name} section is written ({words} words)."


def _written_numbers(text: str) -> list[tuple[float, float]]:
    """Each number in ``text`` as (value, half a unit of its last digit); 81% is 0.81."""
    numbers = []
    for match in _WRITTEN_NUMBER.finditer(text):
        digits = match[0].rstrip("% ").replace(",", "")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        scale = 0.01 if match[1] else 1.0
        numbers.append((float(digits) * scale, 0.5 * 10.0**-decimals * scale))
    return numbers


def _states(value: float, written: list[tuple[float, float]]) -> bool:
    # A whole number must be written exactly. Otherwise any rounding with at least two
    # significant digits counts, also of the Result table's own rounding (2 decimals, or 4
    # significant digits below 1): 151.5 or 151 for 151.46, 0.0069 for 0.006924, 81% for
    # 0.8098; never 150 or 0.007.
    if float(value).is_integer():
        return any(number == value for number, _ in written)
    shown = 0.005 if abs(value) >= 1 else 0.5 * 10.0 ** (math.floor(math.log10(abs(value))) - 3)
    return any(
        abs(number - value) <= half_unit + shown and half_unit <= 0.05 * abs(value)
        for number, half_unit in written
    )


def _section_states_results(submission: Submission, options: Mapping) -> Outcome:
    name = options["section"]
    section = submission.section(name)
    if section is None:
        return False, f"no '{name}' section: keep the heading '## {name}' and write below it."
    if not submission.results:
        return _missing_result("the lab's results")
    numbers = {
        result: value
        for result in options.get("results", submission.results)
        if (value := _result(submission, result)) is not None
    }
    written = _written_numbers(_students_words(section))
    missing = [result for result, value in numbers.items() if not _states(value, written)]
    if not missing:
        return True, f"the {name} section states all {len(numbers)} numbers of the Result cell."
    listed = ", ".join(f"{result} ({_number(numbers[result])})" for result in missing)
    return False, clip(
        f"the {name} section does not state {len(missing)} of the {len(numbers)} numbers the "
        f"Result cell reports: {listed}. Write each number you measured (rounding is fine).",
        ADVICE_CHARACTERS,
    )


def _exercise_passed(submission: Submission, options: Mapping) -> Outcome:
    name = options["exercise"]
    record = submission.checks.get(name)
    if record is None:
        return False, (
            f"exercise '{name}' has no check result: its check cell did not run, or stopped "
            "with an error (is the NotImplementedError stub still there?)."
        )
    failed = [what for what, held in record["checks"].items() if held is not True]
    if failed or not record["passed"]:
        advice = f" {record['advice']}" if isinstance(record.get("advice"), str) else ""
        # Only the checks the student's own run showed are named: hidden ones are counted.
        named = [what for what in failed if what in record.get("seen", failed)]
        hidden = len(failed) - len(named)
        failures = "; ".join(named + ([f"{hidden} hidden check(s)"] if hidden else []))
        failures = failures or "see the notebook"
        return False, clip(f"exercise '{name}' fails: {failures}.{advice}", ADVICE_CHARACTERS)
    return True, f"exercise '{name}' passes its {len(record['checks'])} checks."


@dataclass(frozen=True)
class Check:
    """A kind of rubric item: its function, the options it needs, and which cells it reads.

    ``reads`` names the lab's locked cells whose outputs decide it: ``"code"`` (every locked
    code cell), ``"sections"`` (those under the item's ``sections``), ``"results"`` (the Result
    cell), ``"check"`` (the exercise's check cell) or ``""`` (only the student's own answers).
    """

    function: Callable[[Submission, Mapping], Outcome]
    options: tuple[str, ...]
    reads: str


CHECKS: dict[str, Check] = {
    "ran_without_errors": Check(_ran_without_errors, (), "code"),
    "figures": Check(_figures, ("sections",), "sections"),
    "no_failed_checks": Check(_no_failed_checks, (), "code"),
    "result_at_most": Check(_result_at_most, ("result", "max"), "results"),
    "result_at_least": Check(_result_at_least, ("result", "min"), "results"),
    "result_decreased": Check(_result_decreased, ("first", "last"), "results"),
    "section_written": Check(_section_written, ("section", "min_words"), ""),
    "section_states_results": Check(_section_states_results, ("section",), "results"),
    "exercise_passed": Check(_exercise_passed, ("exercise",), "check"),
}
