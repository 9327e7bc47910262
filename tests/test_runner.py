"""labkit.runner and ``labkit run``: notebooks executed headless, failures reported."""

from __future__ import annotations

import json
import sys
from pathlib import Path

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
    assert main(["run", str(tmp_path)]) == 2
    assert "No lab notebooks" in capsys.readouterr().err
    _write(tmp_path / "01_bad.ipynb", "raise RuntimeError('broken lab')")
    assert main(["run", str(tmp_path), "--output", str(tmp_path / "out")]) == 1
    assert "broken lab" in capsys.readouterr().out


def test_update_notebooks_needs_full_mode(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_QUICK", "1")
    assert main(["run", str(tmp_path), "--update-notebooks"]) == 2
    assert "needs a full run" in capsys.readouterr().err


def test_notebooks_run_on_this_python_whatever_kernelspecs_say(tmp_path, monkeypatch):
    # A laptop often has a user-wide "python3" kernel spec from another install (conda base, an
    # old Python); Jupyter would start that one, which cannot import labkit or no longer exists.
    stale = tmp_path / "jupyter-data" / "kernels" / "python3"
    stale.mkdir(parents=True)
    (stale / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    str(tmp_path / "no-such-python"),
                    "-m",
                    "ipykernel",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "Python 3 (gone)",
                "language": "python",
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(stale.parent.parent))
    monkeypatch.setenv("JUPYTER_PATH", str(stale.parent.parent))
    source = _write(tmp_path / "01_where.ipynb", "import sys\nprint(sys.executable)")

    run = run_notebook(source, tmp_path / "out" / "01_where.ipynb")

    assert run.ok, run.error
    executed = nbformat.read(tmp_path / "out" / "01_where.ipynb", as_version=4)
    assert Path(executed.cells[0].outputs[0]["text"].strip()) == Path(sys.executable)


def test_data_dir_option_reaches_the_notebooks_kernels(tmp_path, mnist_dir, monkeypatch, capsys):
    # What `make run` does with ../shared/data/mnist, as an option that works without make.
    monkeypatch.setenv("LABKIT_DATA_DIR", "")  # restored afterwards; --data-dir must set it
    monkeypatch.setenv("LABKIT_QUICK", "1")
    folder = tmp_path / "labs"
    folder.mkdir()
    _write(folder / "01_data.ipynb", "import os\nprint(os.environ['LABKIT_DATA_DIR'])")

    status = main(
        ["run", str(folder), "--data-dir", str(mnist_dir), "--output", str(tmp_path / "out")]
    )

    assert status == 0
    assert f"MNIST source      {mnist_dir.resolve()}" in capsys.readouterr().out
    executed = nbformat.read(tmp_path / "out" / "01_data.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"].strip() == str(mnist_dir.resolve())
