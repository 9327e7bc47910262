"""Tables for people and results for programs: what a notebook found, in both forms.

:func:`report_results` and :func:`report_check` show a table and store the same record under a
MIME type of their own, which ``labkit_instructor`` reads to summarise and grade.
"""

from __future__ import annotations

import numbers
import os
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np

# Set by nbgrader while it autogrades or validates: a failed exercise must then raise.
NBGRADER_EXECUTION_ENV = "NBGRADER_EXECUTION"
RESULTS_MIME_TYPE = "application/vnd.labkit.results+json"
CHECK_MIME_TYPE = "application/vnd.labkit.check+json"


def _format_value(value: object, decimals: int = 2) -> str:
    """A float to 4 significant digits below 1, else to ``decimals`` places; others as ``str``."""
    # numbers.Real and not Integral: Python and NumPy floats alike (np.float32 is no float).
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        value = float(value)
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.{decimals}f}"
    return str(value)


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table, columns aligned right, floats written by :func:`_format_value`."""
    cells = [list(header)] + [[_format_value(value) for value in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    lines = [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


class _Results:
    """Displays as a table in a notebook and carries the numbers as JSON."""

    def __init__(self, results: Mapping[str, float | int | str]) -> None:
        self.results = dict(results)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        text = format_table(["result", "value"], list(self.results.items()))
        return {"text/plain": text, RESULTS_MIME_TYPE: self.results}


def report_results(results: Mapping[str, float | int | str]) -> _Results:
    """The notebook's headline numbers ``{name: value}``, units in the names: shown as a table
    and stored as JSON. Raises ValueError for a value that is not a number or a string."""
    # NumPy scalars become Python numbers, so that the JSON is plain.
    plain = {k: v.item() if isinstance(v, np.generic) else v for k, v in results.items()}
    for name, value in plain.items():
        if not isinstance(value, int | float | str) or isinstance(value, bool):
            raise ValueError(
                f"result values must be numbers or strings. Received: {name}={value!r}."
            )
    return _Results(plain)


class _Check:
    """Displays an exercise's checks as PASS/FAIL lines and carries them as JSON."""

    def __init__(self, name: str, checks: Mapping[str, bool], advice: str | None = None) -> None:
        self.name = name
        self.checks = dict(checks)
        self.advice = advice

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        passed = sum(self.checks.values())
        lines = [
            f"exercise {self.name}: {'PASS' if self.passed else 'FAIL'} "
            f"({passed} of {len(self.checks)} checks)"
        ]
        lines += [f"  {'PASS' if ok else 'FAIL'}  {what}" for what, ok in self.checks.items()]
        if self.advice and not self.passed:
            lines += ["", *textwrap.wrap(f"What to fix: {self.advice}", width=96)]
        record = {"name": self.name, "passed": self.passed, "checks": self.checks}
        if self.advice and not self.passed:
            record["advice"] = self.advice
        return {"text/plain": "\n".join(lines), CHECK_MIME_TYPE: record}


def report_check(name: str, checks: Mapping[str, object], advice: str | None = None) -> _Check:
    """An exercise's checks ``{what is checked: whether it held}``, shown as PASS/FAIL lines
    (with ``advice`` under a failure) and stored for grading.

    Raises:
        ValueError: ``name`` or ``checks`` is empty, or a check is not a boolean.
        AssertionError: Under nbgrader only (``NBGRADER_EXECUTION`` set), a check failed.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string. Received: name={name!r}.")
    if not checks:
        raise ValueError(f"exercise {name!r} needs at least one check. Received: checks={{}}.")
    plain = {}
    for what, held in checks.items():
        if not isinstance(held, bool | np.bool_):
            raise ValueError(
                f"each check must be True or False. Received: {what!r}: {held!r} "
                f"({type(held).__name__}); compare explicitly, e.g. np.allclose(a, b)."
            )
        plain[str(what)] = bool(held)
    check = _Check(name.strip(), plain, advice)
    if not check.passed and os.environ.get(NBGRADER_EXECUTION_ENV):
        failed = "; ".join(what for what, held in plain.items() if not held)
        raise AssertionError(
            f"exercise {check.name} fails: {failed}" + (f". {advice}" if advice else "")
        )
    return check
