"""labkit_instructor.runner and ``labkit run``: notebooks executed headless, failures reported."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labkit_instructor.cli import main
from labkit_instructor.runner import (
    NotebookRun,
    RunProgress,
    expected_seconds,
    find_notebooks,
    run_notebook,
    summary_table,
)


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
        # labkit.report_results through its own module: the kernel need not load the whole kit
        "import labkit.reporting\nlabkit.reporting.report_results({'answer': 42})",
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


def test_the_summary_lines_up_every_result_however_long_its_name():
    long_name = "conditional_2d_first_epoch_train_loss_nats"  # Lab 07's longest, 42 characters
    runs = [
        NotebookRun("01_a.ipynb", 3.0, results={"seed": 42}),
        NotebookRun("07_b.ipynb", 5.0, results={long_name: 130.79, "epochs": 10}),
    ]
    lines = [line for line in summary_table(runs).splitlines() if line.startswith("  ")]
    assert [line.split() for line in lines] == [
        ["seed", "42"],
        [long_name, "130.8"],
        ["epochs", "10"],
    ]
    assert len({line.rindex(" ") for line in lines}) == 1  # the values start in one column


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


# --- Progress: the cell being run, and the time left ----------------------------------------


def test_run_notebook_reports_each_code_cell_and_records_its_time(tmp_path):
    notebook = new_notebook(
        cells=[
            new_markdown_cell("## Code\n\n### Step 1 · Setup"),
            new_code_cell("x = 1"),
            new_markdown_cell("### Step 2 · Train"),
            new_code_cell("y = x + 1"),
            new_code_cell("print(y)"),
        ]
    )
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    source = tmp_path / "01_steps.ipynb"
    nbformat.write(notebook, source)
    seen = []
    run = run_notebook(
        source, tmp_path / "out" / source.name, mode="quick", on_cell=lambda *a: seen.append(a)
    )
    assert run.ok
    assert seen == [(1, 3, "Step 1 · Setup"), (2, 3, "Step 2 · Train"), (3, 3, "Step 2 · Train")]
    assert expected_seconds(tmp_path / "out" / source.name, "quick") is not None
    assert expected_seconds(tmp_path / "out" / source.name, "full") is None
    assert expected_seconds(source, "quick") is None  # the source is not touched


def test_a_failed_run_records_no_time(tmp_path):
    source = _write(tmp_path / "02_bad.ipynb", "1 / 0")
    run_notebook(source, tmp_path / "out" / source.name, mode="quick")
    assert expected_seconds(tmp_path / "out" / source.name, "quick") is None


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_estimates_the_time_left_and_adapts_to_this_run():
    clock, stream = _Clock(), io.StringIO()
    progress = RunProgress(
        {"01_a.ipynb": 10.0, "02_b.ipynb": 30.0}, stream=stream, interval=15.0, clock=clock
    )
    assert progress.seconds_left() == 40.0
    progress.start_notebook("01_a.ipynb")
    clock.now = 4.0
    progress.cell(1, 5, "Step 1 · Setup")
    assert progress.seconds_left() == 36.0  # 6 s of the first notebook, all of the second
    clock.now = 10.0
    progress.cell(2, 5, "Step 2")  # within 15 s of the last line: not printed (no terminal)
    clock.now = 20.0
    progress.finish_notebook("01_a.ipynb", 20.0)  # twice as slow as recorded
    progress.start_notebook("02_b.ipynb")
    assert progress.seconds_left() == 60.0  # 30 s recorded, at this run's pace
    clock.now = 50.0
    progress.cell(3, 8, "Step 7 · Train, with the kit's training recipe and much more")
    assert progress.seconds_left() == 30.0
    assert stream.getvalue().splitlines() == [
        "  01_a.ipynb: cell 1/5 (Step 1 · Setup), about 36 s left",
        "  02_b.ipynb: cell 3/8 (Step 7 · Train, with the kit's training…), about 30 s left",
    ]


def test_progress_without_a_record_says_no_time():
    stream = io.StringIO()
    progress = RunProgress({"01_a.ipynb": 10.0, "02_new.ipynb": None}, stream=stream)
    assert progress.seconds_left() is None
    progress.start_notebook("01_a.ipynb")
    progress.cell(1, 2, "")
    assert stream.getvalue() == "  01_a.ipynb: cell 1/2\n"


def test_progress_redraws_one_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    clock, stream = _Clock(), Terminal()
    progress = RunProgress({"01_a.ipynb": 10.0}, stream=stream, clock=clock)
    progress.start_notebook("01_a.ipynb")
    for number in (1, 2, 3):
        progress.cell(number, 3, "")
    progress.finish_notebook("01_a.ipynb", 1.0)
    assert "\n" not in stream.getvalue()
    assert stream.getvalue().count("\r\033[K") == 4
    assert stream.getvalue().endswith("\r\033[K")


def test_the_committed_notebooks_carry_the_time_of_their_full_run():
    notebooks = find_notebooks(Path(__file__).resolve().parent.parent / "notebooks")
    assert all(expected_seconds(path, "full") for path in notebooks)
