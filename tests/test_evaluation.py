"""labkit.evaluation: known answers, and the bounds the VAE's estimates must respect."""

from __future__ import annotations

import math

import numpy as np
import pytest

import labkit


def test_reconstruction_errors_known_answer():
    errors = labkit.reconstruction_errors(np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]]))
    assert errors["reconstruction_mse"] == pytest.approx(0.25)
    assert errors["reconstruction_bce"] == pytest.approx(2 * math.log(2))  # nats per image


def test_reconstruction_errors_clip_like_keras():
    errors = labkit.reconstruction_errors(np.array([[1.0]]), np.array([[0.0]]))
    assert errors["reconstruction_bce"] == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_reconstruction_errors_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        labkit.reconstruction_errors(np.zeros((2, 3)), np.zeros((2, 4)))


def test_evaluate_vae_is_consistent(trained_vae, mnist_subset):
    vae, _ = trained_vae
    images = mnist_subset["x_test"][:1_000]
    result = labkit.evaluate_vae(vae, images, num_importance_samples=20)
    assert result["negative_elbo"] == pytest.approx(
        result["reconstruction_loss"] + result["kl_loss"]
    )
    assert result["bits_per_dim"] == pytest.approx(result["negative_elbo"] / (784 * math.log(2)))
    assert 100 < result["negative_elbo"] < 300  # nats per image after a short training
    assert result["kl_loss"] > 1
    assert result["active_units"] == 2
    # The IWAE bound is tighter than the ELBO: a lower negative log-likelihood.
    assert result["iwae_nll"] < result["negative_elbo"]
    # Decoding z_mean reconstructs better than decoding a sampled z.
    assert result["reconstruction_bce"] < result["reconstruction_loss"]


def test_iwae_tightens_as_k_grows(trained_vae, mnist_subset):
    vae, _ = trained_vae
    images = mnist_subset["x_test"][:500]
    elbo = labkit.evaluate_vae(vae, images, num_importance_samples=1)
    estimates = [labkit.iwae_negative_log_likelihood(vae, images, k) for k in (1, 5, 50)]
    # k=1 is a one-sample negative ELBO: equal to Keras' estimate up to sampling noise.
    assert estimates[0] == pytest.approx(elbo["negative_elbo"], abs=1.0)
    assert estimates[0] > estimates[1] > estimates[2]
    assert estimates[0] - estimates[2] > 0.5  # nats: a real gain, not noise


def test_iwae_agrees_with_the_formula_in_float64(trained_vae, mnist_subset):
    # The estimate sums each sample's 784 log-probabilities in float32, in one compiled program;
    # here the same samples go through the formula in float64 NumPy.
    vae, _ = trained_vae
    images = mnist_subset["x_test"][:60].astype(np.float64)
    k = 7
    z_mean, z_log_var, _ = (np.asarray(part, np.float64) for part in vae.encoder(images))
    epsilon = np.random.default_rng(labkit.evaluation.IWAE_SEED).standard_normal((k, 60, 2))
    z = z_mean + np.exp(0.5 * z_log_var) * epsilon
    decoded = np.asarray(vae.decoder(z.reshape(-1, 2).astype(np.float32)), np.float64)
    p = np.clip(decoded, 1e-7, 1 - 1e-7).reshape(k, 60, -1)
    log_likelihood = np.sum(images * np.log(p) + (1 - images) * np.log1p(-p), axis=-1)
    log_prior = -0.5 * np.sum(np.log(2 * np.pi) + z**2, axis=-1)
    log_posterior = -0.5 * np.sum(
        np.log(2 * np.pi) + z_log_var + (z - z_mean) ** 2 / np.exp(z_log_var), axis=-1
    )
    log_weights = log_likelihood + log_prior - log_posterior
    largest = log_weights.max(axis=0)
    expected = -np.mean(largest + np.log(np.mean(np.exp(log_weights - largest), axis=0)))
    assert labkit.iwae_negative_log_likelihood(vae, images, k) == pytest.approx(expected, abs=1e-3)


def test_iwae_is_reproducible(trained_vae, mnist_subset):
    vae, _ = trained_vae
    images = mnist_subset["x_test"][:100]
    assert labkit.iwae_negative_log_likelihood(vae, images, 10) == pytest.approx(
        labkit.iwae_negative_log_likelihood(vae, images, 10), abs=1e-9
    )


def test_active_units_counts_a_dead_dimension():
    labkit.seed_everything(0)
    vae = labkit.build_vae(latent_dim=3)
    images = np.random.default_rng(0).random((200, 784), dtype=np.float32)
    z_mean_layer = vae.encoder.get_layer("z_mean")
    kernel, bias = z_mean_layer.get_weights()
    kernel *= 10  # make every dimension clearly vary across images
    z_mean_layer.set_weights([kernel, bias])
    assert labkit.active_units(vae, images) == 3
    kernel[:, 1] = 0.0  # dimension 1 now ignores the image
    z_mean_layer.set_weights([kernel, bias])
    assert labkit.active_units(vae, images) == 2


def test_evaluate_autoencoder_matches_keras_mse(mnist_subset):
    labkit.seed_everything(0)
    autoencoder = labkit.build_autoencoder(latent_dim=2)
    autoencoder.compile(optimizer="adam", loss="mse")
    images = mnist_subset["x_test"][:500]
    result = labkit.evaluate_autoencoder(autoencoder, images)
    keras_mse = autoencoder.evaluate(images, images, verbose=0)
    assert result["reconstruction_mse"] == pytest.approx(keras_mse, rel=1e-4)


def test_wrong_shapes_are_rejected():
    vae = labkit.build_vae()
    with pytest.raises(ValueError, match=r"shape \(n, 784\).*Received: shape \(3, 28, 28\)"):
        labkit.encode(vae, np.zeros((3, 28, 28)))
    with pytest.raises(ValueError, match=r"shape \(n, 2\) for this model"):
        labkit.decode(vae, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        labkit.iwae_negative_log_likelihood(vae, np.zeros((3, 784)), 0)
