"""Reading notebook files as the instructor's tools need: defensively, without TensorFlow.

Students' notebooks may be damaged in any way, so every reader here accepts any JSON and
reports what it cannot use. The MIME types are the contract with ``labkit.report_results`` and
``labkit.reporting.report_check``, which write them (a test checks that both packages spell
them alike).
"""

from __future__ import annotations

import errno
import functools
import json
import operator
import os
import re
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

__all__ = [
    "CHECK_MIME_TYPE",
    "LINK_REFUSAL",
    "RESULTS_MIME_TYPE",
    "NotGradable",
    "headings_before",
    "list_notebooks",
    "multiline_text",
    "printable",
    "read_checks",
    "read_notebook_file",
    "read_results",
    "read_submission_bytes",
    "text_table",
]

RESULTS_MIME_TYPE = "application/vnd.labkit.results+json"
_STEP_HEADING = re.compile(r"^#{2,3}\s+(.+)$", re.MULTILINE)
CHECK_MIME_TYPE = "application/vnd.labkit.check+json"


class NotGradable(ValueError):
    """A student's file cannot be graded; the message says why and what to do."""


def printable(text: str) -> str:
    """``text`` as it can be written in UTF-8 anywhere: a lone surrogate (from a student's file or
    file name) becomes its escape (``\\udc80``) instead of stopping a write."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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


LINK_REFUSAL = "the submission is a link: submit the notebook itself (links are never followed)."
_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a pipe (FIFO)", stat.S_IFSOCK: "a socket"}


def _not_regular(mode: int) -> NotGradable:
    kind = _KINDS.get(stat.S_IFMT(mode), "a device or other special file")
    return NotGradable(
        f"the submission is not a regular file (it is {kind}): submit the notebook file itself."
    )


def _too_large(size: str, max_megabytes: float) -> NotGradable:
    return NotGradable(
        f"the file is {size}, over the grader's limit of {max_megabytes:g} MB (a lab notebook "
        "with its figures is under 1 MB). It probably prints or displays very large outputs; "
        "clear those cells' outputs, or raise the limit with --max-megabytes."
    )


def _refuse_links_and_specials(path: Path) -> None:
    """Refuse a link or a non-regular file from its own entry (lstat: nothing is followed).

    Also the whole check where ``os.O_NOFOLLOW`` does not exist (Windows)."""
    try:
        mode = Path(path).lstat().st_mode
    except OSError as err:
        raise NotGradable(f"the file cannot be read: {err.strerror}.") from err
    if stat.S_ISLNK(mode):
        raise NotGradable(LINK_REFUSAL)
    if not stat.S_ISREG(mode):
        raise _not_regular(mode)


def _open_flags() -> int:
    # Read at call time, so that a test can take O_NOFOLLOW away as on Windows.
    names = ("O_RDONLY", "O_NOFOLLOW", "O_NONBLOCK", "O_BINARY")
    return functools.reduce(operator.or_, (getattr(os, name, 0) for name in names))


def read_submission_bytes(path: Path, max_megabytes: float) -> bytes:
    """The bytes of a submitted file, never through a link, at most ``max_megabytes``.

    Raises:
        NotGradable: The path is a link or not a regular file, cannot be read, or is too large.
    """
    _refuse_links_and_specials(path)
    limit = int(max_megabytes * 1024 * 1024)
    try:
        descriptor = os.open(path, _open_flags())
    except OSError as err:  # ELOOP: it became a link after the check above
        if err.errno in (errno.ELOOP, errno.EMLINK):
            raise NotGradable(LINK_REFUSAL) from err
        raise NotGradable(f"the file cannot be read: {err.strerror}.") from err
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(info.st_mode)
        if info.st_size > limit:
            raise _too_large(f"{info.st_size / 1024 / 1024:.3g} MB", max_megabytes)
        data = file.read(limit + 1)
    if len(data) > limit:
        raise _too_large("larger than that", max_megabytes)
    return data


def read_notebook_file(path: Path, max_megabytes: float) -> dict:
    """The notebook at ``path`` as JSON, checked for the structure graders rely on.

    The file is read as :func:`read_submission_bytes` reads it: never through a link.

    Raises:
        NotGradable: The file is a link, not a regular file, too large, unreadable, not JSON,
            or not an nbformat 4 notebook (the message says what to do).
    """
    data = read_submission_bytes(path, max_megabytes)
    try:
        notebook = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise NotGradable(f"the file is not a notebook: it is not UTF-8 text ({err}).") from err
    except json.JSONDecodeError as err:
        raise NotGradable(
            f"the file is not a notebook: it is not valid JSON ({err.msg} at line {err.lineno}, "
            f"column {err.colno}). Was it saved from JupyterLab, or edited by hand?"
        ) from err
    return _check_structure(notebook)


def list_notebooks(folder: Path) -> list[Path]:
    """Every ``*.ipynb`` below ``folder`` (hidden folders skipped), sorted.

    Links are listed, never followed: those named ``*.ipynb`` and those to folders, so that
    each gets a row that refuses it. A folder that cannot be listed is listed itself.
    """
    found: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return [Path(folder)]
    for entry in entries:
        path = Path(entry.path)
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            if entry.name.endswith(".ipynb") or path.is_dir():
                found.append(path)
        elif entry.is_dir(follow_symlinks=False):
            found += list_notebooks(path)
        elif entry.name.endswith(".ipynb"):
            found.append(path)
    return sorted(found)


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
