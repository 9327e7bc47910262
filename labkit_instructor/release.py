"""Student versions of the instructor notebooks: the engine of ``labkit release``.

Instructor notebooks mark what students must write themselves, with the nbgrader convention:

* in code cells, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` become one
  ``raise NotImplementedError(...)`` line with the same indentation. Text after
  ``### BEGIN SOLUTION`` on its line is the hint the stub's message gives;
* in Markdown cells (Observations, Result), the lines between ``<!-- BEGIN SOLUTION -->`` and
  ``<!-- END SOLUTION -->`` become :data:`ANSWER_PLACEHOLDER`, which ``labkit grade`` reads as
  "not written yet";
* in check cells, the lines from ``### BEGIN HIDDEN TESTS`` to ``### END HIDDEN TESTS`` are
  removed: students never see them, and ``labkit grade --execute`` runs them, since it runs the
  instructor's own check cells (nbgrader's convention too).

Outputs, execution counts and the saved widget state are cleared; everything else is kept.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path

from labkit_instructor.notebook_files import multiline_text

__all__ = [
    "ANSWER_PLACEHOLDER",
    "ReleasedNotebook",
    "release_notebook",
    "release_notebooks",
    "strip_hidden_tests",
]

ANSWER_PLACEHOLDER = "*Write your answer here.*"
DEFAULT_HINT = "write this part yourself, then run the check cell below"

_CODE_BEGIN = re.compile(r"^(?P<indent>\s*)### BEGIN SOLUTION\b(?P<hint>.*)$")
_CODE_END = re.compile(r"^\s*### END SOLUTION\s*$")
_MARKDOWN_BEGIN = re.compile(r"^\s*<!--\s*BEGIN SOLUTION\s*-->\s*$")
_MARKDOWN_END = re.compile(r"^\s*<!--\s*END SOLUTION\s*-->\s*$")
_HIDDEN_BEGIN = re.compile(r"^\s*### BEGIN HIDDEN TESTS\s*$")
_HIDDEN_END = re.compile(r"^\s*### END HIDDEN TESTS\s*$")
# Any trace of a marker, for the final check that no solution or hidden test survived.
_ANY_MARKER = re.compile(r"(BEGIN|END)\s+(SOLUTION|HIDDEN\s+TESTS)", re.IGNORECASE)


def strip_hidden_tests(text: str, where: str = "cell") -> tuple[str, int]:
    """``text`` without its ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` blocks.

    Returns:
        ``(text, blocks_removed)``.

    Raises:
        ValueError: A block is unbalanced or nested (the message names ``where`` and the line).
    """
    kept, removed, inside = [], 0, None
    for number, line in enumerate(text.split("\n"), start=1):
        if _HIDDEN_BEGIN.match(line):
            if inside is not None:
                raise ValueError(f"{where}: line {number} begins hidden tests inside others.")
            inside, removed = number, removed + 1
        elif _HIDDEN_END.match(line):
            if inside is None:
                raise ValueError(f"{where}: line {number} ends hidden tests that never began.")
            inside = None
        elif inside is None:
            kept.append(line)
    if inside is not None:
        raise ValueError(
            f"{where}: the hidden tests begun on line {inside} have no '### END HIDDEN TESTS'."
        )
    return "\n".join(kept), removed


@dataclass(frozen=True)
class ReleasedNotebook:
    """One notebook that ``labkit release`` wrote: where, and how many solutions it replaced."""

    source: Path
    released: Path
    solutions_replaced: int


def _replace_solutions(
    text: str, kind: str, where: str, *, keep_markers: bool = False, first_lines=()
) -> tuple[str, int]:
    """``text`` with each solution replaced by its stub; ``keep_markers`` keeps the marker
    lines, and ``first_lines`` go before the first code stub (for grading copies)."""
    begin, end = (_CODE_BEGIN, _CODE_END) if kind == "code" else (_MARKDOWN_BEGIN, _MARKDOWN_END)
    lines, kept, replaced, inside = text.split("\n"), [], 0, None
    for number, line in enumerate(lines, start=1):
        opened = begin.match(line)
        if inside is None:
            if end.match(line):
                raise ValueError(f"{where}: line {number} ends a solution that never began.")
            if opened:
                inside = number
                replaced += 1
                kept += [line] if keep_markers else []
                if kind == "code":
                    hint = opened["hint"].strip(" :-") or DEFAULT_HINT
                    indent = opened["indent"]
                    kept += [f"{indent}{first}" for first in first_lines]
                    kept.append(f"{indent}raise NotImplementedError({hint!r})")
                    first_lines = ()
                else:
                    kept.append(ANSWER_PLACEHOLDER)
            else:
                kept.append(line)
        elif opened:
            raise ValueError(
                f"{where}: line {number} begins a solution inside the one begun on line {inside}."
            )
        elif end.match(line):
            inside = None
            kept += [line] if keep_markers else []
    if inside is not None:
        raise ValueError(
            f"{where}: the solution begun on line {inside} has no end marker; add "
            + ("'### END SOLUTION'." if kind == "code" else "'<!-- END SOLUTION -->'.")
        )
    return "\n".join(kept), replaced


def release_notebook(notebook: dict, name: str = "notebook") -> tuple[dict, int]:
    """The student version of one instructor notebook (a JSON dict, nbformat 4).

    Args:
        notebook: The instructor notebook; it is not modified.
        name: How error messages name the notebook.

    Returns:
        ``(student_notebook, solutions_replaced)``.

    Raises:
        ValueError: A solution marker is unbalanced or nested (the message names the cell and
            line), or the notebook is not an nbformat 4 notebook.
    """
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise ValueError(f"{name} is not a Jupyter notebook: it has no list of cells.")
    if notebook.get("nbformat") != 4:
        raise ValueError(
            f"{name} is in notebook format {notebook.get('nbformat')!r}; the kit needs format 4."
        )
    student = copy.deepcopy(notebook)
    student.get("metadata", {}).pop("widgets", None)  # saved widget views are outputs too
    total = 0
    for index, cell in enumerate(student["cells"], start=1):
        kind = cell.get("cell_type")
        if kind not in ("code", "markdown"):
            continue
        where = f"{name}, cell {index}"
        text, replaced = _replace_solutions(multiline_text(cell.get("source")), kind, where)
        if kind == "code":
            text, _ = strip_hidden_tests(text, where)
        cell["source"] = text
        total += replaced
        if kind == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        if _ANY_MARKER.search(text):
            raise ValueError(
                f"{name}, cell {index}: a solution or hidden-test marker is misspelt or shares "
                "its line with other text; write it alone on its line as '### BEGIN SOLUTION' "
                "(code), '<!-- BEGIN SOLUTION -->' (Markdown) or '### BEGIN HIDDEN TESTS'."
            )
    return student, total


def release_notebooks(source_dir: Path, out_dir: Path) -> list[ReleasedNotebook]:
    """Write the student version of every notebook in ``source_dir`` into ``out_dir``.

    All notebooks are checked before any is written, so a bad marker leaves ``out_dir`` as it
    was. Existing student versions of the same names in ``out_dir`` are replaced.

    Raises:
        ValueError: ``out_dir`` is ``source_dir`` (that would overwrite the solutions), a
            notebook cannot be read, or a marker is unbalanced.
        FileNotFoundError: ``source_dir`` is missing or holds no notebook.
    """
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    if not source_dir.is_dir():
        raise FileNotFoundError(f"No folder {source_dir}. Pass the folder of instructor notebooks.")
    if out_dir.resolve() == source_dir.resolve():
        raise ValueError(
            f"--out {out_dir} is the source folder; releasing there would overwrite the "
            "solutions. Pass another folder, for example --out release/."
        )
    sources = sorted(source_dir.glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"No notebooks (*.ipynb) in {source_dir}.")
    released = []
    for path in sources:
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path} is not a readable notebook: {err}.") from err
        released.append((path, *release_notebook(notebook, str(path))))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path, student, replaced in released:
        target = out_dir / path.name
        target.write_text(json.dumps(student, indent=1, ensure_ascii=False) + "\n", "utf-8")
        written.append(ReleasedNotebook(path, target, replaced))
    return written
