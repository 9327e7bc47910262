"""labkit.model_cache: a model trained once is loaded, not trained again, by the next notebook."""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest

import labkit
import labkit.training
from labkit import model_cache
from labkit.config import load_settings
from labkit.data import LabData
from labkit.model_cache import cached_model_path, model_fingerprint


@pytest.fixture
def small(mnist_subset, tmp_path):
    data = LabData(**{name: mnist_subset[name][:512] for name in mnist_subset})
    settings = dataclasses.replace(
        load_settings({"LABKIT_QUICK": "1"}), num_epochs=1, cache_dir=tmp_path / "cache"
    )
    return data, settings


def _fresh_vae(data, seed=0):
    labkit.seed_everything(seed)
    return labkit.build_vae(pixel_means=data.x_train.mean(axis=0))


# XLA off: these tests are about the cache, and XLA's compile would be most of their time (the
# notebooks' runs under nbval train and load with it).
XLA = False


def _fingerprint(model, data, settings, loss="mse"):
    labkit.training.compile_for_data(model, data, settings, loss=loss, jit_compile=XLA)
    return model_fingerprint(model, data, settings)


def _train_or_load(model, data, settings, **options):
    return labkit.train_or_load(model, data, settings, jit_compile=XLA, **options)


def test_a_model_trained_once_is_loaded_the_second_time(small, capsys):
    data, settings = small
    first = _fresh_vae(data)
    history = _train_or_load(first, data, settings, log_name="VAE")
    assert "VAE  epoch 1/1" in capsys.readouterr().out
    files = list(settings.cache_dir.iterdir())
    assert [path.suffix for path in files] == [".npz"] and files[0].name.startswith("vae-")

    second = _fresh_vae(data)  # the same seed: the same model, not yet trained
    loaded_history = _train_or_load(second, data, settings, log_name="VAE")
    printed = capsys.readouterr().out
    assert printed.startswith(f"VAE: loaded the model from {files[0]}")
    assert "LABKIT_RETRAIN=1" in printed
    assert "epoch" not in printed
    assert int(second.optimizer.iterations) == 0  # compiled as training leaves it, not trained
    assert second.evaluate(data.x_val, verbose=0) == pytest.approx(
        first.evaluate(data.x_val, verbose=0)
    )
    assert loaded_history == history
    for ours, theirs in zip(second.get_weights(), first.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_a_conditional_vae_trains_on_its_labels_and_is_loaded_the_second_time(small, capsys):
    data, settings = small

    def fresh_cvae():
        labkit.seed_everything(0)
        return labkit.models.build_conditional_vae(pixel_means=data.x_train.mean(axis=0), seed=0)

    first = fresh_cvae()
    history = _train_or_load(first, data, settings, labels=True, log_name="CVAE")
    assert "CVAE  epoch 1/1" in capsys.readouterr().out
    assert set(history) >= {"loss", "kl_loss", "val_loss"}
    second = fresh_cvae()
    assert _train_or_load(second, data, settings, labels=True, log_name="CVAE") == history
    assert "CVAE: loaded the model" in capsys.readouterr().out
    # Other digits are other training data: another key.
    relabelled = dataclasses.replace(data, y_train=(data.y_train + 1) % 10)
    compiled = fresh_cvae()
    labkit.training.compile_for_data(compiled, data, settings, jit_compile=XLA)
    assert model_fingerprint(compiled, data, settings, labels=True) != model_fingerprint(
        compiled, relabelled, settings, labels=True
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda data, settings: (_fresh_vae(data, seed=1), data, settings),  # other weights
        lambda data, settings: (
            _fresh_vae(data),
            data,
            dataclasses.replace(settings, batch_size=64),
        ),
        lambda data, settings: (
            _fresh_vae(data),
            dataclasses.replace(data, x_train=data.x_train[:256]),
            settings,
        ),
        lambda data, settings: (
            labkit.build_vae(beta=4.0, pixel_means=data.x_train.mean(axis=0)),
            data,
            settings,
        ),
    ],
    ids=["initial weights", "batch size", "training images", "beta"],
)
def test_anything_that_changes_training_changes_the_fingerprint(small, change):
    data, settings = small
    reference = _fingerprint(_fresh_vae(data), data, settings)
    assert _fingerprint(*change(data, settings)) != reference


def _conv_vae(strides):
    from labkit.backend import keras

    labkit.seed_everything(0)
    image = keras.Input((784,))
    grid = keras.layers.Reshape((28, 28, 1))(image)
    hidden = keras.layers.Flatten()(
        keras.layers.Conv2D(4, 3, strides=strides, padding="same")(grid)
    )
    z_mean, z_log_var = keras.layers.Dense(2)(hidden), keras.layers.Dense(2)(hidden)
    z = labkit.Sampling(seed=0)([z_mean, z_log_var])
    code = keras.Input((2,))
    pixels = keras.layers.Dense(784, activation="sigmoid")(code)
    return labkit.VAE(
        keras.Model(image, [z_mean, z_log_var, z], name="encoder"),
        keras.Model(code, pixels, name="decoder"),
    )


def test_convolutions_and_xla_are_part_of_the_fingerprint(small):
    data, settings = small
    reference = _fingerprint(_conv_vae(strides=1), data, settings)
    assert reference == _fingerprint(_conv_vae(strides=1), data, settings)
    assert reference != _fingerprint(_conv_vae(strides=2), data, settings)  # other weights
    # A layer that computes otherwise with the same weights is caught by the probe loss: see
    # test_a_model_that_computes_another_loss_is_trained_not_loaded.
    with_xla = _conv_vae(strides=1)
    labkit.training.compile_for_data(with_xla, data, settings, jit_compile=True)
    assert reference != model_fingerprint(with_xla, data, settings)


def test_the_fingerprint_does_not_depend_on_what_was_built_before(small):
    data, settings = small
    first = _fingerprint(_fresh_vae(data), data, settings)
    for _ in range(3):  # layers and models created in between get numbered names
        labkit.build_autoencoder()
    assert _fingerprint(_fresh_vae(data), data, settings) == first
    vae = _fresh_vae(data)  # a VAE has its own loss: what is passed does not matter
    assert _fingerprint(vae, data, settings, loss=None) == _fingerprint(vae, data, settings)
    autoencoder = labkit.build_autoencoder(latent_dim=2)
    assert _fingerprint(autoencoder, data, settings, loss="mse") != _fingerprint(
        autoencoder, data, settings, loss=labkit.summed_binary_crossentropy
    )


def test_a_change_to_the_training_code_changes_the_fingerprint(small, tmp_path, monkeypatch):
    data, settings = small
    model = _fresh_vae(data)
    code = tmp_path / "training.py"
    code.write_text("STEPS = 1\n", encoding="utf-8")
    monkeypatch.setattr(model_cache, "_TRAINING_CODE", (types.SimpleNamespace(__file__=code),))
    before = _fingerprint(model, data, settings)
    code.write_text("STEPS = 2\n", encoding="utf-8")
    assert _fingerprint(model, data, settings) != before


def test_a_corrupt_file_is_trained_over_with_a_warning(small, capsys):
    data, settings = small
    model = _fresh_vae(data)
    path = cached_model_path(model, _fingerprint(model, data, settings), settings)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a numpy file")
    with pytest.warns(UserWarning, match="could not use the cached model .* training it again"):
        _train_or_load(model, data, settings)
    assert "epoch 1/1" in capsys.readouterr().out
    _train_or_load(_fresh_vae(data), data, settings)  # now it loads
    assert "loaded the model from" in capsys.readouterr().out


def test_retrain_trains_even_with_a_cached_model(small, capsys):
    data, settings = small
    _train_or_load(_fresh_vae(data), data, settings)
    capsys.readouterr()
    retrain = dataclasses.replace(settings, retrain=True)
    _train_or_load(_fresh_vae(data), data, retrain)
    assert "epoch 1/1" in capsys.readouterr().out
    assert load_settings({"LABKIT_RETRAIN": "1"}).retrain
    assert not load_settings({}).retrain


def test_an_unwritable_cache_only_warns(small, tmp_path):
    data, settings = small
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("x", encoding="utf-8")
    settings = dataclasses.replace(settings, cache_dir=blocked)
    with pytest.warns(UserWarning, match="could not save the trained model"):
        history = _train_or_load(_fresh_vae(data), data, settings)
    assert len(history["loss"]) == 1


def test_the_cache_folder_comes_from_the_environment(tmp_path):
    assert load_settings({}).cache_dir.name == ".labkit_cache"
    assert load_settings({"LABKIT_CACHE_DIR": str(tmp_path)}).cache_dir == tmp_path


def test_a_model_that_computes_another_loss_is_trained_not_loaded(small, capsys):
    data, settings = small
    _train_or_load(_fresh_vae(data), data, settings)
    capsys.readouterr()
    changed = _fresh_vae(data)  # the same layers and weights, but its loss counts KL twice
    original = changed.compute_losses

    def counting_kl_twice(images, training=False):
        losses = original(images, training)
        return {**losses, "loss": losses["loss"] + losses["kl_loss"]}

    changed.compute_losses = counting_kl_twice
    _train_or_load(changed, data, settings, log_name="VAE")
    printed = capsys.readouterr().out
    assert "holds a model that computes another loss" in printed
    assert "VAE  epoch 1/1" in printed


def test_save_for_later_labs_saves_only_what_the_settings_describe(small, capsys):
    data, settings = small
    model = _fresh_vae(data)
    labkit.training.compile_for_data(model, data, settings, jit_compile=XLA)
    batches = labkit.image_batches(data.x_train, settings.batch_size, shuffle_seed=settings.seed)
    keep = labkit.SaveForLaterLabs(data, settings, trained_in="Lab 03")
    model.fit(batches, epochs=2, shuffle=False, verbose=0, callbacks=[keep])  # settings: 1
    assert "not saved for later labs: epochs 2 where the settings give 1" in (
        capsys.readouterr().out
    )
    assert not settings.cache_dir.exists()
    model.fit(batches.take(2), epochs=1, shuffle=False, verbose=0, callbacks=[keep])  # 2 of 3
    assert "steps 2 where the settings give 3" in capsys.readouterr().out


def test_the_fingerprint_needs_a_compiled_model(small):
    data, settings = small
    with pytest.raises(ValueError, match="is not compiled; compile it first"):
        model_fingerprint(_fresh_vae(data), data, settings)


def test_the_key_reads_the_kit_s_code_but_not_its_docstrings_or_comments(tmp_path):
    # Editing a docstring or a comment of labkit/models.py keeps every cached model; editing a
    # line of code trains them again.
    def digest(source: str) -> bytes:
        path = tmp_path / "module.py"
        path.write_text(source, encoding="utf-8")
        return model_cache._code_without_docstrings(types.SimpleNamespace(__file__=str(path)))

    code = '"""A module."""\n\n\ndef f(x):\n    """Twice x."""\n    return 2 * x  # doubled\n'
    reworded = '"""Other."""\n\n\ndef f(x):\n    """Two times x."""\n    return 2 * x\n'
    changed = '"""A module."""\n\n\ndef f(x):\n    """Twice x."""\n    return 3 * x  # doubled\n'
    assert digest(code) == digest(reworded)
    assert digest(code) != digest(changed)
    assert digest('def g():\n    """Only a docstring."""\n') != digest("def g():\n    return 1\n")
