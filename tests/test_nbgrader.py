"""nbgrader takes the kit's notebooks: generate_assignment releases them, autograde agrees.

One course folder, Lab 01 (the fastest lab, in quick mode): a solved submission earns every
autograded point, an unsolved one (the released stub) and a wrong one (checks that fail, so
``labkit.report_check`` raises under nbgrader) earn the exercise's points less.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import labkit_instructor

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "01_setup_and_data.ipynb"
ASSIGNMENT = "lab01"


def _nbgrader(course: Path, *arguments: str, env: dict) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "nbgrader", *arguments]
    return subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, check=False)


def _with_solution(released: dict, source: dict, body: str | None) -> dict:
    # A student's copy: the released notebook with the exercise's solution cell written.
    notebook = json.loads(json.dumps(released))
    for cell, instructor in zip(notebook["cells"], source["cells"], strict=True):
        if body is not None and "def binarize" in "".join(cell["source"]):
            lines = "".join(instructor["source"]).splitlines(keepends=True)
            signature = lines[: next(i for i, line in enumerate(lines) if "BEGIN SOLUTION" in line)]
            cell["source"] = "".join(signature) + body
    return notebook


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory, mnist_dir):
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 300\n")
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    (course / "source" / ASSIGNMENT / NOTEBOOK.name).write_bytes(NOTEBOOK.read_bytes())
    # nbgrader runs alembic, a program of the environment: its folder goes first on the PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "LABKIT_QUICK": "1", "LABKIT_DATA_DIR": str(mnist_dir)}
    generated = _nbgrader(course, "generate_assignment", ASSIGNMENT, "--force", env=env)
    assert generated.returncode == 0, generated.stderr[-3000:]
    released_path = course / "release" / ASSIGNMENT / NOTEBOOK.name
    released = json.loads(released_path.read_text(encoding="utf-8"))
    source = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    students = {
        "solved": "    return (images >= threshold).astype(np.float32)\n",
        "wrong": "    return (images > threshold).astype(np.float32)\n",  # 0.5 must become 1
        "unsolved": None,
    }
    for student, body in students.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        notebook = _with_solution(released, source, body)
        (folder / NOTEBOOK.name).write_text(json.dumps(notebook), encoding="utf-8")
    graded = _nbgrader(course, "autograde", ASSIGNMENT, env=env)
    assert graded.returncode == 0, graded.stderr[-3000:]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as book:
        scores = {
            student: (submission.score, submission.max_score)
            for student in students
            for submission in [book.find_submission(ASSIGNMENT, student)]
        }
    return {"scores": scores, "released": released_path.read_text(encoding="utf-8")}


def test_generate_assignment_accepts_the_notebook_and_hides_solution_and_hidden_tests(gradebook):
    released = gradebook["released"]
    assert "NotImplementedError" in released and "YOUR ANSWER HERE" in released
    assert "(images >= threshold)" not in released
    assert "HIDDEN TESTS" not in released and "leaves its input unchanged" not in released


def test_autograde_gives_a_solved_notebook_full_marks_and_the_others_the_exercise_less(
    gradebook,
):
    rubric = labkit_instructor.load_rubrics()["01_setup_and_data"]
    exercise = next(item.points for item in rubric.items if item.id == "exercise_binarize")
    scores = gradebook["scores"]
    assert scores["solved"] == (exercise, exercise)
    assert scores["unsolved"] == (0, exercise)
    assert scores["wrong"] == (0, exercise)
