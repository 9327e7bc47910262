"""labkit.runner and ``labkit run``: notebooks executed headless, failures reported."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labkit.cli import main
from labkit.runner import find_notebooks, run_notebook, summary_table


def _write(path, *sources):
    notebook = new_notebook(cells=[new_code_cell(source) for source in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, path)
    return path


def test_run_notebook_saves_outputs_and_results(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_QUICK", "1")
    source = _write(
        tmp_path / "01_ok.ipynb",
        "import os\nprint(os.environ.get('LABKIT_QUICK'))",
        "import labkit\nlabkit.report_results({'answer': 42})",
    )
    run = run_notebook(source, tmp_path / "out" / "01_ok.ipynb")
    assert run.ok and run.results == {"answer": 42}
    executed = nbformat.read(tmp_path / "out" / "01_ok.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"].strip() == "1"  # the environment reached it
    assert "answer" in summary_table([run])


def test_a_failing_cell_is_reported_and_the_copy_kept(tmp_path):
    source = _write(tmp_path / "02_bad.ipynb", "x = 1", "1 / 0", "print('never')")
    run = run_notebook(source, tmp_path / "out" / "02_bad.ipynb")
    assert not run.ok and "ZeroDivisionError" in run.error
    executed = nbformat.read(tmp_path / "out" / "02_bad.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["output_type"] == "error"
    assert "FAILED" in summary_table([run])


def test_find_notebooks_in_order_and_refuses_an_empty_folder(tmp_path):
    for name in ("02_b.ipynb", "01_a.ipynb", "notes.ipynb"):
        _write(tmp_path / name, "pass")
    assert [path.name for path in find_notebooks(tmp_path)] == ["01_a.ipynb", "02_b.ipynb"]
    with pytest.raises(FileNotFoundError, match="No lab notebooks"):
        find_notebooks(tmp_path / "empty")


def test_labkit_run_exit_status(tmp_path, mnist_dir, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_DATA_DIR", str(mnist_dir))
    assert main(["run", "--notebooks", str(tmp_path)]) == 2
    assert "No lab notebooks" in capsys.readouterr().err
    _write(tmp_path / "01_bad.ipynb", "raise RuntimeError('broken lab')")
    assert main(["run", "--notebooks", str(tmp_path), "--output", str(tmp_path / "out")]) == 1
    assert "broken lab" in capsys.readouterr().out


def test_update_notebooks_needs_full_mode(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_QUICK", "1")
    assert main(["run", "--notebooks", str(tmp_path), "--update-notebooks"]) == 2
    assert "needs a full run" in capsys.readouterr().err
