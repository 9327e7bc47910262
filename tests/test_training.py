"""labkit.training: the learning-rate schedule, XLA compilation, compiling and fitting on data."""

from __future__ import annotations

import re

import numpy as np
import pytest

import labkit
from labkit.backend import keras
from labkit.config import load_settings
from labkit.data import LabData
from labkit.training import (
    PEAK_LEARNING_RATE,
    compile_for_data,
    fit_on_data,
    learning_rate_schedule,
)


def train(model, data, settings, *, loss="mse", log_name="", jit_compile=True):
    """The kit's one training path: compile with the recipe, then fit on the data. XLA off
    (``jit_compile=False``) where a test is not about the compiled program: its compile would
    be most of the test's time."""
    compile_for_data(model, data, settings, loss=loss, jit_compile=jit_compile)
    return fit_on_data(model, data, settings, log_name=log_name)


def _images(count: int) -> LabData:
    """Data of ``count`` blank training images: compile_for_data counts its steps from them."""
    blank = np.zeros((count, 784), dtype=np.float32)
    return LabData(blank, np.zeros(count), blank[:1], np.zeros(1), blank[:1], np.zeros(1))


def _rates(schedule, steps) -> np.ndarray:
    return np.array([float(schedule(step)) for step in steps])


def test_schedule_warms_up_over_a_quarter_epoch_then_decays_to_zero():
    schedule = learning_rate_schedule(num_epochs=10, steps_per_epoch=100, peak_learning_rate=4e-3)
    warmup_steps = 25  # WARMUP_EPOCHS of an epoch
    start, peak, middle, end = _rates(schedule, [0, warmup_steps, 512.5, 1000])
    assert start == pytest.approx(4e-4)  # a tenth of the peak
    assert peak == pytest.approx(4e-3)
    assert middle == pytest.approx(2e-3, rel=1e-3)  # halfway down the cosine: half the peak
    assert end == pytest.approx(0.0, abs=1e-9)
    warmup = _rates(schedule, range(0, warmup_steps + 1))
    decay = _rates(schedule, range(warmup_steps, 1001))
    assert np.all(np.diff(warmup) > 0) and np.all(np.diff(decay) <= 0)


def test_schedule_for_one_epoch_only_decays():
    rates = _rates(learning_rate_schedule(num_epochs=1, steps_per_epoch=10), [0, 10])
    assert rates[0] == pytest.approx(PEAK_LEARNING_RATE) and rates[1] == pytest.approx(0.0)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"num_epochs": 0, "steps_per_epoch": 10}, "num_epochs must be a positive integer"),
        ({"num_epochs": 2, "steps_per_epoch": 1.5}, "steps_per_epoch must be a positive integer"),
        ({"num_epochs": 2, "steps_per_epoch": 10, "peak_learning_rate": 0}, "must be positive"),
    ],
)
def test_schedule_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        learning_rate_schedule(**arguments)


@pytest.mark.parametrize("kind", ["vae", "autoencoder"])
def test_models_compile_with_xla_after_seeding(kind):
    # seed_everything must not switch on op determinism on a CPU: Keras would then turn XLA off.
    labkit.seed_everything(0)
    model = labkit.build_vae() if kind == "vae" else labkit.build_autoencoder()
    compile_for_data(model, _images(2_500), load_settings({}, num_epochs=2))  # 10 steps each
    assert model.jit_compile is True
    assert model.optimizer.learning_rate.numpy() == pytest.approx(PEAK_LEARNING_RATE / 10)


def test_train_follows_the_settings_and_lowers_the_validation_loss(mnist_subset):
    data = LabData(**{name: mnist_subset[name][:2_000] for name in mnist_subset})
    settings = load_settings({"LABKIT_QUICK": "1"})
    labkit.seed_everything(0)
    vae = labkit.build_vae(pixel_means=data.x_train.mean(axis=0))
    history = train(vae, data, settings)
    assert len(history["val_loss"]) == settings.num_epochs
    assert history["val_loss"][-1] < history["val_loss"][0]
    steps = int(vae.optimizer.iterations.numpy())
    assert steps == settings.num_epochs * -(-len(data.x_train) // settings.batch_size)
    # The schedule ends at zero on the last step.
    assert float(vae.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    assert isinstance(vae.optimizer, keras.optimizers.Adam)


def test_train_an_autoencoder_on_the_summed_cross_entropy(mnist_subset):
    data = LabData(**{name: mnist_subset[name][:1_000] for name in mnist_subset})
    settings = load_settings({"LABKIT_QUICK": "1"})
    labkit.seed_everything(0)
    autoencoder = labkit.build_autoencoder(latent_dim=2, hidden_dims=(64,))
    history = train(
        autoencoder, data, settings, loss=labkit.summed_binary_crossentropy, jit_compile=False
    )
    # In nats per image, like a VAE's reconstruction term (the MSE would be below 1).
    reconstruction = labkit.evaluation.reconstruct(autoencoder, data.x_val)
    bce = labkit.evaluation.reconstruction_errors(data.x_val, reconstruction)["reconstruction_bce"]
    assert history["val_loss"][-1] == pytest.approx(bce, rel=1e-3)
    assert 50 < history["val_loss"][-1] < history["val_loss"][0]


def test_train_prints_one_short_line_per_epoch(mnist_subset, capsys):
    data = LabData(**{name: mnist_subset[name][:512] for name in mnist_subset})
    settings = load_settings({"LABKIT_QUICK": "1"})
    labkit.seed_everything(0)
    history = train(labkit.build_vae(), data, settings, log_name="VAE", jit_compile=False)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == settings.num_epochs == 2
    for epoch, line in enumerate(lines, start=1):
        match = re.fullmatch(
            rf"VAE  epoch {epoch}/2  loss (\d+\.\d)  val_loss (\d+\.\d)  \d+\.\d s", line
        )
        assert match, line
        assert float(match[1]) == pytest.approx(history["loss"][epoch - 1], abs=0.05)
        assert float(match[2]) == pytest.approx(history["val_loss"][epoch - 1], abs=0.05)
    train(labkit.build_autoencoder(latent_dim=2), data, settings, log_name=None, jit_compile=False)
    assert capsys.readouterr().out == ""


def test_epoch_log_keeps_small_losses_readable(capsys):
    log = labkit.EpochLog()
    log.params = {"epochs": 10}
    log.on_train_begin()
    log.on_epoch_begin(0)
    log.on_epoch_end(0, {"loss": 0.006383, "val_loss": 0.006745})
    assert re.fullmatch(
        r"epoch  1/10  loss 0.006383  val_loss 0.006745  \d+\.\d s\n", capsys.readouterr().out
    )


def _epoch(dataset) -> list[np.ndarray]:
    return [np.asarray(batch) for batch in dataset]


def test_image_batches_cover_every_image_once_per_epoch_in_a_seeded_order():
    images = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    batches = labkit.image_batches(images, 4, shuffle_seed=1)
    first, second = _epoch(batches), _epoch(batches)
    assert [len(batch) for batch in first] == [4, 4, 2]  # the last batch is smaller
    for epoch in (first, second):
        np.testing.assert_array_equal(np.sort(np.concatenate(epoch)[:, 0]), images[:, 0])
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))  # reshuffled
    again = _epoch(labkit.image_batches(images, 4, shuffle_seed=1))
    np.testing.assert_array_equal(np.concatenate(again), np.concatenate(first))
    in_order = _epoch(labkit.image_batches(images, 4))
    np.testing.assert_array_equal(np.concatenate(in_order), images)


def test_image_batches_with_targets_yield_pairs():
    images = np.random.default_rng(0).random((5, 784), dtype=np.float32)
    inputs, targets = next(iter(labkit.image_batches(images, 5, with_targets=True)))
    np.testing.assert_array_equal(np.asarray(inputs), images)
    np.testing.assert_array_equal(np.asarray(targets), images)


@pytest.mark.parametrize(
    "images, batch_size, message",
    [
        (np.zeros((4, 28, 28)), 2, r"shape \(num_images, num_pixels\)"),
        (np.zeros((0, 784)), 2, "non-empty"),
        (np.zeros((4, 784)), 0, "batch_size must be a positive integer"),
    ],
)
def test_image_batches_reject_bad_input(images, batch_size, message):
    with pytest.raises(ValueError, match=message):
        labkit.image_batches(images, batch_size)


def test_image_batches_with_labels_keep_each_image_with_its_digit():
    images = np.repeat(np.arange(12, dtype=np.float32)[:, None], 784, axis=1)  # image i is all i
    labels = np.arange(12) % 10
    batches = labkit.image_batches(images, 5, shuffle_seed=3, labels=labels)
    seen = []
    for (batch,) in batches:
        batch_images, batch_labels = (np.asarray(part) for part in batch)
        assert batch_labels.shape == (len(batch_images), 10)
        np.testing.assert_array_equal(np.argmax(batch_labels, axis=1), batch_images[:, 0] % 10)
        seen.extend(batch_images[:, 0].tolist())
    assert sorted(seen) == list(range(12)) and seen != list(range(12))  # all, shuffled


@pytest.mark.parametrize(
    "options, message",
    [
        ({"labels": np.arange(3)}, "one digit per image: 4 images, 3 labels"),
        ({"labels": np.arange(4), "with_targets": True}, "not both"),
        ({"labels": np.array([0, 1, 2, 11])}, "whole numbers from 0 to 9"),
    ],
)
def test_image_batches_refuse_labels_that_do_not_fit(options, message):
    with pytest.raises(ValueError, match=message):
        labkit.image_batches(np.zeros((4, 784), dtype=np.float32), 2, **options)


def test_the_recipe_can_leave_xla_out():
    vae = labkit.build_vae(latent_dim=2, hidden_dims=(8,))
    settings = load_settings({}, num_epochs=1)
    compile_for_data(vae, _images(250), settings, jit_compile=False)
    assert vae.jit_compile is False
    compile_for_data(vae, _images(250), settings)
    assert vae.jit_compile is True


def test_seconds_per_epoch_times_every_model_and_scales_to_an_epoch(mnist_subset, monkeypatch):
    models = {}
    for name, hidden in [("small", (8,)), ("large", (64,))]:
        models[name] = labkit.build_vae(latent_dim=2, hidden_dims=hidden)
        compile_for_data(
            models[name], _images(500), load_settings({}, num_epochs=1), jit_compile=False
        )  # XLA would add seconds of compiling to the test, not to what it checks
    calls = []

    def recording(name, fit):
        def record_then_fit(*args, **kwargs):
            calls.append(name)
            return fit(*args, **kwargs)

        return record_then_fit

    for name, model in models.items():
        monkeypatch.setattr(model, "fit", recording(name, model.fit))
    timings = labkit.seconds_per_epoch(
        models, mnist_subset["x_train"][:500], epoch_images=5000, batch_size=250, rounds=2
    )
    assert calls == ["small", "large"] * 3  # in turns: one untimed round, then two timed
    assert set(timings) == {"small", "large"}
    for measured in timings.values():
        assert measured["wall_seconds"] > 0 and measured["cpu_seconds"] > 0
    # Scaled to 5,000 images: ten times one pass over 500, which takes well under a second.
    assert timings["small"]["wall_seconds"] < 60


def test_seconds_per_epoch_refuses_models_it_cannot_time():
    with pytest.raises(ValueError, match="models is empty"):
        labkit.seconds_per_epoch({}, np.zeros((10, 784)), epoch_images=10, batch_size=5)
    with pytest.raises(ValueError, match="'raw' is not compiled"):
        labkit.seconds_per_epoch(
            {"raw": labkit.build_vae()}, np.zeros((10, 784)), epoch_images=10, batch_size=5
        )
