"""The ``labkit`` command."""

from __future__ import annotations

import csv
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit_instructor import load_rubrics
from labkit_instructor.cli import main


def test_check_loads_and_verifies_mnist(mnist_dir, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_DATA_DIR", str(mnist_dir))
    monkeypatch.setenv("LABKIT_QUICK", "1")
    assert main(["check"]) == 0
    printed = capsys.readouterr().out
    assert "MNIST (checksums verified)" in printed
    assert "(6000, 784) float32, pixels 0..1" in printed
    assert "mode" in printed and "quick" in printed


@pytest.mark.parametrize("given", ["missing folder", "missing npz", "IDX file", "renamed IDX file"])
def test_a_bad_data_path_exits_2_with_the_loaders_message(
    given, mnist_dir, tmp_path, monkeypatch, capsys
):
    import labkit

    path = {"missing folder": tmp_path / "missing", "missing npz": tmp_path / "mnist.npz"}
    path["IDX file"] = mnist_dir / "train-images-idx3-ubyte.gz"
    path["renamed IDX file"] = tmp_path / "digits.bin"  # known by its gzip magic number
    shutil.copyfile(path["IDX file"], path["renamed IDX file"])
    monkeypatch.setenv("LABKIT_DATA_DIR", str(path[given]))
    assert main(["check"]) == 2  # stopped by the command's own check, before TensorFlow
    error = capsys.readouterr().err
    with pytest.raises(labkit.data.MnistDataError) as caught:
        labkit.load_mnist()
    assert error == f"labkit check: error: {caught.value}\n"
    assert str(path[given]) in error and "LABKIT_DATA_DIR" in error


def test_a_bad_data_path_stops_the_command_before_tensorflow_starts(mnist_dir, tmp_path):
    typo, one_idx_file = tmp_path / "mnsit", mnist_dir / "t10k-labels-idx1-ubyte.gz"
    code = (
        "import os, sys, time\n"
        "from labkit_instructor.cli import main\n"
        "started = time.perf_counter()\n"
        f"statuses = [main(['check', '--data-dir', {str(typo)!r}]),\n"
        f"            main(['run', '--data-dir', {str(one_idx_file)!r}])]\n"
        f"os.environ['LABKIT_DATA_DIR'] = {str(typo)!r}\n"
        "statuses.append(main(['run']))\n"
        "print(statuses, 'tensorflow' in sys.modules, round(time.perf_counter() - started, 2))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    statuses, tensorflow_started, seconds = run.stdout.rsplit(maxsplit=2)
    assert (statuses, tensorflow_started) == ("[2, 2, 2]", "False"), run.stderr
    assert float(seconds) < 3  # TensorFlow alone takes longer to start
    assert run.stderr.splitlines() == [
        f"labkit check: error: MNIST not found: {typo} does not exist. Set --data-dir to a "
        "folder holding the four MNIST IDX files (raw or .gz) or Keras's mnist.npz, or leave "
        "--data-dir out to load MNIST through keras.datasets.mnist.",
        f"labkit run: error: {one_idx_file} is one MNIST IDX file, not a folder: set --data-dir "
        f"to the folder that holds the four IDX files, {mnist_dir}.",
        f"labkit run: error: MNIST not found: {typo} does not exist. Set LABKIT_DATA_DIR to a "
        "folder holding the four MNIST IDX files (raw or .gz) or Keras's mnist.npz, or leave "
        "LABKIT_DATA_DIR out to load MNIST through keras.datasets.mnist.",
    ]


def test_bad_quick_flag_exits_2(monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_QUICK", "maybe")
    assert main(["check"]) == 2
    assert "LABKIT_QUICK must be 1 or 0" in capsys.readouterr().err


def test_python_dash_m_shows_usage():
    result = subprocess.run(
        [sys.executable, "-m", "labkit", "--help"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    )
    assert "usage: labkit" in result.stdout and "run" in result.stdout and "check" in result.stdout


NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
LAB_03_POINTS = f"{load_rubrics()['03_vae'].max_points:g}"  # what a full marks copy earns


def test_grade_writes_a_table_csv_and_feedback_and_goes_on_past_bad_files(tmp_path, capsys):
    submissions = tmp_path / "submissions"
    for student in ("alice", "bob", "carol"):
        (submissions / student).mkdir(parents=True)
    shutil.copy(NOTEBOOK_DIR / "03_vae.ipynb", submissions / "alice" / "03_vae.ipynb")
    (submissions / "bob" / "03_vae.ipynb").write_text('{"cells": [', encoding="utf-8")
    old = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}
    (submissions / "carol" / "03_vae.ipynb").write_text(json.dumps(old), encoding="utf-8")
    before = {path: path.read_bytes() for path in submissions.rglob("*.ipynb")}

    status = main(
        [
            "grade",
            str(submissions),
            "--csv",
            str(tmp_path / "grades.csv"),
            "--feedback",
            str(tmp_path / "feedback"),
        ]
    )

    assert status == 0  # low grades and bad files are results, not usage errors
    printed = capsys.readouterr().out
    assert "Grading 3 notebook(s)" in printed and f"{LAB_03_POINTS}/{LAB_03_POINTS}" in printed
    with (tmp_path / "grades.csv").open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [Path(row["notebook"]).parent.name for row in rows] == ["alice", "bob", "carol"]
    alice, bob, carol = rows
    assert [row["student_id"] for row in rows] == ["alice", "bob", "carol"]
    assert alice["total"] == alice["max"] == LAB_03_POINTS and alice["exercise_sampling"] == "5"
    assert alice["percent"] == "100.0"
    assert bob["status"].startswith("not graded: the file is not a notebook: it is not valid JSON")
    assert "format version 3" in carol["status"] and carol["total"] == ""
    feedback = sorted(path.name for path in (tmp_path / "feedback").iterdir())
    assert feedback == ["alice__03_vae.txt", "bob__03_vae.txt", "carol__03_vae.txt"]
    assert f"{LAB_03_POINTS} of {LAB_03_POINTS} points" in (
        tmp_path / "feedback" / "alice__03_vae.txt"
    ).read_text(encoding="utf-8")
    assert {path: path.read_bytes() for path in submissions.rglob("*.ipynb")} == before


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["grade", "missing-folder"], "No file or folder missing-folder"),
        (["grade", "notebooks", "--lab", "07_gan"], "no rubric for lab '07_gan'"),
        (["release", "notebooks", "--out", "notebooks"], "would overwrite the solutions"),
    ],
)
def test_instructor_commands_exit_2_on_usage_errors(arguments, message, capsys):
    assert main(arguments) == 2
    assert message in capsys.readouterr().err


def test_release_writes_student_versions(tmp_path, capsys):
    assert main(["release", str(NOTEBOOK_DIR), "--out", str(tmp_path)]) == 0
    assert "solutions replaced" in capsys.readouterr().out
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        path.name for path in NOTEBOOK_DIR.glob("*.ipynb")
    )


def test_a_narrow_console_encoding_does_not_crash_the_cli(tmp_path):
    # A Windows pipe or file gets the ANSI code page (cp1252 here), not UTF-8; a path with
    # characters outside it must still be reported, not crash the command.
    folder = tmp_path / "données ≤ 2π"
    result = subprocess.run(
        [sys.executable, "-m", "labkit", "check"],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "cp1252", "LABKIT_DATA_DIR": str(folder)},
        cwd=tmp_path,
    )
    error = result.stderr.decode("cp1252")
    assert result.returncode == 2, error
    assert "MNIST not found" in error and "UnicodeEncodeError" not in error
    assert "donn\xe9es \\u2264 2\\u03c0" in error  # é is in cp1252; ≤ and π are escaped


def test_import_labkit_loads_no_instructor_tool():
    code = (
        "import sys, labkit; print([m for m in sys.modules if m.startswith('labkit_instructor')])"
    )
    printed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert printed.strip() == "[]"


def test_labkit_grade_starts_without_tensorflow():
    # `labkit grade` without --execute reads JSON: no TensorFlow, and of labkit only the
    # TensorFlow-free settings (so that no name is copied between the packages).
    code = (
        "import sys; from labkit_instructor.cli import main; "
        f"main(['grade', {str(NOTEBOOK_DIR / '03_vae.ipynb')!r}]); "
        "print(sorted(m for m in ('tensorflow', 'keras', 'labkit.backend') if m in sys.modules))"
    )
    printed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert f"{LAB_03_POINTS}/{LAB_03_POINTS} points" in printed
    assert printed.strip().endswith("[]")


def test_grading_without_the_instructor_notebooks_says_to_pass_source(tmp_path, capsys):
    submission = tmp_path / "03_vae.ipynb"
    submission.write_bytes((NOTEBOOK_DIR / "03_vae.ipynb").read_bytes())
    assert main(["grade", str(submission), "--source", str(tmp_path / "nowhere")]) == 2
    assert "pass --source DIR" in capsys.readouterr().err


def test_a_memory_cap_without_the_sandbox_is_refused(capsys):
    notebook = str(NOTEBOOK_DIR / "01_setup_and_data.ipynb")
    assert main(["grade", notebook, "--memory-mb", "2000"]) == 2
    assert "--memory-mb caps the sandbox's memory" in capsys.readouterr().err
    assert main(["grade", notebook, "--execute", "--no-sandbox", "--memory-mb", "2000"]) == 2


def test_execute_without_a_sandbox_stops_unless_no_sandbox_is_passed(monkeypatch, capsys):
    monkeypatch.setattr(sys, "platform", "darwin")
    notebook = str(NOTEBOOK_DIR / "01_setup_and_data.ipynb")
    assert main(["grade", notebook, "--execute"]) == 2
    assert "Docker or Podman" in capsys.readouterr().err


def test_version_is_printed_without_starting_tensorflow():
    code = (
        "import sys\n"
        "from labkit_instructor.cli import main\n"
        "try:\n"
        "    main(['--version'])\n"
        "except SystemExit as exited:\n"
        "    print('exit', exited.code, 'tensorflow' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    version = importlib.metadata.version("vae-lab-kit")
    assert run.stdout.splitlines() == [f"labkit {version}", "exit 0 False"], run.stderr


def test_run_quick_is_quick_mode_for_the_run_and_its_kernels(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LABKIT_QUICK", raising=False)
    # --update-notebooks refuses quick mode before anything runs: proof that --quick set it.
    assert main(["run", str(tmp_path), "--quick", "--update-notebooks"]) == 2
    assert "needs a full run" in capsys.readouterr().err
    assert os.environ["LABKIT_QUICK"] == "1"  # inherited by the notebooks' kernels


def test_execute_offline_without_mnist_says_why_and_grades_nothing(monkeypatch, capsys):
    import keras

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- offline")

    monkeypatch.delenv("LABKIT_DATA_DIR", raising=False)
    monkeypatch.setattr(keras.utils, "get_file", offline)  # no cached mnist.npz, no network
    notebook = str(NOTEBOOK_DIR / "01_setup_and_data.ipynb")
    assert main(["grade", notebook, "--execute", "--no-sandbox"]) == 2
    error = capsys.readouterr().err
    assert (
        "LABKIT_DATA_DIR is not set and Keras's cache has no mnist.npz, and the download " in error
    )
    assert "failed (URL fetch failure on" in error and "Nothing was graded." in error


@pytest.mark.parametrize("quick", ["1", "0"])
def test_grading_in_quick_mode_is_warned_of(quick, monkeypatch, capsys):
    # The graded kernels inherit LABKIT_QUICK; the rubric's result thresholds are full mode's.
    from labkit_instructor.cli import _warn_of_quick_mode

    monkeypatch.setenv("LABKIT_QUICK", quick)
    _warn_of_quick_mode()
    warned = "LABKIT_QUICK is set: the notebooks run in quick mode" in capsys.readouterr().err
    assert warned == (quick == "1")
