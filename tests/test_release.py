"""labkit_instructor.release: student versions without solutions or hidden tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tiny_lab import _grader

import labkit_instructor
from labkit_instructor.notebook_files import multiline_text
from labkit_instructor.release import ANSWER_PLACEHOLDER

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
SOLUTION = re.compile(r"### BEGIN SOLUTION.*?\n(.*?)### END SOLUTION", re.DOTALL)
HIDDEN_LINE = "run_hidden_checks = True  # the grader's copy runs them"


def _source(cell: dict) -> str:
    return multiline_text(cell["source"])


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    return labkit_instructor.release_notebooks(NOTEBOOK_DIR, out)


def test_every_notebook_is_released_with_its_solutions_replaced(released):
    assert [item.released.name for item in released] == [
        path.name for path in sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    ]
    rubrics = labkit_instructor.load_rubrics()
    for item in released:
        # Every marked region: at least one per graded exercise, the Observations and the Result.
        text = item.source.read_text(encoding="utf-8")
        markers = len(re.findall(r"### BEGIN SOLUTION|<!-- BEGIN SOLUTION -->", text))
        exercises = [i for i in rubrics[item.source.stem].items if i.check == "exercise_passed"]
        assert item.solutions_replaced == markers >= len(exercises) + 2, item.source.name


def test_released_notebooks_hold_no_solution_text(released):
    for item in released:
        instructor = json.loads(item.source.read_text(encoding="utf-8"))
        text = item.released.read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        text = "\n".join(_source(cell) for cell in json.loads(text)["cells"])
        solutions = [
            body for cell in instructor["cells"] for body in SOLUTION.findall(_source(cell))
        ]
        assert solutions
        for body in solutions:
            for line in map(str.strip, body.splitlines()):
                if len(line) > 12:  # not a lone ")" that any code has
                    assert line not in text, (item.source.name, line)
        observations = next(
            _source(cell)
            for cell in instructor["cells"]
            if _source(cell).startswith("## Observations")
        )
        answer = observations.split("<!-- BEGIN SOLUTION -->")[1]  # the lab's Graded note stays
        assert max(answer.splitlines(), key=len) not in text


def test_released_notebooks_keep_everything_else_and_clear_outputs(released):
    for item in released:
        instructor = json.loads(item.source.read_text(encoding="utf-8"))
        student = json.loads(item.released.read_text(encoding="utf-8"))
        assert "widgets" not in student["metadata"]
        assert student["metadata"]["labkit"] == instructor["metadata"]["labkit"]
        assert len(student["cells"]) == len(instructor["cells"])
        for theirs, ours in zip(instructor["cells"], student["cells"], strict=True):
            if ours["cell_type"] == "code":
                assert ours["outputs"] == [] and ours["execution_count"] is None
            if "HIDDEN TESTS" in _source(theirs):
                assert _source(ours) == labkit_instructor.strip_hidden_tests(_source(theirs))[0]
            elif "SOLUTION" not in _source(theirs):
                assert _source(ours) == _source(theirs)
            elif ours["cell_type"] == "markdown":
                assert ANSWER_PLACEHOLDER in _source(ours)
            else:
                assert "raise NotImplementedError(" in _source(ours)


def test_no_released_notebook_holds_a_hidden_test(released):
    # Every check cell holds one (it turns the hidden checks on); no released copy hints at it.
    for item in released:
        instructor = item.source.read_text(encoding="utf-8")
        assert "### BEGIN HIDDEN TESTS" in instructor and HIDDEN_LINE in instructor
        text = item.released.read_text(encoding="utf-8")
        assert "HIDDEN TESTS" not in text and HIDDEN_LINE not in text


def test_hidden_tests_are_stripped_and_bad_markers_refused():
    source = "a = 1\n### BEGIN HIDDEN TESTS\nb = 2\n### END HIDDEN TESTS\nc = 3"
    assert labkit_instructor.strip_hidden_tests(source) == ("a = 1\nc = 3", 1)
    with pytest.raises(ValueError, match="have no '### END HIDDEN TESTS'"):
        labkit_instructor.strip_hidden_tests("### BEGIN HIDDEN TESTS\nb = 2")
    with pytest.raises(ValueError, match="ends hidden tests that never began"):
        labkit_instructor.strip_hidden_tests("b = 2\n### END HIDDEN TESTS")


def _code_notebook(source: str, execution_count: int | None = None) -> dict:
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "source": source}
    return {"nbformat": 4, "metadata": {}, "cells": [{**cell, "execution_count": execution_count}]}


def test_the_stub_raises_with_the_hint():
    source = "def f(x):\n    ### BEGIN SOLUTION double it\n    return 2 * x\n    ### END SOLUTION\n"
    notebook = _code_notebook(source, execution_count=3)
    student, replaced = labkit_instructor.release_notebook(notebook)
    assert replaced == 1
    assert student["cells"][0]["source"] == (
        "def f(x):\n    raise NotImplementedError('double it')\n"
    )
    namespace: dict = {}
    exec(student["cells"][0]["source"], namespace)
    with pytest.raises(NotImplementedError, match="double it"):
        namespace["f"](1)
    assert notebook["cells"][0]["execution_count"] == 3  # the instructor's copy is untouched


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\nx = 1\n", "cell 1: the solution begun on line 1 has no end marker"),
        ("x = 1\n### END SOLUTION\n", "cell 1: line 2 ends a solution that never began"),
        (
            "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n",
            "line 2 begins a solution inside the one begun on line 1",
        ),
        ("x = 1  ### END SOLUTION\n", "misspelt or shares its line"),
    ],
)
def test_unbalanced_markers_are_refused_and_nothing_is_written(source, message, tmp_path):
    source_dir, out = tmp_path / "instructor", tmp_path / "student"
    source_dir.mkdir()
    good = {"nbformat": 4, "metadata": {}, "cells": []}
    bad = _code_notebook(source)
    (source_dir / "01_good.ipynb").write_text(json.dumps(good), encoding="utf-8")
    (source_dir / "02_bad.ipynb").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(message)):
        labkit_instructor.release_notebooks(source_dir, out)
    assert not out.exists()


def test_releasing_over_the_source_is_refused():
    with pytest.raises(ValueError, match="would overwrite the solutions"):
        labkit_instructor.release_notebooks(NOTEBOOK_DIR, NOTEBOOK_DIR / ".." / "notebooks")


def test_an_executed_student_version_fails_the_exercise_and_the_instructor_version_passes(
    tiny_lab, tmp_path, sandbox
):
    # The tiny lab's student version, released by release_notebooks as the kit's are.
    student = tiny_lab["release"] / "01_tiny.ipynb"
    instructor = tiny_lab["source"] / student.name
    # The forger rewrites the check and Result cells of the unsolved copy to claim success.
    forged = json.loads(student.read_text(encoding="utf-8"))
    for cell in forged["cells"]:
        if "report_check(" in _source(cell):
            cell["source"] = 'report_check("double", {"everything": True})'
        elif "report_results(" in _source(cell):
            cell["source"] = 'report_results({"answer": 42})'
    forged_path = tmp_path / "forged" / student.name
    forged_path.parent.mkdir()
    forged_path.write_text(json.dumps(forged), encoding="utf-8")
    grader = _grader(tiny_lab, execute=True, sandbox=sandbox)
    reports = {
        name: grader.grade(path)
        for name, path in [
            ("student", student),
            ("instructor", instructor),
            ("forged", forged_path),
        ]
    }
    for report in reports.values():
        assert report.error is None and report.execution_note is None
    lost = {
        name: {item.id for item in report.items if item.points < item.max_points}
        for name, report in reports.items()
    }
    assert lost["instructor"] == set()
    # The stub raises: the check and Result cells stop with its error, and the Observations
    # still hold the placeholder. Only the setup cell's PASS is earned.
    assert lost["student"] == {"ran", "exercise_double", "answer", "observations"}
    assert "NotImplementedError" in reports["student"].feedback()
    # Under --execute the forged cells are replaced by the lab's: no more than the honest copy.
    assert lost["forged"] == lost["student"]
    assert reports["forged"].points == reports["student"].points
