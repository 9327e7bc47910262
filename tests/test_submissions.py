"""Grades that hold against a hostile class (issue 25): submissions are read, never followed.

Each test is one attack on ``labkit grade``: the attacker gains no points, the row says why (or
the batch stops clearly, for the grader's own failures), and the rest of the batch is graded.
The tiny TensorFlow-free lab of ``tests/tiny_lab.py`` (the ``tiny_lab`` fixture) keeps them fast.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import signal
from pathlib import Path

import pytest
from tiny_lab import MAX_POINTS, UNSOLVED_POINTS, _cell, _grader, _solve, _student

import labkit_instructor.cli
import labkit_instructor.grading
from labkit_instructor import Grader, notebook_files
from labkit_instructor.batch import grade_class
from labkit_instructor.cli import main
from labkit_instructor.notebook_files import CHECK_MIME_TYPE, RESULTS_MIME_TYPE

LINK = "is a link: submit the notebook itself"


def _grade(tiny_lab, *paths: Path, more: tuple[str, ...] = ()) -> int:
    rubric = tiny_lab["rubric"]
    arguments = ["grade", *map(str, paths), "--rubric", str(rubric)]
    return main([*arguments, "--source", str(tiny_lab["source"]), *more])


def _rows(path: Path) -> dict[str, dict]:
    with path.open(newline="", encoding="utf-8") as file:
        return {row["student_id"]: row for row in csv.DictReader(file)}


def _link(link: Path, target: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


def _refused(row: dict, why: str = LINK) -> None:
    assert why in row["status"] and row["total"] == "" and row["percent"] == "", row


# --- Links and special files ---


@pytest.mark.parametrize("target", ["instructor", "victim"])
def test_a_linked_notebook_is_refused_on_the_link_s_own_row(tiny_lab, target, capsys):
    victim = _student(tiny_lab, "victim", _solve)
    solved = tiny_lab["source"] / "01_tiny.ipynb"
    _link(
        tiny_lab["root"] / "mallory" / "01_tiny.ipynb", solved if target == "instructor" else victim
    )
    grades, feedback = tiny_lab["root"].parent / "grades.csv", tiny_lab["root"].parent / "feedback"
    assert (
        _grade(tiny_lab, tiny_lab["root"], more=("--csv", str(grades), "--feedback", str(feedback)))
        == 0
    )
    rows = _rows(grades)
    assert set(rows) == {"mallory", "victim"}  # the row is the link's own student's
    _refused(rows["mallory"])
    assert rows["mallory"]["notebook"].endswith("mallory/01_tiny.ipynb")
    assert LINK in (feedback / "mallory__01_tiny.txt").read_text(encoding="utf-8")
    assert rows["victim"]["notebook"].endswith("victim/01_tiny.ipynb")
    assert "not graded" in capsys.readouterr().out


def test_a_linked_folder_is_refused_on_the_command_line_and_inside_a_folder(tiny_lab, tmp_path):
    _student(tiny_lab, "ann")
    _link(tiny_lab["root"] / "eve", tiny_lab["source"])  # inside the class folder
    given = _link(tmp_path / "given", tiny_lab["source"])  # named on the command line
    grades = tmp_path / "grades.csv"
    assert _grade(tiny_lab, tiny_lab["root"], given, more=("--csv", str(grades))) == 0
    rows = _rows(grades)
    assert set(rows) == {"ann", "eve", "given"}
    _refused(rows["eve"])
    _refused(rows["given"])
    assert rows["given"]["notebook"] == given.as_posix()
    assert rows["ann"]["total"] == "1"  # an unrun notebook: its Observations only


def _time_out(signum, frame):
    raise TimeoutError("reading a special file hung")


def test_dev_zero_and_a_fifo_are_refused_at_once(tiny_lab):
    zero = _link(tiny_lab["root"] / "zed" / "01_tiny.ipynb", Path("/dev/zero"))
    fifo = tiny_lab["root"] / "pipe" / "01_tiny.ipynb"
    fifo.parent.mkdir()
    os.mkfifo(fifo)  # opening it to read would wait for a writer forever
    previous = signal.signal(signal.SIGALRM, _time_out)
    signal.alarm(30)
    try:
        errors = [_grader(tiny_lab).grade(path).error for path in (zero, fifo, Path("/dev/zero"))]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert LINK in errors[0]
    assert "not a regular file (it is a pipe (FIFO))" in errors[1]
    assert "not a regular file (it is a device or other special file)" in errors[2]
    solved = _student(tiny_lab, "solved", _solve)
    reports = grade_class(_grader(tiny_lab), [zero, fifo, solved], stream=io.StringIO())
    assert [report.points for report in reports] == [0, 0, 1]  # the batch went on


def test_o_nofollow_and_o_nonblock_hold_when_the_file_changes_after_the_check(
    tiny_lab, monkeypatch
):
    # A link or a FIFO put in place between the lstat check and the open: still refused.
    monkeypatch.setattr(notebook_files, "_refuse_links_and_specials", lambda path: None)
    link = _link(
        tiny_lab["root"] / "mallory" / "01_tiny.ipynb", tiny_lab["source"] / "01_tiny.ipynb"
    )
    assert LINK in _grader(tiny_lab).grade(link).error
    fifo = tiny_lab["root"] / "pipe.ipynb"
    os.mkfifo(fifo)
    assert "not a regular file (it is a pipe (FIFO))" in _grader(tiny_lab).grade(fifo).error


def test_an_oversized_notebook_is_refused_with_the_limit_and_how_to_raise_it(tiny_lab):
    report = _grader(tiny_lab, max_megabytes=0.001).grade(_student(tiny_lab, "big", _solve))
    assert report.points == 0 and "over the grader's limit of 0.001 MB" in report.error
    assert "--max-megabytes" in report.error


def test_without_o_nofollow_as_on_windows_links_are_still_refused(tiny_lab, monkeypatch):
    monkeypatch.delattr(os, "O_NOFOLLOW")
    monkeypatch.delattr(os, "O_NONBLOCK")
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda *args: opened.append(args) or real_open(*args))
    solved = _student(tiny_lab, "solved", _solve)
    link = _link(
        tiny_lab["root"] / "mallory" / "01_tiny.ipynb", tiny_lab["source"] / "01_tiny.ipynb"
    )
    grader = _grader(tiny_lab)
    assert LINK in grader.grade(link).error and opened == []  # lstat refused it, unopened
    assert grader.grade(solved).error is None and len(opened) == 1


# --- An interrupted batch, and the grader's own failures ---


def _stub(after: int, error: BaseException):
    """A Grader that grades ``after`` notebooks, then raises ``error`` for every other."""

    class Stub(Grader):
        calls = 0

        def grade(self, path):
            Stub.calls += 1
            if Stub.calls > after:
                raise error
            return super().grade(path)

    return Stub


def test_ctrl_c_keeps_what_was_graded_and_resume_completes_it(
    tiny_lab, tmp_path, monkeypatch, capsys
):
    for name in ("ann", "ben", "cat", "dan"):
        _student(tiny_lab, name, _solve)
    grades, feedback = tmp_path / "grades.csv", tmp_path / "feedback"
    options = ("--csv", str(grades), "--feedback", str(feedback))
    monkeypatch.setattr(labkit_instructor.cli, "Grader", _stub(2, KeyboardInterrupt()))
    assert _grade(tiny_lab, tiny_lab["root"], more=options) == 130
    err = capsys.readouterr().err
    assert "stopped after 2 of 4 notebook(s); what was graded is kept (rows in" in err
    assert "--resume to grade the rest" in err and "Traceback" not in err
    assert len(_rows(grades)) == 2 and len(list(feedback.iterdir())) == 2
    monkeypatch.setattr(labkit_instructor.cli, "Grader", Grader)
    assert _grade(tiny_lab, tiny_lab["root"], more=(*options, "--resume")) == 0
    assert "--resume: 2 notebook(s) already in" in capsys.readouterr().out
    with grades.open(newline="", encoding="utf-8") as file:
        assert [row["student_id"] for row in csv.DictReader(file)] == ["ann", "ben", "cat", "dan"]
    assert sorted(path.name for path in feedback.iterdir()) == [
        f"{name}__01_tiny.txt" for name in ("ann", "ben", "cat", "dan")
    ]


def test_ctrl_c_keeps_gradescope_results_and_resume_adds_to_them(tiny_lab, tmp_path, monkeypatch):
    first = _student(tiny_lab, "ann", _solve)
    (first.parent / "01_tiny-Copy1.ipynb").write_bytes(first.read_bytes())
    out, grades = tmp_path / "results.json", tmp_path / "grades.csv"
    options = ("--gradescope", str(out), "--csv", str(grades))
    monkeypatch.setattr(labkit_instructor.cli, "Grader", _stub(1, KeyboardInterrupt()))
    assert _grade(tiny_lab, first.parent, more=options) == 130
    assert len(json.loads(out.read_text(encoding="utf-8"))["extra_data"]["labkit_reports"]) == 1
    monkeypatch.setattr(labkit_instructor.cli, "Grader", Grader)
    assert _grade(tiny_lab, first.parent, more=(*options, "--resume")) == 0
    results = json.loads(out.read_text(encoding="utf-8"))
    assert len(results["extra_data"]["labkit_reports"]) == 2
    assert "is a second notebook of 01_tiny: not counted" in results["output"]


def test_a_grader_failure_stops_the_batch_with_exit_2(tiny_lab, tmp_path, monkeypatch, capsys):
    for name in ("ann", "ben", "cat"):
        _student(tiny_lab, name)
    grades = tmp_path / "grades.csv"
    monkeypatch.setattr(labkit_instructor.cli, "Grader", _stub(1, RuntimeError("a rubric bug")))
    assert _grade(tiny_lab, tiny_lab["root"], more=("--csv", str(grades))) == 2
    err = capsys.readouterr().err
    assert "labkit grade: error: the grader failed on" in err and "a rubric bug" in err
    assert "not the student's" in err and "Traceback" not in err
    assert len(_rows(grades)) == 1


def test_missing_data_under_execute_stops_before_grading(tiny_lab, tmp_path, monkeypatch, capsys):
    _student(tiny_lab, "ann", _solve)
    monkeypatch.setattr(labkit_instructor.grading, "_data_for_kernel", lambda: {})
    grades = tmp_path / "grades.csv"
    more = ("--execute", "--no-sandbox", "--csv", str(grades))
    assert _grade(tiny_lab, tiny_lab["root"], more=more) == 2
    err = capsys.readouterr().err
    assert "LABKIT_DATA_DIR is not set" in err and "Nothing was graded" in err
    assert not grades.exists()


def test_a_missing_source_notebook_stops_the_batch(tiny_lab, capsys):
    _student(tiny_lab, "ann", _solve)
    (tiny_lab["source"] / "01_tiny.ipynb").unlink()
    assert _grade(tiny_lab, tiny_lab["root"]) == 2
    assert "the rubric grades lab 01_tiny, but" in capsys.readouterr().err


# --- Gradescope: one student a run ---


def test_gradescope_refuses_a_class_folder(tiny_lab, tmp_path, capsys):
    _student(tiny_lab, "ann", _solve)
    _student(tiny_lab, "ben")
    out = tmp_path / "results.json"
    assert _grade(tiny_lab, tiny_lab["root"], more=("--gradescope", str(out))) == 2
    err = capsys.readouterr().err
    assert "notebooks of 2 students (ann, ben)" in err and "use --csv FILE" in err
    assert not out.exists()
    (tiny_lab["root"] / "01_tiny.ipynb").write_text("{}", encoding="utf-8")  # one id, two folders
    (tiny_lab["root"] / "ben" / "01_tiny.ipynb").rename(tiny_lab["root"] / "01_tiny.ipynb")
    (tiny_lab["root"] / "ben").rmdir()
    assert _grade(tiny_lab, tiny_lab["root"], more=("--gradescope", str(out))) == 2
    assert "the same lab (01) in different folders" in capsys.readouterr().err


# --- Copied outputs ---


def _executed(notebook: dict, answer: int = 42, passed: bool = True) -> None:
    """The outputs a run of the tiny lab stores (what a copier pastes)."""
    _cell(notebook, "setup PASS")["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": "setup PASS\n"}
    ]
    checks = {"double(2) == 4": passed, "double(-1) == -2": passed}
    record = {"name": "double", "passed": passed, "checks": checks}
    _cell(notebook, "report_check(")["outputs"] = [_display(CHECK_MIME_TYPE, record)]
    _cell(notebook, "report_results(")["outputs"] = [
        _display(RESULTS_MIME_TYPE, {"answer": answer})
    ]


def _display(mime_type: str, record: dict) -> dict:
    data = {mime_type: record, "text/plain": str(record)}
    return {"output_type": "display_data", "data": data, "metadata": {}}


def _honest(notebook: dict) -> None:
    # Ran the lab without solving it: the setup printed PASS, the check raised.
    _cell(notebook, "setup PASS")["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": "setup PASS\n"}
    ]
    error = {"output_type": "error", "ename": "NotImplementedError", "evalue": "", "traceback": []}
    _cell(notebook, "report_check(")["outputs"] = [error]


def _copy_outputs(source: Path):
    def paste(notebook: dict) -> None:
        solved = json.loads(source.read_text(encoding="utf-8"))
        for cell, copied in zip(notebook["cells"], solved["cells"], strict=True):
            if cell["cell_type"] == "code":
                cell["outputs"] = copy.deepcopy(copied["outputs"])

    return paste


def test_copied_outputs_are_flagged_and_honest_unsolved_pairs_are_not(tiny_lab, tmp_path, capsys):
    victim = _student(tiny_lab, "victim", lambda nb: (_solve(nb), _executed(nb)))
    copier = _student(tiny_lab, "copier", _copy_outputs(victim))  # unsolved, outputs pasted
    _student(tiny_lab, "honest1", _honest)
    _student(tiny_lab, "honest2", _honest)
    _student(tiny_lab, "unrun1")
    _student(tiny_lab, "unrun2")  # the released notebook: no outputs
    grades = tmp_path / "grades.csv"
    assert _grade(tiny_lab, tiny_lab["root"], more=("--csv", str(grades))) == 0
    out = capsys.readouterr().out
    rows = _rows(grades)
    identical = "Identical outputs (look at these by hand): "
    assert f"{identical}{copier.as_posix()}, {victim.as_posix()}" in out
    assert out.count(identical) == 1
    assert "identical to another submission's" in rows["copier"]["notes"]
    assert "identical to another submission's" in rows["victim"]["notes"]
    assert "victim" not in rows["copier"]["notes"]  # feedback never names another student
    assert not any("identical" in rows[name]["notes"] for name in ("honest1", "unrun1"))


def test_copied_outputs_earn_nothing_under_execute_and_are_still_flagged(tiny_lab, sandbox):
    victim = _student(tiny_lab, "victim", lambda nb: (_solve(nb), _executed(nb)))
    copier = _student(tiny_lab, "copier", _copy_outputs(victim))
    grader = _grader(tiny_lab, execute=True, sandbox=sandbox)
    stream = io.StringIO()
    victim_report, copier_report = grade_class(grader, [victim, copier], stream=stream)
    assert copier_report.points == UNSOLVED_POINTS and victim_report.points == MAX_POINTS
    assert any("identical to another submission's" in note for note in copier_report.notes)
    assert "Identical outputs (look at these by hand)" in stream.getvalue()
