"""labkit_instructor.grading: rubrics as data, grades from stored outputs, row-level errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import labkit_instructor
from labkit_instructor.checks import CHECKS
from labkit_instructor.notebook_files import CHECK_MIME_TYPE, RESULTS_MIME_TYPE, multiline_text
from labkit_instructor.release import ANSWER_PLACEHOLDER

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
EXERCISES_03 = {"exercise_sampling", "exercise_vae_loss", "exercise_test_step"}


@pytest.fixture(scope="module")
def rubrics():
    return labkit_instructor.load_rubrics()


def _read(name: str) -> dict:
    return json.loads((NOTEBOOK_DIR / name).read_text(encoding="utf-8"))


def _write(folder: Path, name: str, notebook: dict) -> Path:
    path = folder / name
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def _source(cell: dict) -> str:
    return multiline_text(cell["source"])


def _cell_index(notebook: dict, text: str) -> int:
    return next(i for i, cell in enumerate(notebook["cells"]) if text in _source(cell))


def _lost(report) -> set[str]:
    return {item.id for item in report.items if item.points < item.max_points}


def test_every_lab_has_a_rubric_and_every_notebook_names_its_lab(rubrics):
    assert list(rubrics) == [path.stem for path in NOTEBOOKS]
    for path in NOTEBOOKS:
        assert _read(path.name)["metadata"]["labkit"]["lab"] == path.stem
    for rubric in rubrics.values():
        assert {item.check for item in rubric.items} <= set(CHECKS)
        assert rubric.max_points == sum(item.points for item in rubric.items) > 0


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_the_committed_full_run_notebooks_get_full_marks(path, rubrics):
    report = labkit_instructor.grade_notebook(path, rubrics)
    assert report.error is None and report.lab == path.stem
    assert report.points == report.max_points, report.feedback()


def _delete_figures_of_step_9(notebook):
    start, end = _cell_index(notebook, "### Step 9"), _cell_index(notebook, "### Step 10")
    for cell in notebook["cells"][start:end]:
        if cell["cell_type"] == "code":
            cell["outputs"] = [o for o in cell["outputs"] if "image/png" not in o.get("data", {})]


def _placeholder_observations(notebook):
    index = _cell_index(notebook, "## Observations")
    notebook["cells"][index]["source"] = f"## Observations\n\n{ANSWER_PLACEHOLDER}"


def _error_output(notebook):
    index = _cell_index(notebook, "labkit.plot_manifold(")
    notebook["cells"][index]["outputs"].append(
        {"output_type": "error", "ename": "ValueError", "evalue": "bad grid", "traceback": []}
    )


def _renamed_heading(notebook):
    index = _cell_index(notebook, "## Observations")
    notebook["cells"][index]["source"] = _source(notebook["cells"][index]).replace(
        "## Observations", "## My notes"
    )


def _check_cells(notebook) -> list[dict]:
    return [cell for cell in notebook["cells"] if "check_exercise(" in _source(cell)]


def _unrun_cells(notebook):
    for cell in _check_cells(notebook):
        cell["execution_count"], cell["outputs"] = None, []


def _failed_exercise(notebook):
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            record = output.get("data", {}).get(CHECK_MIME_TYPE)
            if record:
                record["checks"][next(iter(record["checks"]))] = False
                record["passed"] = False


def _worse_elbo(notebook):
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            results = output.get("data", {}).get(RESULTS_MIME_TYPE)
            if results:
                results["test_negative_elbo_nats"] = 190.0
                results["final_train_loss_nats"] = results["first_epoch_train_loss_nats"] + 1


def _observations_without_the_elbo(notebook):
    # Any way of writing the number counts (151.5, 151.46); a number off by 0.2 nats does not.
    index = _cell_index(notebook, "## Observations")
    results = labkit_instructor.read_results(notebook)
    measured = results["test_negative_elbo_nats"]
    source = _source(notebook["cells"][index])
    for written in {f"{measured:.1f}", f"{measured:.2f}"}:
        source = source.replace(written, f"{measured + 0.2:.1f}")
    notebook["cells"][index]["source"] = source


def _deleted_exercise_cells(notebook):
    checks = _check_cells(notebook)
    notebook["cells"] = [cell for cell in notebook["cells"] if cell not in checks]


def _huge_output(notebook):
    index = _cell_index(notebook, "history.history")  # the table of the training history
    notebook["cells"][index]["outputs"].append(
        {"output_type": "stream", "name": "stdout", "text": "x" * 20_000_000}
    )


@pytest.mark.parametrize(
    "damage, lost",
    [
        (_delete_figures_of_step_9, {"figures"}),
        (_placeholder_observations, {"observations", "observations_state_results"}),
        (_error_output, {"ran_without_errors"}),
        (_renamed_heading, {"observations", "observations_state_results"}),
        (_unrun_cells, {"ran_without_errors", *EXERCISES_03}),
        (_failed_exercise, EXERCISES_03),
        (_worse_elbo, {"test_negative_elbo", "loss_decreased", "observations_state_results"}),
        (_observations_without_the_elbo, {"observations_state_results"}),
        # The check cell is a locked cell: the items that read it (and every locked code
        # cell) earn nothing when it is gone.
        (_deleted_exercise_cells, {"ran_without_errors", "checks", *EXERCISES_03}),
        (_huge_output, set()),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else None,
)
def test_a_damaged_copy_loses_exactly_the_expected_items(damage, lost, tmp_path, rubrics):
    notebook = _read("03_vae.ipynb")
    damage(notebook)
    report = labkit_instructor.grade_notebook(_write(tmp_path, "03_vae.ipynb", notebook), rubrics)
    assert report.error is None
    assert _lost(report) == lost, report.feedback()
    lost_points = sum(item.max_points for item in report.items if item.id in lost)
    assert report.points == report.max_points - lost_points


def test_observations_state_every_result_within_rounding(tmp_path, rubrics):
    notebook = _read("03_vae.ipynb")
    results = labkit_instructor.read_results(notebook)
    index = _cell_index(notebook, "## Observations")
    elbo = results["test_negative_elbo_nats"]

    def stated(values: dict) -> str:
        return " ".join(f"{name} was {value}." for name, value in values.items())

    rounded = {name: f"{value:,.2f}" for name, value in results.items()}
    others = {name: value for name, value in rounded.items() if name != "test_negative_elbo_nats"}
    for text, states in [
        (stated(rounded), True),
        (stated({**others, "elbo": f"{elbo:.1f}"}), True),
        (stated({**others, "elbo": f"{round(elbo)}"}), True),  # three significant digits
        (stated({**others, "elbo": f"{elbo + 0.2:.1f}"}), False),
        (stated({**others, "elbo": f"{round(elbo, -1):.0f}"}), False),  # 150: rounded too far
        (stated(others), False),
    ]:
        notebook["cells"][index]["source"] = f"## Observations\n\n{text}"
        report = labkit_instructor.grade_notebook(
            _write(tmp_path, "03_vae.ipynb", notebook), rubrics
        )
        item = next(item for item in report.items if item.id == "observations_state_results")
        assert (item.points == item.max_points) is states, (text, item.feedback)
        if not states:
            assert "test_negative_elbo_nats" in item.feedback


def test_feedback_says_what_went_wrong(tmp_path, rubrics):
    notebook = _read("03_vae.ipynb")
    _renamed_heading(notebook)
    _error_output(notebook)
    feedback = labkit_instructor.grade_notebook(
        _write(tmp_path, "03_vae.ipynb", notebook), rubrics
    ).feedback()
    assert "no 'Observations' section" in feedback
    assert "stopped with an error (ValueError: bad grid)" in feedback
    assert "[ok  ] figures" in feedback


def _nbformat_3(notebook):
    return {"nbformat": 3, "nbformat_minor": 0, "worksheets": [{"cells": []}], "metadata": {}}


def _other_labs_notebook(notebook):
    return _read("02_autoencoder.ipynb")


def _no_lab_record(notebook):
    notebook["metadata"].pop("labkit")
    notebook["cells"][0]["source"] = "# My VAE homework"
    return notebook


def _broken_cell(notebook):
    notebook["cells"][3] = ["not", "a", "cell"]
    return notebook


@pytest.mark.parametrize(
    "damage, message",
    [
        (_nbformat_3, "format version 3"),
        (_other_labs_notebook, "named for 03_vae but holds the notebook of 02_autoencoder"),
        (_no_lab_record, "cannot tell which lab"),
        (_broken_cell, "cell 4 is damaged"),
        (lambda notebook: [notebook], "not a Jupyter notebook"),
    ],
    ids=["nbformat 3", "wrong lab", "no lab", "broken cell", "json list"],
)
def test_an_ungradable_notebook_is_a_row_error(damage, message, tmp_path, rubrics):
    path = _write(tmp_path, "03_vae.ipynb", damage(_read("03_vae.ipynb")))
    report = labkit_instructor.grade_notebook(path, rubrics)
    assert report.error and message in report.error
    assert report.items == [] and report.points == 0


def test_bad_json_and_binary_files_are_row_errors(tmp_path, rubrics):
    truncated = tmp_path / "03_vae.ipynb"
    truncated.write_text((NOTEBOOK_DIR / "03_vae.ipynb").read_text(encoding="utf-8")[:5000])
    assert "not valid JSON" in labkit_instructor.grade_notebook(truncated, rubrics).error
    binary = tmp_path / "image.ipynb"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert "not UTF-8 text" in labkit_instructor.grade_notebook(binary, rubrics).error


def test_a_file_over_the_size_limit_is_not_read(rubrics):
    report = labkit_instructor.grade_notebook(
        NOTEBOOK_DIR / "03_vae.ipynb", rubrics, max_megabytes=0.01
    )
    assert "over the grader's limit of 0.01 MB" in report.error


def test_the_lab_can_be_forced_and_a_mismatch_is_reported(tmp_path, rubrics):
    notebook = _no_lab_record(_read("03_vae.ipynb"))
    path = _write(tmp_path, "homework.ipynb", notebook)
    assert labkit_instructor.grade_notebook(path, rubrics, lab="03_vae").lab == "03_vae"
    wrong = labkit_instructor.grade_notebook(
        NOTEBOOK_DIR / "03_vae.ipynb", rubrics, lab="02_autoencoder"
    )
    assert "the notebook of 03_vae, not 02_autoencoder" in wrong.error
    with pytest.raises(ValueError, match="no rubric for lab '07_gan'"):
        labkit_instructor.grade_notebook(path, rubrics, lab="07_gan")


@pytest.mark.parametrize(
    "rubric, message",
    [
        ("{not json", "is not valid JSON"),
        ('{"labs": {}}', "needs a 'labs' object"),
        ('{"labs": {"03_vae": [{"id": "x", "points": 1, "check": "magic"}]}}', "unknown check"),
        (
            '{"labs": {"03_vae": [{"id": "x", "points": 0, "check": "ran_without_errors"}]}}',
            "'points' must be a positive number",
        ),
        (
            '{"labs": {"03_vae": [{"id": "x", "points": 1, "check": "result_at_most",'
            ' "result": "loss"}]}}',
            "needs max",
        ),
        (
            '{"labs": {"vae": [{"id": "x", "points": 1, "check": "ran_without_errors"}]}}',
            "needs a name like '03_vae'",
        ),
        (
            '{"labs": {"03_vae": [{"id": "x", "points": 1, "check": "section_states_results",'
            ' "section": "Observations", "results": "loss"}]}}',
            "'results' must be a list of result names",
        ),
    ],
)
def test_a_bad_rubric_file_names_its_problem(rubric, message, tmp_path):
    path = tmp_path / "rubric.json"
    path.write_text(rubric, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        labkit_instructor.load_rubrics(path)


def test_find_submissions_searches_folders_and_skips_checkpoints(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / ".ipynb_checkpoints").mkdir()
    for name in ["alice/03_vae.ipynb", "alice/.ipynb_checkpoints/03_vae.ipynb", "bob.ipynb"]:
        (tmp_path / name).write_text("{}", encoding="utf-8")
    found = labkit_instructor.find_submissions([tmp_path])
    assert found == [tmp_path / "alice" / "03_vae.ipynb", tmp_path / "bob.ipynb"]
    with pytest.raises(FileNotFoundError, match="No file or folder"):
        labkit_instructor.find_submissions([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No notebooks"):
        labkit_instructor.find_submissions([tmp_path / "empty"])


def test_the_labs_graded_note_is_not_counted_as_the_students_words(tmp_path, rubrics):
    notebook = _read("03_vae.ipynb")
    index = _cell_index(notebook, "## Observations")
    note = next(
        line
        for line in _source(notebook["cells"][index]).splitlines()
        if line.startswith("*Graded:")
    )
    notebook["cells"][index]["source"] = f"## Observations\n\n{note}\n\nToo short to count."
    report = labkit_instructor.grade_notebook(_write(tmp_path, "03_vae.ipynb", notebook), rubrics)
    item = next(item for item in report.items if item.id == "observations")
    assert item.points == 0 and "has 4 words" in item.feedback, item.feedback
