"""labkit.checks, Lab 03 and the framework: the three graded parts pass the instructor's answers,
fail every wrong answer and name each mistake they recognise; the framework reports code that
raises and leaves the notebook's random numbers alone.

Each wrong answer is written as a student would write it, in the notebook's own class shape.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

import labkit
from labkit.backend import keras, tf
from labkit.checks import EXERCISES

ops = keras.ops
SEEDS = (0, 1, 2)


# --- Sampling.call: the instructor's answer and the mistakes ----------------------------------


class Sampling(keras.layers.Layer):
    """Lab 03's layer, as the instructor's notebook writes it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(42)

    def noise(self, z_mean, training):
        seed = self.seed_generator if training else labkit.EVALUATION_SEED
        return keras.random.normal(ops.shape(z_mean), seed=seed)

    def call(self, inputs, training=None):
        z_mean, z_log_var = inputs
        return z_mean + ops.exp(0.5 * z_log_var) * self.noise(z_mean, training)


def _sampling(body):
    return type("StudentSampling", (Sampling,), {"call": body})


def _variance_as_std(self, inputs, training=None):
    z_mean, z_log_var = inputs
    return z_mean + ops.exp(z_log_var) * self.noise(z_mean, training)


def _log_var_as_std(self, inputs, training=None):
    z_mean, z_log_var = inputs
    return z_mean + z_log_var * self.noise(z_mean, training)


def _square_root_of_std(self, inputs, training=None):
    z_mean, z_log_var = inputs
    return z_mean + ops.exp(0.25 * z_log_var) * self.noise(z_mean, training)


def _unscaled_noise(self, inputs, training=None):
    z_mean, _ = inputs
    return z_mean + self.noise(z_mean, training)


def _no_noise(self, inputs, training=None):
    return inputs[0] + 0 * inputs[1]


def _no_mean(self, inputs, training=None):
    z_mean, z_log_var = inputs
    return ops.exp(0.5 * z_log_var) * self.noise(z_mean, training)


def _square_root_of_log_var(self, inputs, training=None):
    z_mean, z_log_var = inputs
    return z_mean + ops.sqrt(z_log_var) * self.noise(z_mean, training)


def _numpy_noise_once(self, inputs, training=None):
    z_mean, z_log_var = inputs
    epsilon = np.random.default_rng(0).standard_normal(tuple(z_mean.shape)).astype("float32")
    return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def _numpy_noise_each_call(self, inputs, training=None):
    z_mean, z_log_var = inputs
    epsilon = np.random.standard_normal(tuple(z_mean.shape)).astype("float32")
    return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def _one_epsilon_per_row(self, inputs, training=None):
    z_mean, z_log_var = inputs
    seed = self.seed_generator if training else labkit.EVALUATION_SEED
    epsilon = keras.random.normal((ops.shape(z_mean)[0], 1), seed=seed)
    return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def _sorted_noise(self, inputs, training=None):
    z_mean, z_log_var = inputs
    return z_mean + ops.exp(0.5 * z_log_var) * ops.sort(self.noise(z_mean, training), axis=0)


def _uniform_noise(self, inputs, training=None):
    z_mean, z_log_var = inputs
    seed = self.seed_generator if training else labkit.EVALUATION_SEED
    epsilon = keras.random.uniform(ops.shape(z_mean), -(3**0.5), 3**0.5, seed=seed)
    return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def _new_noise_when_evaluating(self, inputs, training=None):
    z_mean, z_log_var = inputs
    epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
    return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def _mean_when_evaluating(self, inputs, training=None):
    z_mean, z_log_var = inputs
    if not training:
        return z_mean + 0 * z_log_var
    return z_mean + ops.exp(0.5 * z_log_var) * self.noise(z_mean, training)


def _through_numpy(self, inputs, training=None):
    z_mean, z_log_var = (ops.convert_to_numpy(part) for part in inputs)
    epsilon = ops.convert_to_numpy(self.noise(z_mean, training))
    return ops.convert_to_tensor(z_mean + np.exp(0.5 * z_log_var) * epsilon)


def _unsolved(self, *args, **kwargs):
    raise NotImplementedError("Exercise 1a: draw epsilon, return z_mean + sigma * epsilon")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("hidden", [False, True])
def test_the_instructors_sampling_layer_passes(seed, hidden):
    check = labkit.check_exercise("sampling", Sampling, hidden=hidden, seed=seed)
    assert check.passed and check.advice is None, check.checks


@pytest.mark.parametrize(
    "body, advice",
    [
        (_variance_as_std, "variance is sigma^4 = exp(2 * z_log_var)"),
        (_log_var_as_std, "scaled the noise by z_log_var itself"),
        (_square_root_of_std, "that is the standard deviation"),
        (_unscaled_noise, "variance is 1 whatever z_log_var says"),
        (_no_noise, "no spread"),
        (_no_mean, "centred on 0, not on z_mean"),
        (_square_root_of_log_var, "NaN or infinite"),
        (_numpy_noise_once, "the same noise on two training calls"),
        (_numpy_noise_each_call, "fails when compiled as fit() compiles it"),
        (_one_epsilon_per_row, "correlated, across the latent dimensions"),
        (_sorted_noise, "not independent from one row to the next"),
        (_uniform_noise, "not normal"),
        (_new_noise_when_evaluating, "Two evaluation calls gave different codes"),
        (_mean_when_evaluating, "When training is False your layer returns z_mean"),
        (_through_numpy, "fails when compiled as fit() compiles it"),
        (_unsolved, "Not written yet"),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else None,
)
def test_each_sampling_mistake_fails_with_its_own_advice(body, advice):
    for seed in SEEDS:
        check = labkit.check_exercise("sampling", _sampling(body), seed=seed)
        assert not check.passed
        assert advice in check.advice, check.advice


def test_the_stubs_hint_reaches_the_advice_without_kerass_wrapping():
    check = labkit.check_exercise("sampling", _sampling(_unsolved), seed=0)
    assert check.advice == (
        "Not written yet: replace the line `raise NotImplementedError(...)` with your code "
        "(Exercise 1a: draw epsilon, return z_mean + sigma * epsilon), run that cell, then "
        "this one."
    )


# --- compute_losses: the instructor's answer and the mistakes ---------------------------------


class VAE(keras.Model):
    """Lab 03's VAE class, as the instructor's notebook writes it (trackers as there)."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def call(self, images, training=None):
        return self.decoder(self.encoder(images, training=training)[2], training=training)

    def terms(self, images, training=False, decode="z"):
        z_mean, z_log_var, z = self.encoder(images, training=training)
        reconstruction = self.decoder(z_mean if decode == "z_mean" else z, training=training)
        cross_entropy = ops.binary_crossentropy(images, reconstruction)
        kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        return images, reconstruction, cross_entropy, kl

    def compute_losses(self, images, training=False):
        _, _, cross_entropy, kl = self.terms(images, training)
        reconstruction_loss = ops.mean(ops.sum(cross_entropy, axis=-1))
        kl_loss = ops.mean(ops.sum(kl, axis=-1))
        return {
            "loss": reconstruction_loss + kl_loss,
            "reconstruction_loss": reconstruction_loss,
            "kl_loss": kl_loss,
        }

    def update_trackers(self, losses):
        self.total_loss_tracker.update_state(losses["loss"])
        self.reconstruction_loss_tracker.update_state(losses["reconstruction_loss"])
        self.kl_loss_tracker.update_state(losses["kl_loss"])
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, images):
        with tf.GradientTape() as tape:
            losses = self.compute_losses(images, training=True)
        gradients = tape.gradient(losses["loss"], self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        return self.update_trackers(losses)

    def test_step(self, images):
        return self.update_trackers(self.compute_losses(images, training=False))


def _vae(**methods):
    return type("StudentVAE", (VAE,), methods)


def _losses(reconstruction_loss, kl_loss, loss=None):
    return {
        "loss": reconstruction_loss + kl_loss if loss is None else loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _mean_over_pixels(self, images, training=False):
    _, _, cross_entropy, kl = self.terms(images, training)
    return _losses(ops.mean(cross_entropy), ops.mean(ops.sum(kl, axis=-1)))


def _keras_mean_cross_entropy(self, images, training=False):
    # keras.losses.binary_crossentropy averages over the last axis: the same mistake.
    _, reconstruction, _, kl = self.terms(images, training)
    reconstruction_loss = ops.mean(keras.losses.binary_crossentropy(images, reconstruction))
    return _losses(reconstruction_loss, ops.mean(ops.sum(kl, axis=-1)))


def _decoder_fed_z_mean(self, images, training=False):
    _, _, cross_entropy, kl = self.terms(images, training, decode="z_mean")
    return _losses(ops.mean(ops.sum(cross_entropy, axis=-1)), ops.mean(ops.sum(kl, axis=-1)))


def _squared_error(self, images, training=False):
    images, reconstruction, _, kl = self.terms(images, training)
    squared = ops.sum(ops.square(images - reconstruction), axis=-1)
    return _losses(ops.mean(squared), ops.mean(ops.sum(kl, axis=-1)))


def _kl_wrong_sign(self, images, training=False):
    _, _, cross_entropy, kl = self.terms(images, training)
    return _losses(ops.mean(ops.sum(cross_entropy, axis=-1)), ops.mean(ops.sum(-kl, axis=-1)))


def _kl_mean_over_latent_dimensions(self, images, training=False):
    _, _, cross_entropy, kl = self.terms(images, training)
    return _losses(ops.mean(ops.sum(cross_entropy, axis=-1)), ops.mean(kl))


def _kl_left_out_of_the_loss(self, images, training=False):
    _, _, cross_entropy, kl = self.terms(images, training)
    reconstruction_loss = ops.mean(ops.sum(cross_entropy, axis=-1))
    return _losses(reconstruction_loss, ops.mean(ops.sum(kl, axis=-1)), reconstruction_loss)


def _no_kl(self, images, training=False):
    _, _, cross_entropy, _ = self.terms(images, training)
    reconstruction_loss = ops.mean(ops.sum(cross_entropy, axis=-1))
    return _losses(reconstruction_loss, 0.0 * reconstruction_loss)


def _summed_over_the_batch(self, images, training=False):
    _, _, cross_entropy, kl = self.terms(images, training)
    return _losses(ops.sum(cross_entropy), ops.sum(kl))


def _training_not_passed_on(self, images, training=False):
    z_mean, z_log_var, z = self.encoder(images)
    cross_entropy = ops.binary_crossentropy(images, self.decoder(z))
    kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
    return _losses(ops.mean(ops.sum(cross_entropy, axis=-1)), ops.mean(ops.sum(kl, axis=-1)))


def _kl_without_gradient(self, images, training=False):
    _, _, cross_entropy, kl = self.terms(images, training)
    kl_loss = ops.stop_gradient(ops.mean(ops.sum(kl, axis=-1)))
    return _losses(ops.mean(ops.sum(cross_entropy, axis=-1)), kl_loss)


def _decoder_fed_a_stopped_z(self, images, training=False):
    z_mean, z_log_var, z = self.encoder(images, training=training)
    reconstruction = self.decoder(ops.stop_gradient(z), training=training)
    cross_entropy = ops.binary_crossentropy(images, reconstruction)
    kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
    return _losses(ops.mean(ops.sum(cross_entropy, axis=-1)), ops.mean(ops.sum(kl, axis=-1)))


def _other_names(self, images, training=False):
    losses = VAE.compute_losses(self, images, training)
    return {"total": losses["loss"], "reconstruction": losses["reconstruction_loss"]}


def _constant_losses(self, images, training=False):
    # Numbers that ignore the images: the per-image comparison catches any such answer.
    return _losses(ops.convert_to_tensor(150.0), ops.convert_to_tensor(5.0))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("hidden", [False, True])
def test_the_instructors_loss_and_test_step_pass(seed, hidden):
    for name in ("vae_loss", "test_step"):
        check = labkit.check_exercise(name, VAE, hidden=hidden, seed=seed)
        assert check.passed and check.advice is None, (name, check.checks)


@pytest.mark.parametrize(
    "compute_losses, advice",
    [
        (_mean_over_pixels, "mean over the pixels, 784 times too small"),
        (_keras_mean_cross_entropy, "mean over the pixels, 784 times too small"),
        (_decoder_fed_z_mean, "Your decoder reconstructed from z_mean"),
        (_squared_error, "a squared error"),
        (_kl_wrong_sign, "Your KL has the wrong sign"),
        (_kl_mean_over_latent_dimensions, "averaged over the latent dimensions"),
        (_kl_left_out_of_the_loss, "leaves the KL out"),
        (_no_kl, "Your kl_loss is 0"),
        (_summed_over_the_batch, "sums over the images"),
        (_other_names, "Return a dict with the keys"),
        (_training_not_passed_on, "Pass training=training to self.encoder and self.decoder"),
        (_kl_without_gradient, "its KL term passes no gradient"),
        (_decoder_fed_a_stopped_z, "No gradient reaches the encoder or the decoder"),
        (_constant_losses, "No gradient reaches the encoder or the decoder"),
        (_unsolved, "Not written yet"),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else None,
)
def test_each_loss_mistake_fails_with_its_own_advice(compute_losses, advice):
    for seed in SEEDS[:2]:
        check = labkit.check_exercise("vae_loss", _vae(compute_losses=compute_losses), seed=seed)
        assert not check.passed
        assert advice in check.advice, check.advice


def _updates_weights(self, images):
    return self.train_step(images)


def _training_noise(self, images):
    return self.update_trackers(self.compute_losses(images, training=True))


def _trackers_not_updated(self, images):
    return self.compute_losses(images)


def _optimizer_stepped_with_zeros(self, images):
    zeros = [ops.zeros_like(weight) for weight in self.trainable_weights]
    self.optimizer.apply_gradients(zip(zeros, self.trainable_weights, strict=True))
    return self.update_trackers(self.compute_losses(images, training=False))


def _nothing_returned(self, images):
    self.update_trackers(self.compute_losses(images))


@pytest.mark.parametrize(
    "test_step, advice",
    [
        (_updates_weights, "Your test_step changed the weights"),
        (_training_noise, "call compute_losses with training=False"),
        (_trackers_not_updated, "evaluate reported 0: update the trackers"),
        (_nothing_returned, "test_step must return the trackers' results"),
        (_optimizer_stepped_with_zeros, "changed the optimizer's state"),
        (_unsolved, "Not written yet"),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else None,
)
def test_each_test_step_mistake_fails_with_its_own_advice(test_step, advice):
    check = labkit.check_exercise("test_step", _vae(test_step=test_step), seed=0)
    assert not check.passed
    assert advice in check.advice, check.advice


def test_the_test_step_check_does_not_depend_on_the_students_loss():
    # A right test_step is not failed for Exercise 1b's stub: the check brings its own loss.
    check = labkit.check_exercise("test_step", _vae(compute_losses=_unsolved), seed=0)
    assert check.passed, check.advice


# --- The framework ------------------------------------------------------------------------


def test_fresh_inputs_every_call_unless_seeded():
    draw = EXERCISES["vae_loss"].draw
    first, second = (draw(np.random.default_rng(seed), False) for seed in (1, 2))
    assert not np.array_equal(first["images"], second["images"])
    hidden = draw(np.random.default_rng(1), True)
    assert hidden["images"].shape != first["images"].shape  # other sizes when hidden


def test_the_check_shows_the_advice_and_stores_it_for_the_grader():
    check = labkit.check_exercise("sampling", _sampling(_variance_as_std), seed=0)
    bundle = check._repr_mimebundle_()
    assert bundle["text/plain"].startswith("exercise sampling: FAIL")
    assert "What to fix: Your samples' variance is sigma^4" in bundle["text/plain"]
    record = bundle[labkit.reporting.CHECK_MIME_TYPE]
    assert record["passed"] is False and record["advice"] == check.advice


def test_code_that_raises_is_reported_with_the_error_and_its_line():
    def call(self, inputs, training=None):
        return inputs[0] + undefined_name  # noqa: F821

    check = labkit.check_exercise("sampling", _sampling(call), seed=0)
    assert check.checks == {"the answer runs on the check's inputs": False}
    assert "NameError" in check.advice and "line" in check.advice


def test_an_unknown_exercise_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"no exercise 'sampler'.*sampling"):
        labkit.check_exercise("sampler", Sampling)


def test_under_nbgrader_a_failed_check_raises_with_its_advice(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(AssertionError, match="Not written yet"):
        labkit.check_exercise("sampling", _sampling(_unsolved), seed=0)


def test_a_check_leaves_the_notebooks_random_numbers_as_they_were():
    # A check builds models and draws noise; the notebook's next random numbers must not move:
    # Python's and NumPy's, Keras's unseeded draws and a new layer's initial weights.
    def next_numbers():
        layer = keras.layers.Dense(1)
        layer.build((None, 3))
        unseeded = float(keras.random.normal((), seed=None))
        return random.random(), np.random.random(), unseeded, layer.get_weights()[0].tolist()

    labkit.seed_everything(5)
    expected = next_numbers()
    labkit.seed_everything(5)
    for name, answer in [("sampling", Sampling), ("vae_loss", VAE), ("test_step", VAE)]:
        labkit.check_exercise(name, answer, seed=0)
    assert next_numbers() == expected
