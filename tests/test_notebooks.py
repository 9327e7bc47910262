"""The lab notebooks as committed: one skeleton, full-run outputs, no errors, reasonable size.

nbval re-executes them (see pyproject.toml); these tests check what students open.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
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


# --- Parameters: one cell tagged "parameters", as papermill expects -------------------------

TRAINING_NOTEBOOKS = [path for path in NOTEBOOKS if path.name[:2] != "01"]


def _parameters(notebook) -> dict:
    tagged = [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", [])
    ]
    assert len(tagged) == 1, "exactly one code cell must be tagged 'parameters'"
    module = ast.parse(tagged[0].source)
    values = {}
    for statement in module.body:
        # papermill and students read plain NAME = literal lines
        assert isinstance(statement, ast.Assign) and len(statement.targets) == 1
        values[statement.targets[0].id] = ast.literal_eval(statement.value)
    return values


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_one_parameters_cell_first_with_the_notebooks_knobs(path):
    notebook = _load(path)
    parameters = _parameters(notebook)
    expected = (
        {"SEED"}
        if path not in TRAINING_NOTEBOOKS
        else {"EPOCHS", "SEED", "BATCH_SIZE", "LATENT_DIM"}
    )
    assert expected <= parameters.keys()
    first_code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "parameters" in first_code.metadata.get("tags", [])
    setup = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    for name, keyword in [("EPOCHS", "num_epochs"), ("SEED", "seed"), ("BATCH_SIZE", "batch_size")]:
        if name in parameters:
            assert f"{keyword}={name}" in setup, f"{name} must reach labkit.load_settings"


def test_papermill_parameters_win_over_quick_mode(tmp_path):
    # The command instructors and pipelines run; conftest sets LABKIT_QUICK=1 (2 epochs).
    executed = tmp_path / "02_autoencoder.ipynb"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(NOTEBOOK_DIR / "02_autoencoder.ipynb"),
            str(executed),
            "-p",
            "EPOCHS",
            "1",
            "-p",
            "SEED",
            "7",
            "--cwd",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    notebook = _load(executed)
    results = labkit.read_results(notebook)
    assert results["epochs"] == 1 and results["seed"] == 7
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert "quick mode: 1 epoch, seed 7, batch size 128" in printed
    # Keras's fit log (verbose=2): one "steps/steps - seconds - loss: ..." line per epoch
    assert len(re.findall(r"^\d+/\d+ - .* - loss: ", printed, flags=re.MULTILINE)) == 1
    injected = [
        cell for cell in notebook.cells if "injected-parameters" in cell.metadata.get("tags", [])
    ]
    assert len(injected) == 1 and "EPOCHS = 1" in injected[0].source
