"""The lab notebooks as committed: one skeleton, full-run outputs, no errors, reasonable size.

nbval re-executes them (see pyproject.toml); these tests check what students open.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

import labkit
import labkit_instructor
from labkit.backend import keras

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
SECTIONS = [
    "Aim",
    "Theory",
    "Algorithm",
    "Pseudo-code",  # where a lab has one: Lab 03 corrects the original lab's
    "Code",
    "Observations",
    "Result",
    "Exercises",
    "References",
]
LABS_WITH_PSEUDO_CODE = {"03", "06", "07"}
MAX_NOTEBOOK_BYTES = 3 * 1024 * 1024
MARKER = re.compile(r"#\s*NBVAL_\w+")


def _load(path: Path):
    return nbformat.read(path, as_version=4)


def test_the_seven_labs_are_there_in_order():
    assert [path.name[:2] for path in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_lab_record_sections_in_order(path):
    notebook = _load(path)
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# Lab {path.name[:2]} ·")
    headings = [
        line[3:].strip()
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("## ")
    ]
    expected = [
        section
        for section in SECTIONS
        if section != "Pseudo-code" or path.name[:2] in LABS_WITH_PSEUDO_CODE
    ]
    assert headings == expected


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_stored_outputs_come_from_one_clean_run(path):
    notebook = _load(path)
    assert notebook.metadata.kernelspec.name == "python3"
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code_cells] == list(range(1, len(code_cells) + 1))
    for cell in code_cells:
        assert not [output for output in cell.outputs if output.output_type == "error"], cell.source
        streams = [output for output in cell.outputs if output.output_type == "stream"]
        assert all(output.name == "stdout" for output in streams), cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_checked_cells_passed_and_markers_stand_alone(path):
    for cell in _load(path).cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if MARKER.search(line):
                # nbval silently ignores a marker that shares its line with code.
                assert MARKER.fullmatch(line.strip()), line
        if "# NBVAL_CHECK_OUTPUT" in cell.source:
            text = "".join(
                output.get("text", "") + output.get("data", {}).get("text/plain", "")
                for output in cell.outputs
            )
            assert text and "FAIL" not in text, cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_full_run_results_and_written_observations(path):
    notebook = _load(path)
    results = labkit_instructor.read_results(notebook)
    assert results, "the Result section must end with labkit.report_results(...)"
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "TO BE WRITTEN" not in text
    if "test_images" in results:
        assert results["test_images"] == 10_000  # committed from a full run, not quick mode


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_size(path):
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_figure_says_in_words_what_it_shows(path):
    """Screen readers, text exports and git diff get a sentence, not <Figure size ...>."""
    described = 0
    for index, cell in enumerate(_load(path).cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" not in data:
                continue
            text = data.get("text/plain", "")
            where = f"{path.name} cell {index}"
            assert not text.startswith("<"), f"{where}: show it with labkit.show(figure, ...)"
            assert len(text.split()) >= 8 and text.rstrip().endswith("."), f"{where}: {text!r}"
            described += 1
    assert described, "every lab has at least one figure"


# --- Parameters: one cell tagged "parameters", as papermill expects -------------------------

TRAINING_NOTEBOOKS = [path for path in NOTEBOOKS if path.name[:2] != "01"]


def _parameters(notebook) -> dict:
    tagged = [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", [])
    ]
    assert len(tagged) == 1, "exactly one code cell must be tagged 'parameters'"
    module = ast.parse(tagged[0].source)
    values = {}
    for statement in module.body:
        # papermill and students read plain NAME = literal lines
        assert isinstance(statement, ast.Assign) and len(statement.targets) == 1
        values[statement.targets[0].id] = ast.literal_eval(statement.value)
    return values


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_one_parameters_cell_first_with_the_notebooks_knobs(path):
    notebook = _load(path)
    parameters = _parameters(notebook)
    expected = (
        {"SEED"}
        if path not in TRAINING_NOTEBOOKS
        else {"EPOCHS", "SEED", "BATCH_SIZE", "LATENT_DIM"}
    )
    assert expected <= parameters.keys()
    first_code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "parameters" in first_code.metadata.get("tags", [])
    setup = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    for name, keyword in [("EPOCHS", "num_epochs"), ("SEED", "seed"), ("BATCH_SIZE", "batch_size")]:
        if name in parameters:
            assert f"{keyword}={name}" in setup, f"{name} must reach labkit.load_settings"


def test_papermill_parameters_win_over_quick_mode(tmp_path):
    # The command instructors and pipelines run; conftest sets LABKIT_QUICK=1 (2 epochs).
    executed = tmp_path / "02_autoencoder.ipynb"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(NOTEBOOK_DIR / "02_autoencoder.ipynb"),
            str(executed),
            "-p",
            "EPOCHS",
            "1",
            "-p",
            "SEED",
            "7",
            "--cwd",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    notebook = _load(executed)
    results = labkit_instructor.read_results(notebook)
    assert results["epochs"] == 1 and results["seed"] == 7
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert "quick mode: 1 epoch, seed 7, batch size 250" in printed
    # labkit.EpochLog: one short line per epoch
    assert re.findall(r"^autoencoder  epoch (\d+)/(\d+)  loss ", printed, flags=re.MULTILINE) == [
        ("1", "1")
    ]
    injected = [
        cell for cell in notebook.cells if "injected-parameters" in cell.metadata.get("tags", [])
    ]
    assert len(injected) == 1 and "EPOCHS = 1" in injected[0].source


# --- Lab 03 writes its VAE out; labkit.build_vae is the tested copy that Labs 04 and 05 use ----


def _run_the_notebooks_model_cells(latent_dim: int) -> dict:
    notebook = _load(NOTEBOOK_DIR / "03_vae.ipynb")
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    model_cells = [c for c in notebook.cells if "vae-model" in c.metadata.get("tags", [])]
    assert [c.source.split("\n")[-1] for c in model_cells][
        -1
    ] == 'vae = VAE(encoder, decoder, name="vae")'
    namespace: dict = {"__name__": "lab03"}
    exec(parameters.source, namespace)
    namespace["LATENT_DIM"] = latent_dim
    namespace["labkit"] = labkit
    namespace["settings"] = labkit.load_settings({}, seed=3)
    for cell in model_cells:
        exec(cell.source.replace(".summary()", ".count_params()"), namespace)
    return namespace


@pytest.mark.parametrize("latent_dim", [2, 5])
def test_lab_03s_written_out_vae_is_labkits_reference(latent_dim):
    namespace = _run_the_notebooks_model_cells(latent_dim)
    vae = namespace["vae"]
    assert namespace["Sampling"] is not labkit.Sampling and type(vae) is not labkit.VAE
    labkit.seed_everything(0)
    reference = labkit.build_vae(
        latent_dim=latent_dim, hidden_dims=(namespace["INTERMEDIATE_DIM"],)
    )
    if latent_dim == 2:  # the lab's summaries
        assert (vae.encoder.count_params(), vae.decoder.count_params()) == (403_972, 403_728)
    assert vae.encoder.count_params() == reference.encoder.count_params()
    assert vae.decoder.count_params() == reference.decoder.count_params()
    # The same weights give the same losses, and the same gradients, on the same images.
    reference.set_weights(vae.get_weights())
    images = np.random.default_rng(0).random((64, labkit.NUM_PIXELS)).astype("float32")
    ours, kits = vae.compute_losses(images), reference.compute_losses(images)
    for name in ["loss", "reconstruction_loss", "kl_loss"]:
        assert float(ours[name]) == pytest.approx(float(kits[name]), rel=1e-6), name
    # test_step: what fit reports as val_*; train_step: one identical Adam step on both.
    for model in (vae, reference):
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3))
    ours, kits = (
        vae.evaluate(images, batch_size=64, verbose=0, return_dict=True),
        reference.evaluate(images, batch_size=64, verbose=0, return_dict=True),
    )
    assert ours == pytest.approx(kits, rel=1e-6)
    assert ours["loss"] == pytest.approx(float(vae.compute_losses(images)["loss"]), rel=1e-5)
    labkit.seed_everything(1)
    vae.fit(images, batch_size=64, epochs=1, verbose=0)
    labkit.seed_everything(1)
    reference.fit(images, batch_size=64, epochs=1, verbose=0)
    assert float(vae.compute_losses(images)["loss"]) != pytest.approx(
        float(kits["loss"]), rel=1e-4
    )  # it trained


def test_lab_07s_written_out_conditional_vae_is_labkits_reference():
    notebook = _load(NOTEBOOK_DIR / "07_conditional_vae.ipynb")
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    model_cells = [c for c in notebook.cells if "vae-model" in c.metadata.get("tags", [])]
    namespace: dict = {"__name__": "lab07", "labkit": labkit, "keras": keras, "np": np}
    namespace["layers"] = keras.layers
    exec(parameters.source, namespace)
    namespace["settings"] = labkit.load_settings({}, seed=3)
    for cell in model_cells:
        exec(cell.source.replace(".summary()", ".count_params()"), namespace)
    cvae = namespace["cvae"]
    assert type(cvae) is not labkit.models.ConditionalVAE
    reference = labkit.models.build_conditional_vae(
        latent_dim=namespace["LATENT_DIM"], hidden_dims=(namespace["INTERMEDIATE_DIM"],)
    )
    assert cvae.encoder.count_params() == reference.encoder.count_params() == 409_092
    assert cvae.decoder.count_params() == reference.decoder.count_params() == 408_848
    reference.set_weights(cvae.get_weights())
    rng = np.random.default_rng(0)
    images = keras.ops.convert_to_tensor(rng.random((64, labkit.NUM_PIXELS)), "float32")
    digits = keras.ops.convert_to_tensor(labkit.data.one_hot(rng.integers(0, 10, 64)))
    ours = cvae.compute_losses((images, digits))
    kits = reference.compute_losses((images, digits))
    for name in ["loss", "reconstruction_loss", "kl_loss"]:
        assert float(ours[name]) == pytest.approx(float(kits[name]), rel=1e-6), name


def test_the_vae_lab_03_trains_is_the_one_labs_04_and_05_load(mnist_subset, tmp_path, capsys):
    """Lab 03 saves its VAE (SaveForLaterLabs); labkit.build_vae(seed=...) finds it, and
    training labkit's copy instead gives the same model: the cache hands on the same thing."""
    import dataclasses

    data = labkit.data.LabData(**{name: mnist_subset[name][:1_000] for name in mnist_subset})
    settings = dataclasses.replace(
        labkit.load_settings({"LABKIT_QUICK": "1"}, seed=3),
        num_epochs=2,
        cache_dir=tmp_path / "cache",
    )
    notebook = _load(NOTEBOOK_DIR / "03_vae.ipynb")
    (training_cell,) = [c for c in notebook.cells if "labkit.SaveForLaterLabs(" in c.source]
    labkit.seed_everything(settings.seed)  # as the notebook's setup cell does
    namespace = _run_the_notebooks_model_cells(2)
    namespace.update(data=data, settings=settings, keras=keras)
    exec(training_cell.source, namespace)
    lab_03 = namespace["vae"]
    printed = capsys.readouterr().out
    (saved,) = list(settings.cache_dir.iterdir())
    assert f"vae: saved for later labs in {saved}" in printed

    def kits_copy():
        labkit.seed_everything(settings.seed)
        return labkit.build_vae(pixel_means=data.x_train.mean(axis=0), seed=settings.seed)

    loaded = kits_copy()
    history = labkit.train_or_load(loaded, data, settings, log_name="VAE")
    printed = capsys.readouterr().out
    assert printed.startswith(f"VAE: loaded the model trained in Lab 03 from {saved}")
    assert history == namespace["history"].history
    for ours, theirs in zip(loaded.get_weights(), lab_03.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)

    retrained = kits_copy()
    retrained_history = labkit.train_or_load(
        retrained, data, dataclasses.replace(settings, retrain=True), log_name=None
    )
    for name, values in history.items():
        assert retrained_history[name] == pytest.approx(values, rel=1e-4), name
    for ours, theirs in zip(retrained.get_weights(), lab_03.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)

    # Another seed for the noise (build_vae's default draws one): another model, trained.
    labkit.seed_everything(settings.seed)
    unseeded = labkit.build_vae(pixel_means=data.x_train.mean(axis=0))
    labkit.train_or_load(unseeded, data, settings, log_name="VAE")
    assert "VAE  epoch 1/2" in capsys.readouterr().out


def test_lab_03s_model_cells_say_what_a_missing_test_step_does():
    namespace = _run_the_notebooks_model_cells(2)
    broken = type("Broken", (namespace["VAE"],), {"test_step": keras.Model.test_step})(
        namespace["encoder"], namespace["decoder"]
    )
    broken.compile(optimizer="adam")
    with pytest.raises(ValueError, match="No loss to compute"):
        broken.evaluate(np.zeros((4, labkit.NUM_PIXELS), "float32"), verbose=0)
