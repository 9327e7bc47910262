"""Tables for people and results for programs: what a notebook found, in both forms.

:func:`report_results` ends each notebook. It shows a small table, and stores the same numbers
under the MIME type ``application/vnd.labkit.results+json`` in the cell's output, where
``labkit run`` reads them for its summary and instructors' tools read them for grading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["RESULTS_MIME_TYPE", "format_table", "history_table", "read_results", "report_results"]

RESULTS_MIME_TYPE = "application/vnd.labkit.results+json"


def _format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with aligned columns (floats to 2 decimals, or 4 significant digits)."""
    cells = [list(header)] + [[_format_value(value) for value in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    lines = [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def history_table(history: Mapping[str, Sequence[float]]) -> str:
    """The Keras history as a table: one row per epoch, one column per logged loss."""
    names = list(history)
    num_epochs = len(history[names[0]]) if names else 0
    rows = [[epoch + 1, *(history[name][epoch] for name in names)] for epoch in range(num_epochs)]
    return format_table(["epoch", *names], rows)


class _Results:
    """Displays as a table in a notebook and carries the numbers as JSON."""

    def __init__(self, results: Mapping[str, float | int | str]) -> None:
        self.results = dict(results)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        text = format_table(["result", "value"], list(self.results.items()))
        return {"text/plain": text, RESULTS_MIME_TYPE: self.results}


def report_results(results: Mapping[str, float | int | str]) -> _Results:
    """The notebook's headline numbers; end the Result section's cell with this call.

    Args:
        results: ``{name: value}``, with units in the names (``test_negative_elbo_nats``).

    Returns:
        An object that a notebook displays as a table and saves as JSON.
    """
    plain = {name: _plain(value) for name, value in results.items()}
    for name, value in plain.items():
        if not isinstance(value, int | float | str) or isinstance(value, bool):
            raise ValueError(
                f"result values must be numbers or strings. Received: {name}={value!r}."
            )
    return _Results(plain)


def _plain(value: float | int | str) -> float | int | str:
    # NumPy scalars become Python numbers, so that the JSON is plain.
    return value.item() if isinstance(value, np.generic) else value


def read_results(notebook: Mapping) -> dict[str, float | int | str]:
    """The numbers that :func:`report_results` stored in an executed notebook (``{}`` if none)."""
    found: dict[str, float | int | str] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data", {}) if isinstance(output, Mapping) else {}
            if isinstance(data.get(RESULTS_MIME_TYPE), Mapping):
                found.update(data[RESULTS_MIME_TYPE])
    return found
