"""The tiny labs the instructor and end-to-end tests grade instead of the kit's real ones.

``build_tiny_lab`` writes a lab of the tests' own: its instructor notebook (tagged as
``labkit tag-cells`` tags the kit's), its rubric and its student release. Its kernels need no
TensorFlow, so a test can execute it, sandboxed, in about a second; its check and Result cells
store the same records as ``labkit.reporting.report_check`` and ``labkit.report_results``.

``build_kit_exercise_lab`` is the same lab around a kit lab's own graded exercises (Lab 01's
``binarize``; Lab 03's ``Sampling`` layer and ``VAE`` model, three parts in two solution cells):
their solution and check cells (``labkit.check_exercise``) as the kit's notebook has them, for
what only a real exercise shows (the grader judging the answers itself; a failed check raising
under nbgrader). Its kernel imports TensorFlow with the checks, but loads no data and trains
nothing.

``tests/conftest.py`` hands the tiny lab to a test as the ``tiny_lab`` fixture.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import labkit_instructor
from labkit_instructor.notebook_files import CHECK_MIME_TYPE, RESULTS_MIME_TYPE, multiline_text
from labkit_instructor.rubrics import DEFAULT_RUBRICS

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"

SETUP = f"""from IPython.display import display
report_check = lambda name, checks: display(
    {{"{CHECK_MIME_TYPE}": {{"name": name, "passed": all(checks.values()), "checks": checks}},
     "text/plain": f"exercise {{name}}: {{'PASS' if all(checks.values()) else 'FAIL'}}"}},
    raw=True,
)
report_results = lambda results: display(
    {{"{RESULTS_MIME_TYPE}": results, "text/plain": str(results)}}, raw=True
)
print("setup PASS")"""
SOLUTION = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
CHECK = """checks = {"double(2) == 4": double(2) == 4}
### BEGIN HIDDEN TESTS
checks["double(-1) == -2"] = double(-1) == -2
### END HIDDEN TESTS
report_check("double", checks)"""
RESULTS = 'report_results({"answer": double(21)})'
OBSERVATIONS = (
    "## Observations\n\n<!-- BEGIN SOLUTION -->\nIt doubles every number.\n<!-- END SOLUTION -->"
)
RUBRIC_ITEMS = [
    {"id": "ran", "points": 1, "check": "ran_without_errors"},
    {"id": "setup", "points": 1, "check": "no_failed_checks"},
    {"id": "exercise_double", "points": 3, "check": "exercise_passed",
     "exercise": "double"},
    {"id": "answer", "points": 1, "check": "result_at_least", "result": "answer",
     "min": 42},
    {"id": "observations", "points": 1, "check": "section_written",
     "section": "Observations", "min_words": 3},
]  # fmt: skip
MAX_POINTS = 7
UNSOLVED_POINTS = 2  # the setup cell's PASS and the Observations: the rest needs a solution

# The tiny labs around the kit's exercises, by the kit lab they come from.
BINARIZE_LAB = "01_binarize"  # Lab 01's binarize
VAE_MODEL_LAB = "03_vae_model"  # Lab 03's Sampling and VAE (sampling, vae_loss, test_step)
KIT_LABS = {BINARIZE_LAB: "01_setup_and_data", VAE_MODEL_LAB: "03_vae"}


def _tiny_cells() -> list:
    return [
        new_markdown_cell("# Lab 01 · tiny"),
        new_code_cell(SETUP),
        new_markdown_cell("## Exercise"),
        new_code_cell(SOLUTION),
        new_code_cell(CHECK),
        new_code_cell(RESULTS),
        new_markdown_cell(OBSERVATIONS),
    ]


def _kit_exercise_cells(kit_lab: str) -> list:
    """A kit lab's parameters cell, then every code cell from its first solution cell to its
    last check cell (the exercises, and the model cells between them), as the notebook has them.
    """
    notebook = json.loads((NOTEBOOK_DIR / f"{kit_lab}.ipynb").read_text(encoding="utf-8"))
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    nbgrader = [cell["metadata"].get("nbgrader", {}) for cell in code]
    first = next(i for i, record in enumerate(nbgrader) if record.get("solution"))
    last = max(i for i, record in enumerate(nbgrader) if record.get("grade"))
    parameters = [cell for cell in code if "parameters" in cell["metadata"].get("tags", [])]
    return [
        new_markdown_cell(f"# Lab {kit_lab[:2]} · its exercises"),
        new_code_cell("import numpy as np\n\nimport labkit"),
        *(
            new_code_cell(multiline_text(cell["source"]))
            for cell in parameters + code[first : last + 1]
        ),
        new_markdown_cell(OBSERVATIONS),
    ]


def _kit_exercise_items(kit_lab: str) -> list[dict]:
    """The kit rubric's items for ``kit_lab``'s exercises, and for running without errors."""
    labs = json.loads(DEFAULT_RUBRICS.read_text(encoding="utf-8"))["labs"]
    kept = ("ran_without_errors", "exercise_passed")
    return [item for item in labs[kit_lab] if item["check"] in kept]


def build_tiny_lab(
    folder: Path, name: str = "01_tiny", cells=None, rubric_items=RUBRIC_ITEMS
) -> dict:
    """The lab in ``folder``: the tagged instructor notebook's folder ``source``, the student
    release ``release``, the rubric file ``rubric`` and its ``rubrics`` loaded, an empty folder
    for submissions ``root``, and the lab's ``name``."""
    source, release = folder / "instructor", folder / "release"
    source.mkdir(parents=True)
    rubric_path = folder / "rubric.json"
    rubric_path.write_text(json.dumps({"labs": {name: rubric_items}}), encoding="utf-8")
    rubrics = labkit_instructor.load_rubrics(rubric_path)
    notebook = new_notebook(
        cells=_tiny_cells() if cells is None else cells,
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    labkit_instructor.tag_cells(notebook, rubrics[name])
    nbformat.write(notebook, source / f"{name}.ipynb")
    labkit_instructor.release_notebooks(source, release)
    submissions = folder / "submissions"
    submissions.mkdir()
    return {
        "source": source,
        "release": release,
        "rubric": rubric_path,
        "rubrics": rubrics,
        "root": submissions,
        "name": name,
    }


def build_kit_exercise_lab(folder: Path, name: str) -> dict:
    """The tiny lab ``name`` of :data:`KIT_LABS` (see the module's docstring), in ``folder``."""
    kit_lab = KIT_LABS[name]
    return build_tiny_lab(folder, name, _kit_exercise_cells(kit_lab), _kit_exercise_items(kit_lab))


def build_binarize_lab(folder: Path) -> dict:
    """The tiny lab around Lab 01's ``binarize`` exercise, graded with Lab 01's points for it."""
    return build_kit_exercise_lab(folder, BINARIZE_LAB)


def _student(lab, name: str, edit=None, *, solved: bool = False) -> Path:
    """A student's copy: the released notebook (or the instructor's, ``solved``), ``edit``ed."""
    origin = lab["source"] if solved else lab["release"]
    file_name = f"{lab['name']}.ipynb"
    notebook = json.loads((origin / file_name).read_text(encoding="utf-8"))
    if not solved:  # an honest student writes the Observations
        _cell(notebook, "## Observations")["source"] = "## Observations\n\nMy words about it."
    if edit is not None:
        edit(notebook)
    folder = lab["root"] / name
    folder.mkdir()
    path = folder / file_name
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def _cell(notebook: dict, text: str) -> dict:
    return next(cell for cell in notebook["cells"] if text in "".join(cell["source"]))


def _grader(lab, **options) -> labkit_instructor.Grader:
    return labkit_instructor.Grader(lab["rubrics"], lab["source"], cell_timeout=20, **options)


def _points(report) -> dict[str, float]:
    return {item.id: item.points for item in report.items}


def _solve(notebook, body: str = "return 2 * x") -> None:
    _cell(notebook, "def double")["source"] = f"def double(x):\n    {body}"


# Gradescope's results.json, as its autograder specification describes it
# (gradescope-autograders.readthedocs.io/en/latest/specs/): every key optional but a score, on
# top or on each test; visibility one of four words; nothing else allowed here.
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
GRADESCOPE_TEST = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "max_score": {"type": "number"},
        "status": {"enum": ["passed", "failed"]},
        "name": {"type": "string"},
        "name_format": FORMAT,
        "number": {"type": "string"},
        "output": {"type": "string"},
        "output_format": FORMAT,
        "tags": {"type": "array", "items": {"type": "string"}},
        "visibility": VISIBILITY,
        "extra_data": {"type": "object"},
    },
    "additionalProperties": False,
}
GRADESCOPE_RESULTS = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "test_name_format": FORMAT,
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": GRADESCOPE_TEST},
        "leaderboard": {"type": "array"},
    },
    "additionalProperties": False,
    "anyOf": [
        {"required": ["score"]},
        {"required": ["tests"], "properties": {"tests": {"items": {"required": ["score"]}}}},
    ],
}
