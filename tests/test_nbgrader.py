"""nbgrader takes the kit's notebooks: generate_assignment releases them, autograde agrees.

One course folder per lab, in quick mode: Lab 01 (the fastest lab) and Lab 03 (three graded
parts in two solution cells of the model). A solved submission earns every autograded point;
an unsolved one (nbgrader's released stub) none; a wrong one (checks that fail, so
``labkit.check_exercise`` raises under nbgrader) loses exactly the points of the parts it gets
wrong. ``labkit grade`` of nbgrader's autograded notebooks gives the same exercise points.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import labkit_instructor

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\b.*\n?", re.MULTILINE)
# Each lab: its wrong answer (a text replaced in the instructor's solution), the exercises that
# answer fails, and the submissions autograded. Lab 01 has all three; Lab 03 only the wrong one,
# which earns the points of the parts it gets right and none of the part it gets wrong (each
# autograded copy of Lab 03 trains its model: about 15 seconds).
LABS = {
    "01_setup_and_data": (
        "(images >= threshold)",
        "(images > threshold)",
        {"binarize"},
        ("solved", "wrong", "unsolved"),
    ),
    "03_vae": (
        "ops.exp(0.5 * z_log_var) * epsilon",
        "ops.exp(z_log_var) * epsilon",
        {"sampling"},
        ("wrong",),
    ),
}


def _nbgrader(course: Path, *arguments: str, env: dict) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "nbgrader", *arguments]
    return subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, check=False)


def _student_copy(released: dict, source: dict, replace: tuple[str, str] | None) -> dict:
    # The released notebook with each solution cell written: the instructor's cell without its
    # markers, with the wrong answer's replacement made.
    notebook = json.loads(json.dumps(released))
    for cell, instructor in zip(notebook["cells"], source["cells"], strict=True):
        text = "".join(instructor["source"])
        if replace is not None and cell["cell_type"] == "code" and "BEGIN SOLUTION" in text:
            cell["source"] = MARKER.sub("", text).replace(*replace)
    return notebook


@pytest.fixture(scope="module", params=list(LABS))
def gradebook(request, tmp_path_factory, mnist_dir):
    lab = request.param
    correct, wrong, _, submitted = LABS[lab]
    notebook_path = NOTEBOOK_DIR / f"{lab}.ipynb"
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 300\n")
    (course / "source" / "lab").mkdir(parents=True)
    (course / "source" / "lab" / notebook_path.name).write_bytes(notebook_path.read_bytes())
    # nbgrader runs alembic, a program of the environment: its folder goes first on the PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "LABKIT_QUICK": "1", "LABKIT_DATA_DIR": str(mnist_dir)}
    generated = _nbgrader(course, "generate_assignment", "lab", "--force", env=env)
    assert generated.returncode == 0, generated.stderr[-3000:]
    released_path = course / "release" / "lab" / notebook_path.name
    released = json.loads(released_path.read_text(encoding="utf-8"))
    source = json.loads(notebook_path.read_text(encoding="utf-8"))
    assert correct in "".join("".join(cell["source"]) for cell in source["cells"])
    replacements = {"solved": (correct, correct), "wrong": (correct, wrong), "unsolved": None}
    students = {student: replacements[student] for student in submitted}
    for student, replace in students.items():
        folder = course / "submitted" / student / "lab"
        folder.mkdir(parents=True)
        notebook = _student_copy(released, source, replace)
        (folder / notebook_path.name).write_text(json.dumps(notebook), encoding="utf-8")
    graded = _nbgrader(course, "autograde", "lab", env=env)
    assert graded.returncode == 0, graded.stderr[-3000:]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as book:
        scores = {
            student: {
                grade.name: grade.score
                for notebook in book.find_submission("lab", student).notebooks
                for grade in notebook.grades
            }
            for student in students
        }
    autograded = {
        student: course / "autograded" / student / "lab" / notebook_path.name
        for student in students
    }
    return {
        "lab": lab,
        "scores": scores,
        "released": released_path.read_text(encoding="utf-8"),
        "autograded": autograded,
    }


def test_generate_assignment_hides_solutions_and_hidden_tests(gradebook):
    released = gradebook["released"]
    correct, _, _, _ = LABS[gradebook["lab"]]
    assert "NotImplementedError" in released and "YOUR ANSWER HERE" in released
    assert correct not in released
    assert "HIDDEN TESTS" not in released and "the grader's copy runs them" not in released


def test_autograde_scores_each_graded_part_as_the_rubric_and_labkit_grade_do(gradebook):
    rubric = labkit_instructor.load_rubrics()[gradebook["lab"]]
    points = {item.id: item.points for item in rubric.items if item.check == "exercise_passed"}
    _, _, failed, _ = LABS[gradebook["lab"]]
    expected = {
        "solved": points,
        "unsolved": dict.fromkeys(points, 0),
        "wrong": {grade_id: 0 if grade_id[9:] in failed else p for grade_id, p in points.items()},
    }
    for student, scores in gradebook["scores"].items():
        autograded = {grade_id: scores[grade_id] for grade_id in points}
        assert autograded == expected[student], student
        report = labkit_instructor.grade_notebook(
            gradebook["autograded"][student], labkit_instructor.load_rubrics()
        )
        by_labkit = {item.id: item.points for item in report.items if item.id in points}
        assert by_labkit == expected[student], (student, report.feedback())
