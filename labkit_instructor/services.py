"""Grading on the services courses already use: Gradescope's autograder and GitHub Classroom.

* :func:`build_gradescope` writes the zip Gradescope's autograder takes: ``setup.sh`` and
  ``run_autograder`` at its root, the instructor notebooks and rubric of the named labs, the
  kit's source and the pinned versions (``constraints.txt``), and MNIST when a folder is named.
  Gradescope unpacks it into ``/autograder/source`` and runs ``setup.sh`` once, as root; then
  ``run_autograder`` per submission, which runs ``labkit grade --execute`` on
  ``/autograder/submission`` and writes ``/autograder/results/results.json``.
* :func:`build_classroom` writes a starter repository for GitHub Classroom: the student copies,
  a pinned ``requirements.txt`` and a workflow that grades every push with GitHub Classroom's
  autograding actions, one test per rubric item. The instructor notebooks stay out of it: it
  grades against copies whose solutions are withheld (:func:`withhold_solutions`).

The scripts honour ``AUTOGRADER_ROOT`` (default ``/autograder``), and ``run_autograder`` runs
the grader with ``LABKIT_AUTOGRADER_PYTHON`` when set (the tests: this environment) instead of
the one ``setup.sh`` made.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from labkit_instructor import tamper
from labkit_instructor.exports import read_gradescope_reports
from labkit_instructor.grading import Grader, kit_notebooks
from labkit_instructor.notebook_files import multiline_text
from labkit_instructor.release import _replace_solutions, release_notebook, release_notebooks
from labkit_instructor.rubrics import DEFAULT_RUBRICS, load_rubrics

__all__ = [
    "build_classroom",
    "build_gradescope",
    "item_passed",
    "withhold_solutions",
]

KIT_ROOT = Path(__file__).resolve().parents[1]
KIT_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "labkit", "labkit_instructor")
EXECUTABLE = 0o755 << 16  # a zip member's Unix mode: run_autograder must be executable

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu). Written by
# `labkit gradescope`: bubblewrap (the grader's sandbox), the kit in a virtual environment with
# the versions of constraints.txt, and MNIST, all under $AUTOGRADER_ROOT (default /autograder).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
apt-get update -qq
apt-get install -y -qq bubblewrap python3-venv python3-pip >/dev/null
python3 -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 13))' || {
  echo "setup.sh: TensorFlow needs Python 3.10 to 3.13; pick another base image" >&2; exit 1; }
python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
"$ROOT/venv/bin/python" -m pip install --quiet -c "$SOURCE/constraints.txt" "$SOURCE/kit"
mkdir -p "$ROOT/mnist"
if [ -d "$SOURCE/mnist" ]; then
  cp -r "$SOURCE/mnist/." "$ROOT/mnist/"
else
  # Downloaded through Keras, as the students' notebooks load it.
  KERAS_HOME="$ROOT/keras" "$ROOT/venv/bin/labkit" check
  mv "$ROOT/keras/datasets/mnist.npz" "$ROOT/mnist/"
fi
LABKIT_DATA_DIR="$ROOT/mnist" "$ROOT/venv/bin/labkit" check  # checks MNIST and prints versions
# The sandboxed kernels run as a user of their own: they read the environment and the data.
chmod -R a+rX "$ROOT/venv" "$ROOT/mnist"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for each submission, as root, in a fresh container. Written by
# `labkit gradescope`: grades the notebooks in submission/ (each run again, in the sandbox) and
# writes results/results.json; when the grader cannot grade, results.json says why (score 0).
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
RESULTS="$ROOT/results/results.json"
ERRORS="$ROOT/results/grader-errors.txt"
PYTHON="${LABKIT_AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
export LABKIT_DATA_DIR="${LABKIT_DATA_DIR:-$ROOT/mnist}"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
: >"$ERRORS"
cd "$ROOT/source" 2>>"$ERRORS" &&
  "$PYTHON" -m labkit_instructor grade "$ROOT/submission" --execute @SANDBOX_OPTION@\
    --source notebooks --rubric rubrics.json --gradescope "$RESULTS" 2>>"$ERRORS"
status=$?
cat "$ERRORS" >&2  # for the instructor, in Gradescope's results/stdout
if [ "$status" -eq 0 ] && [ -s "$RESULTS" ]; then
  exit 0
fi
# The grader could not grade (no sandbox, no MNIST, set-up failed): score 0, and why.
python3 - "$RESULTS" "$ERRORS" "$status" <<'EOF' && exit 0
import json, sys
results, errors, status = sys.argv[1:4]
detail = open(errors, encoding="utf-8", errors="replace").read().strip()[-2000:]
output = (f"The autograder could not grade this submission (exit status {status}); your "
          f"instructor can read why in the autograder's output. {detail}")
json.dump({"score": 0, "output": output, "visibility": "visible",
           "stdout_visibility": "hidden"}, open(results, "w", encoding="utf-8"), indent=2)
EOF
echo '{"score": 0, "output": "The autograder could not grade this submission."}' >"$RESULTS"
"""

WORKFLOW_HEAD = """# Written by `labkit classroom`: grades the notebooks on every push with GitHub
# Classroom's autograding actions, one test per rubric item. GitHub Classroom reads the points
# only from a workflow named "Autograding Tests" with one job, run-autograding-tests.
name: Autograding Tests
on: [push, workflow_dispatch, repository_dispatch]
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: 60
    env:
      LABKIT_DATA_DIR: .labkit/mnist
    steps:
      - name: Checkout code
        uses: actions/checkout@v4
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.12"
          cache: pip
      - name: Install the kit, bubblewrap and MNIST
        run: |
          sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap
          # Ubuntu 24.04 lets few programs make user namespaces; the grader's sandbox needs one.
          sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 || true
          python -m pip install --quiet -r requirements.txt
          env -u LABKIT_DATA_DIR KERAS_HOME=.labkit/keras labkit check
          mkdir -p .labkit/mnist && mv .labkit/keras/datasets/mnist.npz .labkit/mnist/
      - name: Grade the notebooks
        continue-on-error: true
        run: |
          labkit grade notebooks --execute --source .labkit/grading --rubric .labkit/rubrics.json \\
            --gradescope .labkit/results.json --feedback .labkit/feedback
          cat .labkit/feedback/*.txt
"""


def _check_labs(labs: Sequence[str], rubric: Path | None, source: Path | None) -> dict:
    """The rubric file's content for ``labs`` only, once the grader accepts it with ``source``.

    Raises:
        ValueError: No lab named, a lab without a rubric, or a notebook the grader refuses.
    """
    rubric_path = Path(rubric) if rubric is not None else DEFAULT_RUBRICS
    rubrics = load_rubrics(rubric_path)
    unknown = [lab for lab in labs if lab not in rubrics]
    if not labs or unknown:
        raise ValueError(
            f"name the labs to grade; {', '.join(unknown) or 'none'} has no rubric. Use "
            f"{', '.join(rubrics)} (or pass --rubric FILE with your labs)."
        )
    Grader({lab: rubrics[lab] for lab in labs}, source)  # reads and checks each notebook
    data = json.loads(rubric_path.read_text(encoding="utf-8"))
    return {**data, "labs": {lab: data["labs"][lab] for lab in labs}}


def _source_folder(source: Path | None) -> Path:
    folder = Path(source) if source is not None else kit_notebooks()
    if folder is None:
        raise ValueError("no instructor notebooks found: pass --source DIR.")
    return folder


def _kit_files() -> list[tuple[Path, str]]:
    """The kit's source files to install from, as ``(path, name in the bundle)``."""
    if not (KIT_ROOT / "pyproject.toml").is_file():
        raise ValueError(
            f"the kit is bundled from its source, but {KIT_ROOT} is not a checkout of it (no "
            "pyproject.toml). Run this command from a checkout: pip install -e ."
        )
    files = []
    for name in KIT_SOURCES:
        path = KIT_ROOT / name
        found = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in found:
            if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc":
                files.append((file, file.relative_to(KIT_ROOT).as_posix()))
    return files


def _mnist_files(data_dir: Path) -> list[Path]:
    """The MNIST files of ``data_dir`` (mnist.npz, or the four IDX files, raw or ``.gz``)."""
    from labkit.data import MNIST_FILES, NPZ_NAME

    names = [NPZ_NAME, *(spec.name for spec in MNIST_FILES.values())]
    folder = Path(data_dir)
    found = [
        folder / candidate
        for name in names
        for candidate in (name, f"{name}.gz")
        if (folder / candidate).is_file()
    ]
    npz = [path for path in found if path.name == NPZ_NAME]
    idx = {path.name.removesuffix(".gz") for path in found} - {NPZ_NAME}
    if npz:
        return npz
    if len(idx) == len(MNIST_FILES):
        return [path for path in found if path.name.removesuffix(".gz") in idx]
    raise ValueError(
        f"--data-dir {folder} holds neither mnist.npz nor the four MNIST IDX files "
        f"({', '.join(names[1:])}, raw or .gz). Name the folder that has them, or leave "
        "--data-dir out: setup.sh then downloads MNIST through Keras."
    )


def build_gradescope(
    labs: Sequence[str],
    output: Path,
    *,
    source: Path | None = None,
    rubric: Path | None = None,
    data_dir: Path | None = None,
    sandbox: bool = True,
) -> Path:
    """Write Gradescope's autograder zip for ``labs`` (``["03_vae"]``) to ``output``.

    Args:
        source: The instructor notebooks (default: the kit's).
        rubric: A rubric file (default: the kit's); the zip holds the named labs' rubrics only.
        data_dir: A folder with MNIST to bundle; without it, ``setup.sh`` downloads it.
        sandbox: False writes ``--no-sandbox`` into ``run_autograder``: for a container where
            bubblewrap cannot start, and then students' code can read the solutions.

    Returns:
        ``output``.

    Raises:
        ValueError: A lab without a rubric or instructor notebook, a folder without MNIST, or
            not a checkout of the kit.
    """
    folder = _source_folder(source)
    rubric_data = _check_labs(labs, rubric, folder)
    data = _mnist_files(data_dir) if data_dir is not None else []
    run_script = RUN_AUTOGRADER.replace("@SANDBOX_OPTION@", "" if sandbox else "--no-sandbox ")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, script in (("setup.sh", SETUP_SH), ("run_autograder", run_script)):
            member = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            member.external_attr = EXECUTABLE
            bundle.writestr(member, script, zipfile.ZIP_DEFLATED)
        bundle.writestr("rubrics.json", json.dumps(rubric_data, indent=2) + "\n")
        bundle.write(KIT_ROOT / "constraints.txt", "constraints.txt")
        for lab in labs:
            bundle.write(folder / f"{lab}.ipynb", f"notebooks/{lab}.ipynb")
        for path, name in _kit_files():
            bundle.write(path, f"kit/{name}")
        for path in data:
            bundle.write(path, f"mnist/{path.name}")
    return output


def withhold_solutions(notebook: dict, name: str = "notebook") -> dict:
    """The instructor notebook with its solutions withheld, for grading where students can read.

    Each solution keeps its markers and hint; in place of its code stand the stub students
    received and the names the solution assigns and the ``labkit`` names it uses (which the
    tampering reading allows); each Markdown answer becomes the placeholder. Hidden tests stay:
    they are the kit's published checks. Released, the copy is the student version.
    """
    withheld = copy.deepcopy(notebook)
    released, _ = release_notebook(notebook, name)
    for cell, student in zip(withheld["cells"], released["cells"], strict=True):
        text = multiline_text(cell.get("source"))
        if cell.get("cell_type") == "markdown":
            cell["source"], _ = _replace_solutions(text, "markdown", name, keep_markers=True)
        elif cell.get("cell_type") == "code":
            stub = multiline_text(student.get("source"))
            names = sorted(tamper.written_names(text) - tamper.written_names(stub))
            uses = sorted(tamper.kit_names(text) - tamper.kit_names(stub))
            keep = [f"{written} = None" for written in names] + [f"labkit.{u}" for u in uses]
            cell["source"], _ = _replace_solutions(
                text, "code", name, keep_markers=True, first_lines=keep
            )
    return withheld


def _workflow(rubric_data: dict) -> str:
    """The workflow: the grading step, one command-grader test per rubric item, the reporter."""
    steps, runners = [], []
    for lab, items in rubric_data["labs"].items():
        for item in items:
            points = item["points"]
            if points != int(points):
                raise ValueError(
                    f"GitHub Classroom scores whole points, but {lab}'s item {item['id']!r} is "
                    f"worth {points}: give it a whole number of points in the rubric."
                )
            runner = f"lab{lab}-{item['id']}".lower().replace("_", "-")
            runners.append(runner)
            command = f"labkit item-passed .labkit/results.json {lab} {item['id']}"
            test_name = json.dumps(f"{lab}: {item['id']}")
            steps.append(
                f"      - name: {test_name}\n"
                f"        id: {runner}\n"
                "        uses: classroom-resources/autograding-command-grader@v1\n"
                "        with:\n"
                f"          test-name: {test_name}\n"
                f"          command: {json.dumps(command)}\n"
                "          timeout: 1\n"
                f"          max-score: {int(points)}\n"
            )
    results = "".join(
        f'          {runner.upper()}_RESULTS: "${{{{ steps.{runner}.outputs.result }}}}"\n'
        for runner in runners
    )
    reporter = (
        "      - name: Autograding Reporter\n"
        "        uses: classroom-resources/autograding-grading-reporter@v1\n"
        f"        env:\n{results}"
        f"        with:\n          runners: {','.join(runners)}\n"
    )
    return WORKFLOW_HEAD + "".join(steps) + reporter


def _requirements() -> str:
    return (
        "# The VAE Lab Kit, with the versions this course uses: pip install -r requirements.txt\n"
        "-c .labkit/constraints.txt\n"
        "./.labkit/kit\n"
    )


def build_classroom(
    labs: Sequence[str],
    output: Path,
    *,
    source: Path | None = None,
    rubric: Path | None = None,
) -> Path:
    """Write a GitHub Classroom starter repository for ``labs`` into the folder ``output``.

    It holds ``notebooks/`` (the student versions), ``requirements.txt`` (the kit, pinned as the
    kit pins it), ``.github/workflows/classroom.yml`` and ``.labkit/`` (the kit's source, its
    constraints, the rubric, and grading copies whose solutions are withheld).

    Raises:
        ValueError: As :func:`build_gradescope`; also ``output`` is not empty, or a rubric item
            is worth a fraction of a point (GitHub Classroom scores whole points).
    """
    folder = _source_folder(source)
    rubric_data = _check_labs(labs, rubric, folder)
    workflow = _workflow(rubric_data)
    output = Path(output)
    if output.exists() and any(output.iterdir()):
        raise ValueError(f"{output} is not empty: name a new folder for the starter repository.")
    kit = output / ".labkit"
    grading = kit / "grading"
    grading.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        for lab in labs:
            shutil.copyfile(folder / f"{lab}.ipynb", Path(scratch) / f"{lab}.ipynb")
            instructor = json.loads((folder / f"{lab}.ipynb").read_text(encoding="utf-8"))
            withheld = withhold_solutions(instructor, f"{lab}.ipynb")
            (grading / f"{lab}.ipynb").write_text(json.dumps(withheld, indent=1) + "\n", "utf-8")
        release_notebooks(Path(scratch), output / "notebooks")
    (kit / "rubrics.json").write_text(json.dumps(rubric_data, indent=2) + "\n", "utf-8")
    shutil.copyfile(KIT_ROOT / "constraints.txt", kit / "constraints.txt")
    for path, name in _kit_files():
        (kit / "kit" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, kit / "kit" / name)
    (output / "requirements.txt").write_text(_requirements(), encoding="utf-8")
    (output / ".gitignore").write_text(
        ".labkit/results.json\n.labkit/feedback/\n.labkit/mnist/\n.labkit/keras/\n", "utf-8"
    )
    workflows = output / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "classroom.yml").write_text(workflow, encoding="utf-8")
    return output


def item_passed(results: Path, lab: str, item_id: str) -> tuple[bool, str]:
    """Whether ``lab``'s best notebook earned all of ``item_id``'s points in ``results``
    (written by ``labkit grade --gradescope``), and a line that says so."""
    reports = [report for report in read_gradescope_reports(results) if report.lab == lab]
    if not reports:
        return False, f"{lab}: no notebook of this lab was graded (read the grading step's log)"
    best = max(reports, key=lambda report: report.points)
    if best.error:
        return False, f"{lab}: not graded: {best.error}"
    item = next((found for found in best.items if found.id == item_id), None)
    if item is None:
        return False, f"{lab}: the rubric has no item {item_id!r}"
    earned = item.points >= item.max_points
    return earned, f"{lab}: {item_id}: {item.points:g}/{item.max_points:g} points. {item.feedback}"
