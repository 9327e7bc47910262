"""Reading notebook files as the instructor's tools need: defensively, without TensorFlow.

Students' notebooks may be damaged in any way, so every reader here accepts any JSON and
reports what it cannot use. The MIME types are the contract with ``labkit.report_results`` and
``labkit.report_check``, which write them (a test checks that both packages spell them alike).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

__all__ = [
    "CHECK_MIME_TYPE",
    "RESULTS_MIME_TYPE",
    "NotGradable",
    "headings_before",
    "multiline_text",
    "read_checks",
    "read_notebook_file",
    "read_results",
    "text_table",
]

RESULTS_MIME_TYPE = "application/vnd.labkit.results+json"
_STEP_HEADING = re.compile(r"^#{2,3}\s+(.+)$", re.MULTILINE)
CHECK_MIME_TYPE = "application/vnd.labkit.check+json"


class NotGradable(ValueError):
    """A student's file cannot be graded; the message says why and what to do."""


def multiline_text(value: object) -> str:
    """A notebook's text field as one string: files store sources and outputs either as one
    string or as a list of lines; anything else (a damaged file) reads as empty."""
    if isinstance(value, list):
        return "".join(part for part in value if isinstance(part, str))
    return value if isinstance(value, str) else ""


def _rich_outputs(notebook: Mapping, mime_type: str) -> Iterator[Mapping]:
    # Every stored output of ``mime_type`` in a notebook, read defensively: grading reads
    # students' files, which may be damaged in any way.
    cells = notebook.get("cells", [])
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, Mapping) or cell.get("cell_type") != "code":
            continue
        outputs = cell.get("outputs", [])
        for output in outputs if isinstance(outputs, list) else []:
            data = output.get("data", {}) if isinstance(output, Mapping) else {}
            if isinstance(data, Mapping) and isinstance(data.get(mime_type), Mapping):
                yield data[mime_type]


def read_results(notebook: Mapping) -> dict[str, float | int | str]:
    """The numbers that :func:`report_results` stored in an executed notebook (``{}`` if none)."""
    found: dict[str, float | int | str] = {}
    for results in _rich_outputs(notebook, RESULTS_MIME_TYPE):
        found.update(results)
    return found


def read_checks(notebook: Mapping) -> dict[str, dict]:
    """The exercise outcomes :func:`report_check` stored: ``{name: {"passed", "checks"}}``."""
    found: dict[str, dict] = {}
    for record in _rich_outputs(notebook, CHECK_MIME_TYPE):
        name, checks = record.get("name"), record.get("checks")
        if isinstance(name, str) and isinstance(checks, Mapping):
            found[name] = {"passed": record.get("passed") is True, "checks": dict(checks)}
    return found


def _check_structure(notebook: object) -> dict:
    if not isinstance(notebook, dict) or not ("cells" in notebook or "nbformat" in notebook):
        raise NotGradable("the file is JSON but not a Jupyter notebook (it has no cells).")
    version = notebook.get("nbformat")
    if version != 4:
        raise NotGradable(
            f"the notebook is in format version {version!r}, and the kit reads version 4 "
            "(JupyterLab 3 and later). Open it in JupyterLab, save it, and submit it again."
        )
    if not isinstance(notebook.get("cells"), list):
        raise NotGradable("the notebook's 'cells' is not a list; the file is damaged.")
    for index, cell in enumerate(notebook["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise NotGradable(f"cell {index} is damaged (it has no valid cell_type).")
        if not isinstance(cell.get("source", ""), str | list):
            raise NotGradable(f"cell {index} is damaged (its source is not text).")
    return notebook


def read_notebook_file(path: Path, max_megabytes: float) -> dict:
    """The notebook at ``path`` as JSON, checked for the structure graders rely on.

    Raises:
        NotGradable: The file is too large, unreadable, not JSON, or not an nbformat 4
            notebook (the message says what to do).
    """
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


def headings_before(cells: Sequence[Mapping]) -> list[str]:
    """For each cell, the last step heading (``##`` or ``###``) above it, or ``""``."""
    heading, headings = "", []
    for cell in cells:
        headings.append(heading)
        if cell.get("cell_type") == "markdown":
            found = _STEP_HEADING.findall(multiline_text(cell.get("source")))
            heading = found[-1].strip() if found else heading
    return headings


def text_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table of ``str(value)`` cells, each column aligned to its widest cell."""
    cells = [list(map(str, header)), *([str(value) for value in row] for row in rows)]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
