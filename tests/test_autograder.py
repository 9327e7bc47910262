"""Gradescope's autograder zip and GitHub Classroom's starter repository, run as the services run
them (``labkit_instructor/services.py``).

Gradescope: the zip is unpacked into a temporary root laid out as ``/autograder`` (``source``,
``submission``, ``results``), and ``run_autograder`` runs there, as root and as uid 65534, with
``LABKIT_AUTOGRADER_PYTHON`` naming this environment instead of the one ``setup.sh`` installs.
Classroom: the workflow's grading step and its tests' commands run in the starter repository,
the tests' with only ``PATH`` and ``HOME``, as GitHub Classroom's command grader runs them. Both
use the tiny lab of ``tests/tiny_lab.py`` (its kernels need no TensorFlow); Classroom grades the
kit's binarize exercise against its withheld copy, and Gradescope the real Lab 01 once, from the
kit's own zip (the one end-to-end grade of a real lab here).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml
from test_sandbox import _open_to_others
from tiny_lab import (
    GRADESCOPE_RESULTS,
    MAX_POINTS,
    RUBRIC_ITEMS,
    UNSOLVED_POINTS,
    _cell,
    _solve,
    _student,
    build_binarize_lab,
)

import labkit
from labkit_instructor import tamper
from labkit_instructor.cells import LabTemplate
from labkit_instructor.cli import main
from labkit_instructor.release import release_notebook
from labkit_instructor.services import build_classroom, build_gradescope
from labkit_instructor.services import withhold_solutions as withhold

REPO_ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534
# classroom-resources/autograding-command-grader's inputs (its action.yml, v1).
COMMAND_GRADER_INPUTS = {"test-name", "setup-command", "command", "timeout", "max-score"}
SECONDS = 300
EXERCISE_POINTS = 3  # the tiny lab's exercise_double
# A student who tries to write the results and the rubric, and to read the solutions.
HOSTILE = """import json, pathlib
root = pathlib.Path({root!r})
for target in (root / "results" / "results.json", root / "source" / "rubrics.json"):
    try:
        target.write_text(json.dumps({{"score": 1000}}))
    except OSError:
        pass
def double(x):
    try:
        return 2 * x if (root / "source" / "notebooks").exists() else 0
    except OSError:
        return 0"""


@pytest.fixture
def autograder(tiny_lab, tmp_path) -> Path:
    return build_gradescope(
        ["01_tiny"],
        tmp_path / "autograder.zip",
        source=tiny_lab["source"],
        rubric=tiny_lab["rubric"],
    )


def _unpack(bundle: Path, folder: Path) -> None:
    """Unzip as ``unzip`` does, keeping each member's Unix mode (run_autograder's +x)."""
    with zipfile.ZipFile(bundle) as archive:
        for member in archive.infolist():
            path = Path(archive.extract(member, folder))
            mode = member.external_attr >> 16
            if mode:
                path.chmod(mode)


def _gradescope_root(bundle: Path, notebook: Path | None) -> Path:
    """A root laid out as Gradescope's ``/autograder``, outside pytest's private folder."""
    root = Path(tempfile.mkdtemp(prefix="labkit-autograder-"))
    root.chmod(0o755)
    _unpack(bundle, root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")  # as Gradescope
    for folder in ("submission", "results", "home"):
        (root / folder).mkdir()
    if notebook is not None:
        shutil.copyfile(notebook, root / "submission" / notebook.name)
    return root


def _run_autograder(root: Path, user: str, **environment: str) -> dict:
    """Run ``run_autograder`` as ``user`` (``root`` or ``nobody``); its ``results.json``."""
    environment = {
        **os.environ,
        "AUTOGRADER_ROOT": str(root),
        "LABKIT_AUTOGRADER_PYTHON": sys.executable,
        "HOME": str(root / "home"),
        **environment,
    }
    command = [str(root / "run_autograder")]
    if user == "root" and os.geteuid() != 0:
        pytest.skip("Gradescope runs the autograder as root; this test runs as another user")
    if user == "nobody" and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv (util-linux) is missing: cannot become an unprivileged user")
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(root)], check=True)
        drop = [setpriv, "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"]
        view = [shutil.which("bwrap"), "--dev-bind", "/", "/", *_open_to_others(), "--"]
        command = [*view, *drop, "--inh-caps=-all", *command]
    run = subprocess.run(
        command, env=environment, cwd=root, capture_output=True, text=True, timeout=SECONDS
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(results, GRADESCOPE_RESULTS)
    return results


def _points_by_test(results: dict) -> dict[str, float]:
    return {test["name"]: test["score"] for test in results["tests"]}


# --- Gradescope ---


def test_the_zip_holds_what_gradescope_runs(tiny_lab, autograder, tmp_path):
    with zipfile.ZipFile(autograder) as archive:
        names = set(archive.namelist())
        modes = {member.filename: member.external_attr >> 16 for member in archive.infolist()}
        rubric = json.loads(archive.read("rubrics.json"))
    assert {"setup.sh", "run_autograder", "notebooks/01_tiny.ipynb", "constraints.txt"} <= names
    assert {"kit/pyproject.toml", "kit/labkit/__init__.py", "kit/labkit_instructor/cli.py"} <= names
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert not any("__pycache__" in name or name.startswith("mnist/") for name in names)
    assert list(rubric["labs"]) == ["01_tiny"]
    _unpack(autograder, tmp_path / "unpacked")
    for script in ("setup.sh", "run_autograder"):
        subprocess.run(["bash", "-n", str(tmp_path / "unpacked" / script)], check=True)
    setup = (tmp_path / "unpacked" / "setup.sh").read_text(encoding="utf-8")
    assert '-c "$SOURCE/constraints.txt" "$SOURCE/kit"' in setup and "KERAS_HOME" in setup


def test_mnist_is_bundled_from_a_folder_that_has_it(tiny_lab, tmp_path, mnist_dir):
    bundle = build_gradescope(
        ["01_tiny"],
        tmp_path / "a.zip",
        source=tiny_lab["source"],
        rubric=tiny_lab["rubric"],
        data_dir=mnist_dir,
    )
    with zipfile.ZipFile(bundle) as archive:
        bundled = {name for name in archive.namelist() if name.startswith("mnist/")}
    assert len(bundled) == 4 and bundle.stat().st_size > 10e6
    idx_names = {spec.name for spec in labkit.data.MNIST_FILES.values()}
    assert {Path(name).name.removesuffix(".gz") for name in bundled} == idx_names
    with pytest.raises(ValueError, match=r"holds neither mnist\.npz nor the four MNIST IDX files"):
        build_gradescope(["01_tiny"], tmp_path / "b.zip", source=tiny_lab["source"],
                         rubric=tiny_lab["rubric"], data_dir=tmp_path)  # fmt: skip


def test_an_unknown_lab_is_refused_with_the_labs_there_are(tiny_lab, tmp_path, capsys):
    arguments = ["gradescope", "99_none", "--output", str(tmp_path / "a.zip")]
    assert (
        main([*arguments, "--source", str(tiny_lab["source"]), "--rubric", str(tiny_lab["rubric"])])
        == 2
    )
    assert "99_none has no rubric. Use 01_tiny" in capsys.readouterr().err
    assert not (tmp_path / "a.zip").exists()


def _solved(notebook) -> None:
    _solve(notebook)


def _hostile(root: Path):
    def edit(notebook) -> None:
        _cell(notebook, "def double")["source"] = HOSTILE.format(root=str(root))

    return edit


@pytest.mark.parametrize("user", ["root", "nobody"])
@pytest.mark.parametrize("kind", ["solved", "unsolved", "hostile"])
def test_run_autograder_grades_a_submission_as_gradescope_runs_it(
    tiny_lab, autograder, sandbox, user, kind
):
    root = _gradescope_root(autograder, None)
    try:
        edit = {"solved": _solved, "unsolved": None, "hostile": _hostile(root)}[kind]
        notebook = _student(tiny_lab, f"{kind}_{user}", edit)
        shutil.copyfile(notebook, root / "submission" / notebook.name)
        rubric_before = (root / "source" / "rubrics.json").read_bytes()
        results = _run_autograder(root, user)
        points = _points_by_test(results)
        assert list(points) == [item["id"] for item in RUBRIC_ITEMS]
        if kind == "solved":
            assert results["score"] == MAX_POINTS
        elif kind == "unsolved":
            assert results["score"] == UNSOLVED_POINTS and points["exercise_double"] == 0
        else:  # nothing written, nothing read, and the tampering reading costs the exercise
            assert (root / "source" / "rubrics.json").read_bytes() == rubric_before
            assert results["score"] < MAX_POINTS and points["exercise_double"] == 0
            assert "imports json, which the labs do not use" in results["output"]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_submission_without_a_notebook_gets_results_that_say_so(autograder):
    root = _gradescope_root(autograder, None)
    try:
        results = _run_autograder(root, "root" if os.geteuid() == 0 else "nobody")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert results["score"] == 0 and "No notebooks" in results["output"]


def test_a_failed_set_up_still_writes_results_that_say_what_happened(tiny_lab, autograder):
    root = _gradescope_root(autograder, _student(tiny_lab, "ann", _solved))
    missing = str(root / "venv" / "bin" / "python")  # setup.sh never ran
    try:
        results = _run_autograder(root, "root", LABKIT_AUTOGRADER_PYTHON=missing)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert results["score"] == 0 and "tests" not in results
    assert "could not grade this submission (exit status 127)" in results["output"]
    assert "No such file" in results["output"]


def test_no_sandbox_is_written_only_when_asked(tiny_lab, tmp_path):
    options = {"source": tiny_lab["source"], "rubric": tiny_lab["rubric"]}
    plain = build_gradescope(["01_tiny"], tmp_path / "a.zip", **options)
    bare = build_gradescope(["01_tiny"], tmp_path / "b.zip", sandbox=False, **options)
    with zipfile.ZipFile(plain) as first, zipfile.ZipFile(bare) as second:
        assert b"--no-sandbox" not in first.read("run_autograder")
        assert b"--execute --no-sandbox" in second.read("run_autograder")


def test_lab_01_solved_gets_its_exercise_points_from_the_kit_s_zip(tmp_path, sandbox):
    bundle = build_gradescope(["01_setup_and_data"], tmp_path / "autograder.zip")
    root = _gradescope_root(bundle, REPO_ROOT / "notebooks" / "01_setup_and_data.ipynb")
    try:
        results = _run_autograder(root, "root" if os.geteuid() == 0 else "nobody")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    points = _points_by_test(results)
    assert points["exercise_binarize"] == 11 and points["ran_without_errors"] == 2


# --- GitHub Classroom ---


@pytest.fixture
def starter(tiny_lab, tmp_path) -> Path:
    return build_classroom(
        ["01_tiny"], tmp_path / "starter", source=tiny_lab["source"], rubric=tiny_lab["rubric"]
    )


def _workflow(repository: Path) -> dict:
    return yaml.safe_load((repository / ".github/workflows/classroom.yml").read_text("utf-8"))


def test_the_workflow_is_valid_yaml_naming_classroom_s_actions(starter):
    workflow = _workflow(starter)
    assert workflow["name"] == "Autograding Tests"  # the only name Classroom reads points from
    assert list(workflow["jobs"]) == ["run-autograding-tests"]
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    assert {"actions/checkout", "actions/setup-python"} <= set(uses)
    tests = [
        s for s in steps if s.get("uses") == "classroom-resources/autograding-command-grader@v1"
    ]
    assert [step["with"]["max-score"] for step in tests] == [
        item["points"] for item in RUBRIC_ITEMS
    ]
    for step in tests:  # the inputs of the action's action.yml, the required ones given
        assert {"test-name", "command"} <= set(step["with"]) <= COMMAND_GRADER_INPUTS
    (reporter,) = [s for s in steps if "autograding-grading-reporter" in s.get("uses", "")]
    assert reporter["uses"] == "classroom-resources/autograding-grading-reporter@v1"
    assert list(reporter["with"]) == ["runners"]
    assert reporter["with"]["runners"].split(",") == [step["id"] for step in tests]
    expected = {f"{step['id'].upper()}_RESULTS": f"${{{{ steps.{step['id']}.outputs.result }}}}"
                for step in tests}  # fmt: skip
    assert reporter["env"] == expected


def test_the_starter_repository_holds_no_solution(starter, tiny_lab):
    files = [path for path in starter.rglob("*") if path.is_file()]
    text = "\n".join(path.read_text(encoding="utf-8") for path in files)
    assert "return 2 * x" not in text and "It doubles every number" not in text
    assert "BEGIN SOLUTION" not in (starter / "notebooks" / "01_tiny.ipynb").read_text("utf-8")
    assert "BEGIN HIDDEN TESTS" in (starter / ".labkit/grading/01_tiny.ipynb").read_text("utf-8")
    requirements = (starter / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert "-c .labkit/constraints.txt" in requirements and "./.labkit/kit" in requirements
    assert (starter / ".labkit/kit/pyproject.toml").is_file()


def _run_workflow(repository: Path, notebook: Path) -> dict[str, int]:
    """The workflow's grading step, then each test as the command grader runs it: the points."""
    shutil.copyfile(notebook, repository / "notebooks" / notebook.name)
    steps = _workflow(repository)["jobs"]["run-autograding-tests"]["steps"]
    (grade,) = [step for step in steps if step.get("name") == "Grade the notebooks"]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    environment = {**os.environ, "PATH": path}  # LABKIT_DATA_DIR: the MNIST the install made
    run = subprocess.run(["bash", "-e", "-c", grade["run"]], cwd=repository, env=environment,
                         capture_output=True, text=True, timeout=SECONDS)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    points = {}
    for step in steps:
        if step.get("uses") == "classroom-resources/autograding-command-grader@v1":
            test = subprocess.run(["/bin/sh", "-c", step["with"]["command"]], cwd=repository,
                                  env={"PATH": path, "HOME": os.environ["HOME"]},
                                  capture_output=True, text=True, timeout=SECONDS)  # fmt: skip
            passed = test.returncode == 0
            points[step["with"]["test-name"]] = step["with"]["max-score"] if passed else 0
    return points


def test_the_workflow_gives_a_solved_copy_every_point_and_an_unsolved_none(starter, tiny_lab):
    solved = _run_workflow(starter, _student(tiny_lab, "ann", _solved))
    assert solved["01_tiny: exercise_double"] == EXERCISE_POINTS
    assert sum(solved.values()) == MAX_POINTS
    unsolved = _run_workflow(starter, _student(tiny_lab, "ben"))
    assert unsolved["01_tiny: exercise_double"] == 0
    assert sum(unsolved.values()) == UNSOLVED_POINTS


def test_a_kit_exercise_graded_against_its_withheld_copy_gets_its_points(tmp_path, sandbox):
    # Lab 01's binarize exercise: the grader judges it itself, from the withheld copy's cells.
    lab = build_binarize_lab(tmp_path / "lab")
    starter = build_classroom(
        [lab["name"]], tmp_path / "starter", source=lab["source"], rubric=lab["rubric"]
    )
    solved = _run_workflow(starter, lab["source"] / f"{lab['name']}.ipynb")
    assert solved["01_binarize: exercise_binarize"] == 11
    assert solved["01_binarize: ran_without_errors"] == 2


@pytest.mark.parametrize("name", ["01_setup_and_data", "02_autoencoder", "03_vae"])
def test_a_withheld_copy_grades_as_the_instructor_s_notebook(name):
    instructor = json.loads((REPO_ROOT / "notebooks" / f"{name}.ipynb").read_text("utf-8"))
    withheld = withhold(instructor, name)
    assert release_notebook(withheld, name)[0] == release_notebook(instructor, name)[0]
    template, original = LabTemplate(withheld, name), LabTemplate(instructor, name)
    for cell, kept in zip(original.cells, template.cells, strict=True):
        if cell.locked:
            assert kept.instructor_source == cell.instructor_source  # hidden tests included
        else:  # what the tampering reading takes from a solution, and nothing more
            assert tamper.written_names(kept.instructor_source) == tamper.written_names(
                cell.instructor_source
            )
            assert tamper.kit_names(kept.instructor_source) == tamper.kit_names(
                cell.instructor_source
            )
    solutions = {
        line.strip()
        for cell in original.cells
        if not cell.locked
        for line in cell.instructor_source.splitlines()
        if len(line.strip()) > 30
        and line.strip() not in cell.released_source
        and "SOLUTION" not in line
    }
    shown = json.dumps(withheld)
    assert solutions and not [line for line in solutions if json.dumps(line)[1:-1] in shown]
