"""labkit.checks: Lab 07's conditional VAE check passes the instructor's answer, fails every
wrong answer, and names each mistake it recognises.

Each wrong answer is written as a student would write it, in the notebook's class shape
(``ConditionalVAE(labkit.VAE)`` with ``call`` and ``compute_losses``).
"""

from __future__ import annotations

import pytest

import labkit
from labkit.backend import keras
from labkit.checks import check_exercise

ops = keras.ops
SEEDS = (0, 1, 2)


def _negative_elbo(images, reconstruction, z_mean, z_log_var):
    """Lab 03's loss, as the notebook's solution writes it."""
    reconstruction_loss = ops.mean(
        ops.sum(ops.binary_crossentropy(images, reconstruction), axis=-1)
    )
    kl_loss = ops.mean(
        -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
    )
    return {
        "loss": reconstruction_loss + kl_loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


class ConditionalVAE(labkit.VAE):
    """The instructor's answer, as in the notebook."""

    def call(self, inputs, training=None):
        images, labels = inputs
        _, _, z = self.encoder([images, labels], training=training)
        return self.decoder([z, labels], training=training)

    def compute_losses(self, inputs, training=False):
        images, labels = inputs
        z_mean, z_log_var, z = self.encoder([images, labels], training=training)
        reconstruction = self.decoder([z, labels], training=training)
        return _negative_elbo(images, reconstruction, z_mean, z_log_var)


class Unsolved(ConditionalVAE):
    def call(self, inputs, training=None):
        raise NotImplementedError("Exercise 1: give the encoder [images, labels] (Step 3)")

    def compute_losses(self, inputs, training=False):
        raise NotImplementedError("Exercise 1: give the encoder [images, labels] (Step 3)")


def _losses_with(encode, decode, loss=_negative_elbo):
    """A class whose compute_losses encodes and decodes as given (call stays right)."""

    def compute_losses(self, inputs, training=False):
        images, labels = inputs
        z_mean, z_log_var, z = encode(self, images, labels, training)
        reconstruction = decode(self, z, z_mean, labels, training)
        return loss(images, reconstruction, z_mean, z_log_var)

    return type("StudentConditionalVAE", (ConditionalVAE,), {"compute_losses": compute_losses})


def _encode(self, images, labels, training):
    return self.encoder([images, labels], training=training)


def _decode(self, z, z_mean, labels, training):
    return self.decoder([z, labels], training=training)


def _loss(**changes):
    """Lab 03's loss with one part written wrong."""

    def loss(images, reconstruction, z_mean, z_log_var):
        cross_entropy = ops.binary_crossentropy(images, reconstruction)
        reconstruction_loss = ops.mean(changes.get("pixels", ops.sum)(cross_entropy, axis=-1))
        kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = changes.get("batch", ops.mean)(
            changes.get("sign", 1) * changes.get("latent", ops.sum)(kl, axis=-1)
        )
        total = reconstruction_loss + (0 if changes.get("no_kl") else kl_loss)
        return {"loss": total, "reconstruction_loss": reconstruction_loss, "kl_loss": kl_loss}

    return loss


class LossOnLabels(ConditionalVAE):
    def compute_losses(self, inputs, training=False):
        images, labels = inputs
        z_mean, z_log_var, z = self.encoder([images, labels], training=training)
        reconstruction = self.decoder([z, labels], training=training)
        return _negative_elbo(labels, reconstruction, z_mean, z_log_var)


class SwappedPair(ConditionalVAE):
    def compute_losses(self, inputs, training=False):
        labels, images = inputs  # the pair read the wrong way round
        z_mean, z_log_var, z = self.encoder([images, labels], training=training)
        reconstruction = self.decoder([z, labels], training=training)
        return _negative_elbo(images, reconstruction, z_mean, z_log_var)


def _call_with(body):
    return type("StudentConditionalVAE", (ConditionalVAE,), {"call": body})


def _call_without_label(self, inputs, training=None):
    images, labels = inputs
    _, _, z = self.encoder([images, labels], training=training)
    return self.decoder(z, training=training)


def _call_from_z_mean(self, inputs, training=None):
    images, labels = inputs
    z_mean, _, _ = self.encoder([images, labels], training=training)
    return self.decoder([z_mean, labels], training=training)


def _call_returns_z(self, inputs, training=None):
    images, labels = inputs
    return self.encoder([images, labels], training=training)[2]


WRONG = {
    "encoder without the label": (
        _losses_with(lambda self, x, y, t: self.encoder(x, training=t), _decode),
        "gives the encoder the images only",
    ),
    "encoder given the joined tensor (the pseudo-code's concatenate)": (
        _losses_with(
            lambda self, x, y, t: self.encoder(ops.concatenate([x, y], axis=-1), training=t),
            _decode,
        ),
        "joins the images and the labels into one tensor",
    ),
    "encoder given [labels, images]": (
        _losses_with(lambda self, x, y, t: self.encoder([y, x], training=t), _decode),
        "gives the encoder [labels, images]",
    ),
    "encoder given the labels in reverse order": (
        _losses_with(lambda self, x, y, t: self.encoder([x, ops.flip(y, 0)], training=t), _decode),
        "gives the encoder other labels",
    ),
    "labels turned back into digits": (
        _losses_with(
            lambda self, x, y, t: self.encoder([x, ops.argmax(y, axis=-1)], training=t), _decode
        ),
        "labels of another shape than (batch, 10)",
    ),
    "labels one-hot encoded again": (
        _losses_with(
            lambda self, x, y, t: self.encoder(
                [x, ops.one_hot(ops.cast(y, "int32"), labkit.NUM_CLASSES)], training=t
            ),
            _decode,
        ),
        "labels of another shape than (batch, 10)",
    ),
    "decoder without the label": (
        _losses_with(_encode, lambda self, z, m, y, t: self.decoder(z, training=t)),
        "gives the decoder z only",
    ),
    "decoder given the joined tensor": (
        _losses_with(
            _encode,
            lambda self, z, m, y, t: self.decoder(ops.concatenate([z, y], axis=-1), training=t),
        ),
        "joins z and the labels into one tensor",
    ),
    "decoder given [labels, z]": (
        _losses_with(_encode, lambda self, z, m, y, t: self.decoder([y, z], training=t)),
        "gives the decoder [labels, z]",
    ),
    "decoder given shuffled labels (rolled by one)": (
        _losses_with(
            _encode, lambda self, z, m, y, t: self.decoder([z, ops.roll(y, 1, axis=0)], training=t)
        ),
        "the labels of other images",
    ),
    "decoder given the first image's label, tiled": (
        _losses_with(
            _encode,
            lambda self, z, m, y, t: self.decoder(
                [z, ops.tile(y[:1], (ops.shape(y)[0], 1))], training=t
            ),
        ),
        "the labels of other images",
    ),
    "decoder fed z_mean": (
        _losses_with(_encode, lambda self, z, m, y, t: self.decoder([m, y], training=t)),
        "decodes z_mean",
    ),
    "training not passed on": (
        _losses_with(
            lambda self, x, y, t: self.encoder([x, y]),
            lambda self, z, m, y, t: self.decoder([z, y]),
        ),
        "Pass training=training",
    ),
    "loss on the labels instead of the images": (LossOnLabels, "not the labels or the pair"),
    "the pair read the wrong way round": (SwappedPair, "gives the encoder [labels, images]"),
    "reconstruction averaged over pixels": (
        _losses_with(_encode, _decode, _loss(pixels=ops.mean)),
        "784 times too small",
    ),
    "KL with the wrong sign": (
        _losses_with(_encode, _decode, _loss(sign=-1)),
        "KL has the wrong sign",
    ),
    "KL averaged over latent dimensions": (
        _losses_with(_encode, _decode, _loss(latent=ops.mean)),
        "averaged over the latent dimensions",
    ),
    "KL left out of the loss": (
        _losses_with(_encode, _decode, _loss(no_kl=True)),
        "leaves the KL out",
    ),
    "losses summed over the batch": (
        _losses_with(_encode, _decode, _loss(batch=ops.sum)),
        "sums over the images",
    ),
    "call decodes without the label": (_call_with(_call_without_label), "call gives the decoder"),
    "call decodes z_mean": (_call_with(_call_from_z_mean), "call decodes z_mean"),
    "call returns z": (_call_with(_call_returns_z), "call never calls self.decoder"),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("hidden", [False, True])
def test_the_instructor_answer_passes(seed, hidden):
    check = check_exercise("conditional_inputs", ConditionalVAE, seed=seed, hidden=hidden)
    assert check.passed, check.advice


def test_the_kit_reference_passes():
    assert check_exercise("conditional_inputs", labkit.models.ConditionalVAE, seed=3).passed


def test_the_unsolved_stub_fails_with_not_written_yet():
    check = check_exercise("conditional_inputs", Unsolved, seed=0)
    assert not check.passed
    assert check.advice.startswith("Not written yet")


@pytest.mark.parametrize("mistake", list(WRONG))
def test_each_mistake_fails_with_its_advice(mistake):
    vae_class, phrase = WRONG[mistake]
    check = check_exercise("conditional_inputs", vae_class, seed=1)
    assert not check.passed
    assert phrase in check.advice, check.advice


def test_the_check_lines_do_not_depend_on_the_inputs():
    first = check_exercise("conditional_inputs", ConditionalVAE, seed=0)
    second = check_exercise("conditional_inputs", ConditionalVAE, seed=5, hidden=True)
    assert list(first.checks) == list(second.checks)


def test_training_always_true_fails():
    vae_class = _losses_with(
        lambda self, x, y, t: self.encoder([x, y], training=True),
        lambda self, z, m, y, t: self.decoder([z, y], training=True),
    )
    check = check_exercise("conditional_inputs", vae_class, seed=0)
    assert not check.passed
    assert "Pass training=training" in check.advice


def test_the_large_batch_line_is_there():
    check = check_exercise("conditional_inputs", ConditionalVAE, seed=0)
    assert "on a batch of 128 images, compute_losses and call give each image its own label" in (
        check.checks
    )


class LabelDroppedInLargeBatches(ConditionalVAE):
    """Passes the labels on small batches only, as an attack on 6- and 10-image checks."""

    def compute_losses(self, inputs, training=False):
        images, labels = inputs
        z_mean, z_log_var, z = self.encoder([images, labels], training=training)
        kept = labels if ops.shape(labels)[0] <= 16 else ops.zeros_like(labels)
        reconstruction = self.decoder([z, kept], training=training)
        return _negative_elbo(images, reconstruction, z_mean, z_log_var)

    def call(self, inputs, training=None):
        images, labels = inputs
        _, _, z = self.encoder([images, labels], training=training)
        kept = labels if ops.shape(labels)[0] <= 16 else ops.zeros_like(labels)
        return self.decoder([z, kept], training=training)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("hidden", [False, True])
def test_a_label_dropped_in_large_batches_fails(seed, hidden):
    check = check_exercise(
        "conditional_inputs", LabelDroppedInLargeBatches, seed=seed, hidden=hidden
    )
    assert not check.passed
    assert "On a batch of 128 images your decoder did not get the labels" in check.advice


class LabelDropout(ConditionalVAE):
    """Zeroes about 10% of the labels while training (label dropout)."""

    def compute_losses(self, inputs, training=False):
        images, labels = inputs
        if training:
            keep = ops.cast(keras.random.uniform((ops.shape(labels)[0], 1)) > 0.1, labels.dtype)
            labels = labels * keep
        z_mean, z_log_var, z = self.encoder([images, labels], training=training)
        reconstruction = self.decoder([z, labels], training=training)
        return _negative_elbo(images, reconstruction, z_mean, z_log_var)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("hidden", [False, True])
def test_label_dropout_while_training_fails(seed, hidden):
    check = check_exercise("conditional_inputs", LabelDropout, seed=seed, hidden=hidden)
    assert not check.passed
    assert "zeroed while training" in check.advice or "did not get the labels" in check.advice


def test_training_passed_to_the_encoder_only_fails():
    vae_class = _losses_with(_encode, lambda self, z, m, y, t: self.decoder([z, y]))
    for seed in SEEDS:
        check = check_exercise("conditional_inputs", vae_class, seed=seed, hidden=seed == 1)
        assert not check.passed
        assert "Pass training=training" in check.advice
