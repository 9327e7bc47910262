"""The lab notebooks as committed: one skeleton, full-run outputs, no errors, reasonable size.

nbval re-executes them (see pyproject.toml); these tests check what students open.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

import labkit

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
SECTIONS = ["Aim", "Theory", "Algorithm", "Code", "Observations", "Result", "Exercises"]
MAX_NOTEBOOK_BYTES = 3 * 1024 * 1024
MARKER = re.compile(r"#\s*NBVAL_\w+")


def _load(path: Path):
    return nbformat.read(path, as_version=4)


def test_the_five_labs_are_there_in_order():
    assert [path.name[:2] for path in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_lab_record_sections_in_order(path):
    notebook = _load(path)
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# Lab {path.name[:2]} ·")
    headings = [
        line[3:].strip()
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("## ")
    ]
    assert headings == SECTIONS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_stored_outputs_come_from_one_clean_run(path):
    notebook = _load(path)
    assert notebook.metadata.kernelspec.name == "python3"
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code_cells] == list(range(1, len(code_cells) + 1))
    for cell in code_cells:
        assert not [output for output in cell.outputs if output.output_type == "error"], cell.source
        streams = [output for output in cell.outputs if output.output_type == "stream"]
        assert all(output.name == "stdout" for output in streams), cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_checked_cells_passed_and_markers_stand_alone(path):
    for cell in _load(path).cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if MARKER.search(line):
                # nbval silently ignores a marker that shares its line with code.
                assert MARKER.fullmatch(line.strip()), line
        if "# NBVAL_CHECK_OUTPUT" in cell.source:
            text = "".join(
                output.get("text", "") + output.get("data", {}).get("text/plain", "")
                for output in cell.outputs
            )
            assert text and "FAIL" not in text, cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_full_run_results_and_written_observations(path):
    notebook = _load(path)
    results = labkit.read_results(notebook)
    assert results, "the Result section must end with labkit.report_results(...)"
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "TO BE WRITTEN" not in text
    if "test_images" in results:
        assert results["test_images"] == 10_000  # committed from a full run, not quick mode


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_size(path):
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES
