"""labkit.checks: Lab 05's graded part, the beta-weighted loss, passes the instructor's answer,
fails every wrong answer and names each mistake it recognises.

Each wrong answer is written as a student would write it, in the notebook's own class shape: a
``BetaVAE(labkit.VAE)`` whose ``compute_losses`` the student writes.
"""

from __future__ import annotations

import pytest

import labkit
from labkit.backend import keras

ops = keras.ops
SEEDS = (0, 1, 2)


class BetaVAE(labkit.VAE):
    """Lab 05's class, as the instructor's notebook writes it."""

    def compute_losses(self, images, training=False):
        z_mean, z_log_var, z = self.encoder(images, training=training)
        reconstruction = self.decoder(z, training=training)
        reconstruction_loss = ops.mean(
            ops.sum(ops.binary_crossentropy(images, reconstruction), axis=-1)
        )
        kl_loss = ops.mean(
            -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
        )
        return {
            "loss": reconstruction_loss + self.beta * kl_loss,
            "reconstruction_loss": reconstruction_loss,
            "kl_loss": kl_loss,
        }


def _terms(model, images, training=False):
    """Lab 03's two terms, per image: cross-entropy summed over pixels, KL summed over z."""
    z_mean, z_log_var, z = model.encoder(images, training=training)
    reconstruction = model.decoder(z, training=training)
    cross_entropy = ops.sum(ops.binary_crossentropy(images, reconstruction), axis=-1)
    kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
    return ops.mean(cross_entropy), ops.mean(kl)


def _student(compute_losses):
    return type("StudentBetaVAE", (labkit.VAE,), {"compute_losses": compute_losses})


def _beta_on_reconstruction(self, images, training=False):
    reconstruction_loss, kl_loss = _terms(self, images, training)
    return {
        "loss": self.beta * reconstruction_loss + kl_loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _beta_ignored(self, images, training=False):
    reconstruction_loss, kl_loss = _terms(self, images, training)
    return {
        "loss": reconstruction_loss + kl_loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _kl_reported_weighted(self, images, training=False):
    reconstruction_loss, kl_loss = _terms(self, images, training)
    kl_loss = self.beta * kl_loss
    return {
        "loss": reconstruction_loss + kl_loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _beta_divides(self, images, training=False):
    reconstruction_loss, kl_loss = _terms(self, images, training)
    return {
        "loss": reconstruction_loss + kl_loss / self.beta,  # inf at beta = 0
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _beta_divides_in_python(self, images, training=False):
    reconstruction_loss, kl_loss = _terms(self, images, training)
    return {
        "loss": reconstruction_loss + (1 / self.beta) * kl_loss,  # ZeroDivisionError at 0
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _kl_left_out(self, images, training=False):
    reconstruction_loss, kl_loss = _terms(self, images, training)
    return {
        "loss": reconstruction_loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _mean_over_pixels(self, images, training=False):
    z_mean, z_log_var, z = self.encoder(images, training=training)
    reconstruction = self.decoder(z, training=training)
    reconstruction_loss = ops.mean(keras.losses.binary_crossentropy(images, reconstruction))
    kl_loss = ops.mean(labkit.kl_divergence(z_mean, z_log_var))
    return {
        "loss": reconstruction_loss + self.beta * kl_loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _kl_wrong_sign(self, images, training=False):
    reconstruction_loss, kl_loss = _terms(self, images, training)
    return {
        "loss": reconstruction_loss - self.beta * kl_loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": -kl_loss,
    }


def _kl_mean_over_latent_dimensions(self, images, training=False):
    z_mean, z_log_var, z = self.encoder(images, training=training)
    reconstruction = self.decoder(z, training=training)
    reconstruction_loss = ops.mean(
        ops.sum(ops.binary_crossentropy(images, reconstruction), axis=-1)
    )
    kl_loss = ops.mean(-0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var)))
    return {
        "loss": reconstruction_loss + self.beta * kl_loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _decoder_fed_z_mean(self, images, training=False):
    z_mean, z_log_var, _ = self.encoder(images, training=training)
    reconstruction = self.decoder(z_mean, training=training)
    reconstruction_loss = ops.mean(
        ops.sum(ops.binary_crossentropy(images, reconstruction), axis=-1)
    )
    kl_loss = ops.mean(labkit.kl_divergence(z_mean, z_log_var))
    return {
        "loss": reconstruction_loss + self.beta * kl_loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _squared_error(self, images, training=False):
    z_mean, z_log_var, z = self.encoder(images, training=training)
    reconstruction = self.decoder(z, training=training)
    reconstruction_loss = ops.mean(ops.sum(ops.square(images - reconstruction), axis=-1))
    kl_loss = ops.mean(labkit.kl_divergence(z_mean, z_log_var))
    return {
        "loss": reconstruction_loss + self.beta * kl_loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _no_kl(self, images, training=False):
    reconstruction_loss, _ = _terms(self, images, training)
    return {
        "loss": reconstruction_loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": 0.0 * reconstruction_loss,
    }


def _summed_over_the_batch(self, images, training=False):
    z_mean, z_log_var, z = self.encoder(images, training=training)
    reconstruction = self.decoder(z, training=training)
    reconstruction_loss = ops.sum(ops.binary_crossentropy(images, reconstruction))
    kl_loss = ops.sum(labkit.kl_divergence(z_mean, z_log_var))
    return {
        "loss": reconstruction_loss + self.beta * kl_loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _other_names(self, images, training=False):
    reconstruction_loss, kl_loss = _terms(self, images, training)
    return {"total": reconstruction_loss + self.beta * kl_loss, "kl": kl_loss}


def _mixing_weight(self, images, training=False):
    # beta read as a mixing weight between the two terms: none of the named mistakes.
    reconstruction_loss, kl_loss = _terms(self, images, training)
    return {
        "loss": (1 - self.beta) * reconstruction_loss + self.beta * kl_loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _the_kits_loss(self, images, training=False):
    return super(type(self), self).compute_losses(images, training)


def _beta_only_when_evaluating(self, images, training=False):
    reconstruction_loss, kl_loss = _terms(self, images, training)
    beta = 1.0 if training else self.beta
    return {
        "loss": reconstruction_loss + beta * kl_loss,
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _kl_without_gradient(self, images, training=False):
    reconstruction_loss, kl_loss = _terms(self, images, training)
    return {
        "loss": reconstruction_loss + self.beta * ops.stop_gradient(kl_loss),
        "reconstruction_loss": reconstruction_loss,
        "kl_loss": kl_loss,
    }


def _the_kits_loss_through_the_class(self, images, training=False):
    z_mean, z_log_var, z = self.encoder(images, training=training)
    reconstruction = self.decoder(z, training=training)
    return labkit.VAE._negative_elbo(self, images, reconstruction, z_mean, z_log_var)


def _unsolved(self, images, training=False):
    raise NotImplementedError("Exercise 1: Lab 03's losses with the KL weighted by self.beta")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("hidden", [False, True])
def test_the_instructors_beta_loss_passes(seed, hidden):
    check = labkit.check_exercise("beta_loss", BetaVAE, hidden=hidden, seed=seed)
    assert check.passed and check.advice is None, check.checks


@pytest.mark.parametrize(
    "compute_losses, advice",
    [
        (_beta_on_reconstruction, "You weighted the reconstruction term"),
        (_beta_ignored, "Your loss ignores beta"),
        (_kl_reported_weighted, "Your kl_loss is already multiplied by beta"),
        (_beta_divides, "Your loss divides the KL by beta"),
        (_beta_divides_in_python, "Your loss divides the KL by beta"),
        (_kl_left_out, "Your loss leaves the KL term out"),
        (_mean_over_pixels, "mean over the pixels, 784 times too small"),
        (_kl_wrong_sign, "Your KL has the wrong sign"),
        (_kl_mean_over_latent_dimensions, "averaged over the latent dimensions"),
        (_decoder_fed_z_mean, "Your decoder reconstructed from z_mean"),
        (_squared_error, "a squared error"),
        (_no_kl, "Your kl_loss is 0"),
        (_summed_over_the_batch, "sums over the images"),
        (_other_names, "Return a dict with the keys"),
        (_mixing_weight, "The first check that fails: loss of each image"),
        (_the_kits_loss, "calls labkit.VAE's own"),
        (_the_kits_loss_through_the_class, "calls labkit.VAE's own"),
        (_beta_only_when_evaluating, "With training=True your losses differ"),
        (_kl_without_gradient, "its KL term passes no gradient"),
        (_unsolved, "Not written yet"),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else None,
)
def test_each_beta_loss_mistake_fails_with_its_own_advice(compute_losses, advice):
    for seed in SEEDS[:2]:
        check = labkit.check_exercise("beta_loss", _student(compute_losses), seed=seed)
        assert not check.passed
        assert advice in check.advice, check.advice


def test_the_kits_vae_itself_is_not_an_answer():
    check = labkit.check_exercise("beta_loss", labkit.VAE, seed=0)
    assert not check.passed and "calls labkit.VAE's own" in check.advice


class BetaVAEWithItsOwnHelper(labkit.VAE):
    """A right answer through a helper method that happens to share the kit's private name."""

    def _negative_elbo(self, images, reconstruction, z_mean, z_log_var):
        reconstruction_loss = ops.mean(
            ops.sum(ops.binary_crossentropy(images, reconstruction), axis=-1)
        )
        kl_loss = ops.mean(labkit.kl_divergence(z_mean, z_log_var))
        return {
            "loss": reconstruction_loss + self.beta * kl_loss,
            "reconstruction_loss": reconstruction_loss,
            "kl_loss": kl_loss,
        }


def test_a_right_answer_through_a_helper_of_the_kits_name_passes():
    check = labkit.check_exercise("beta_loss", BetaVAEWithItsOwnHelper, hidden=True, seed=0)
    assert check.passed, check.advice
