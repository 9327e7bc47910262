"""nbgrader takes the kit's notebooks: generate_assignment releases them, autograde agrees.

One course, in quick mode, one assignment of four notebooks: the kit's Lab 01 and Lab 03 as
they are, and the tests' tiny labs around their exercises (``tests/tiny_lab.py``: the kit's
solution and check cells, and Lab 03's model cells between them; no data, no training). One
``generate_assignment`` releases all four, one ``autograde`` grades the tiny labs' submissions
(a notebook not submitted is not run). Lab 01's binarize: a solved submission earns every
autograded point; an unsolved one (nbgrader's released stub) none; a wrong one (checks that
fail, so ``labkit.check_exercise`` raises under nbgrader) loses the exercise. Lab 03's three
graded parts in two solution cells: a wrong one earns the points of the parts it gets right and
none of the part it gets wrong. ``labkit grade`` of nbgrader's autograded notebooks gives the
same exercise points.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_lab import BINARIZE_LAB, KIT_LABS, VAE_MODEL_LAB, build_kit_exercise_lab

import labkit_instructor

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\b.*\n?", re.MULTILINE)
# Each tiny lab: its wrong answer (a text replaced in the instructor's solution), the exercises
# that answer fails, and the submissions autograded. Lab 01's has all three; Lab 03's only the
# wrong one.
LABS = {
    BINARIZE_LAB: (
        "(images >= threshold)",
        "(images > threshold)",
        {"binarize"},
        ("solved", "wrong", "unsolved"),
    ),
    VAE_MODEL_LAB: (
        "ops.exp(0.5 * z_log_var) * epsilon",
        "ops.exp(z_log_var) * epsilon",
        {"sampling"},
        ("wrong",),
    ),
}
# Every notebook of the assignment, and the solution text its release must not hold.
RELEASED = {name: LABS[name][0] for name in LABS}
RELEASED |= {KIT_LABS[name]: LABS[name][0] for name in LABS}


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


@pytest.fixture(scope="module")
def course(tmp_path_factory, mnist_dir):
    labs = {name: build_kit_exercise_lab(tmp_path_factory.mktemp(name), name) for name in LABS}
    sources = {name: lab["source"] / f"{name}.ipynb" for name, lab in labs.items()}
    sources |= {name: NOTEBOOK_DIR / f"{name}.ipynb" for name in KIT_LABS.values()}
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 300\n")
    (course / "source" / "lab").mkdir(parents=True)
    for path in sources.values():
        (course / "source" / "lab" / path.name).write_bytes(path.read_bytes())
    # nbgrader runs alembic, a program of the environment: its folder goes first on the PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "LABKIT_QUICK": "1", "LABKIT_DATA_DIR": str(mnist_dir)}
    generated = _nbgrader(course, "generate_assignment", "lab", "--force", env=env)
    assert generated.returncode == 0, generated.stderr[-3000:]
    released = {
        name: (course / "release" / "lab" / f"{name}.ipynb").read_text(encoding="utf-8")
        for name in sources
    }
    students = {}  # student -> the tiny labs submitted
    for name, (correct, wrong, _, submitted) in LABS.items():
        source = json.loads(sources[name].read_text(encoding="utf-8"))
        assert correct in "".join("".join(cell["source"]) for cell in source["cells"])
        replacements = {"solved": (correct, correct), "wrong": (correct, wrong), "unsolved": None}
        for student in submitted:
            folder = course / "submitted" / student / "lab"
            folder.mkdir(parents=True, exist_ok=True)
            notebook = _student_copy(json.loads(released[name]), source, replacements[student])
            (folder / f"{name}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
            students.setdefault(student, []).append(name)
    graded = _nbgrader(course, "autograde", "lab", env=env)
    assert graded.returncode == 0, graded.stderr[-3000:]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as book:
        scores = {
            (student, notebook.name): {grade.name: grade.score for grade in notebook.grades}
            for student in students
            for notebook in book.find_submission("lab", student).notebooks
        }
    return {
        "labs": labs,
        "released": released,
        "scores": scores,
        "autograded": course / "autograded",
    }


@pytest.mark.parametrize("name", list(RELEASED))
def test_generate_assignment_hides_solutions_and_hidden_tests(course, name):
    released = course["released"][name]
    assert "NotImplementedError" in released and "YOUR ANSWER HERE" in released
    assert RELEASED[name] not in released
    assert "HIDDEN TESTS" not in released and "the grader's copy runs them" not in released


@pytest.mark.parametrize("name", list(LABS))
def test_autograde_scores_each_graded_part_as_the_rubric_and_labkit_grade_do(course, name):
    lab = course["labs"][name]
    rubric = lab["rubrics"][name]
    points = {item.id: item.points for item in rubric.items if item.check == "exercise_passed"}
    _, _, failed, submitted = LABS[name]
    expected = {
        "solved": points,
        "unsolved": dict.fromkeys(points, 0),
        "wrong": {grade_id: 0 if grade_id[9:] in failed else p for grade_id, p in points.items()},
    }
    for student in submitted:
        scores = course["scores"][student, name]
        autograded = {grade_id: scores[grade_id] for grade_id in points}
        assert autograded == expected[student], student
        path = course["autograded"] / student / "lab" / f"{name}.ipynb"
        report = labkit_instructor.grade_notebook(path, lab["rubrics"], source=lab["source"])
        by_labkit = {item.id: item.points for item in report.items if item.id in points}
        assert by_labkit == expected[student], (student, report.feedback())
