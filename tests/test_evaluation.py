"""labkit.evaluation: known answers, and the bounds the VAE's estimates must respect."""

from __future__ import annotations

import json
import math
import types
from pathlib import Path

import numpy as np
import pytest

import labkit

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def test_reconstruction_errors_known_answers():
    errors = labkit.evaluation.reconstruction_errors(np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]]))
    assert errors["reconstruction_mse"] == pytest.approx(0.25)
    assert errors["reconstruction_bce"] == pytest.approx(2 * math.log(2))  # nats per image
    clipped = labkit.evaluation.reconstruction_errors(
        np.array([[1.0]]), np.array([[0.0]])
    )  # as Keras
    assert clipped["reconstruction_bce"] == pytest.approx(-math.log(1e-7), rel=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        labkit.evaluation.reconstruction_errors(np.zeros((2, 3)), np.zeros((2, 4)))


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
    estimates = [labkit.evaluation.iwae_negative_log_likelihood(vae, images, k) for k in (1, 5, 50)]
    # k=1 is a one-sample negative ELBO: equal to Keras' estimate up to sampling noise.
    assert estimates[0] == pytest.approx(elbo["negative_elbo"], abs=1.0)
    assert estimates[0] > estimates[1] > estimates[2]
    assert estimates[0] - estimates[2] > 0.5  # nats: a real gain, not noise


def _iwae_in_float64(encoded, decode_codes, images: np.ndarray, k: int) -> float:
    """The IWAE estimate by its formula, in float64 NumPy, with the kit's noise: ``encoded`` is
    the encoder's ``[z_mean, z_log_var, z]``, ``decode_codes`` maps ``(k, n, d)`` codes to
    ``(k, n, 784)`` probabilities."""
    z_mean, z_log_var, _ = (np.asarray(part, np.float64) for part in encoded)
    rng = np.random.default_rng(labkit.evaluation.IWAE_SEED)
    z = z_mean + np.exp(0.5 * z_log_var) * rng.standard_normal((k, *z_mean.shape))
    p = np.clip(np.asarray(decode_codes(z), np.float64), 1e-7, 1 - 1e-7)
    log_likelihood = np.sum(images * np.log(p) + (1 - images) * np.log1p(-p), axis=-1)
    log_prior = -0.5 * np.sum(np.log(2 * np.pi) + z**2, axis=-1)
    log_posterior = -0.5 * np.sum(
        np.log(2 * np.pi) + z_log_var + (z - z_mean) ** 2 / np.exp(z_log_var), axis=-1
    )
    log_weights = log_likelihood + log_prior - log_posterior
    largest = log_weights.max(axis=0)
    return -np.mean(largest + np.log(np.mean(np.exp(log_weights - largest), axis=0)))


def test_iwae_agrees_with_the_formula_in_float64(trained_vae, mnist_subset):
    # The estimate sums each sample's 784 log-probabilities in float32, in one compiled program;
    # here the same samples (the seeded noise: the estimate is reproducible) go through the
    # formula in float64 NumPy.
    vae, _ = trained_vae
    images = mnist_subset["x_test"][:60].astype(np.float64)
    k = 7

    def decode_codes(z):
        return np.asarray(vae.decoder(z.reshape(-1, 2).astype(np.float32))).reshape(k, 60, -1)

    expected = _iwae_in_float64(vae.encoder(images), decode_codes, images, k)
    assert labkit.evaluation.iwae_negative_log_likelihood(vae, images, k) == pytest.approx(
        expected, abs=1e-3
    )


def test_iwae_of_a_conditional_vae_decodes_each_sample_with_its_images_label(
    conditional_vae, mnist_subset
):
    # -log p(x | y): every one of an image's k samples is decoded with that image's digit.
    cvae, _ = conditional_vae
    images = mnist_subset["x_test"][:60].astype(np.float64)
    labels = mnist_subset["y_test"][:60]
    one_hots = labkit.data.one_hot(labels)
    k = 7

    def decode_codes(z):
        return np.stack(
            [np.asarray(cvae.decoder([sample.astype(np.float32), one_hots])) for sample in z]
        )

    expected = _iwae_in_float64(cvae.encoder([images, one_hots]), decode_codes, images, k)
    estimate = labkit.evaluation.iwae_negative_log_likelihood(cvae, images, k, labels=labels)
    assert estimate == pytest.approx(expected, abs=1e-3)
    # With the wrong digits the images are less likely: the labels reach the decoder.
    wrong = (labels + 1) % 10
    assert (
        labkit.evaluation.iwae_negative_log_likelihood(cvae, images, k, labels=wrong)
        > estimate + 1.0
    )


def test_evaluate_vae_measures_a_conditional_vae_given_the_digits(conditional_vae, mnist_subset):
    cvae, _ = conditional_vae
    images, labels = mnist_subset["x_test"][:500], mnist_subset["y_test"][:500]
    measures = labkit.evaluate_vae(
        cvae, images, labels=labels, num_importance_samples=5, iwae_images=100
    )
    keras_losses = cvae.evaluate(
        labkit.image_batches(images, 250, labels=labels), verbose=0, return_dict=True
    )
    assert measures["negative_elbo"] == pytest.approx(keras_losses["loss"], abs=1.0)  # noise
    assert measures["kl_loss"] == pytest.approx(keras_losses["kl_loss"], rel=1e-4)
    assert measures["iwae_nll"] == pytest.approx(
        labkit.evaluation.iwae_negative_log_likelihood(cvae, images[:100], 5, labels=labels[:100])
    )
    first_hundred = labkit.evaluate_vae(
        cvae, images[:100], labels=labels[:100], num_importance_samples=5
    )
    assert first_hundred["iwae_nll"] == pytest.approx(measures["iwae_nll"])
    assert first_hundred["iwae_nll"] < first_hundred["negative_elbo"]  # a tighter bound
    assert measures["active_units"] == labkit.evaluation.active_units(cvae, images, labels=labels)
    reconstructions = labkit.evaluation.reconstruct(cvae, images, labels=labels)
    assert measures["reconstruction_bce"] == pytest.approx(
        labkit.evaluation.reconstruction_errors(images, reconstructions)["reconstruction_bce"]
    )
    # One digit for every image is allowed, as in encode and decode; one-hot rows too.
    sevens = labkit.evaluate_vae(cvae, images[:50], labels=7, num_importance_samples=2)
    assert sevens["kl_loss"] == pytest.approx(
        labkit.evaluate_vae(
            cvae, images[:50], labels=labkit.data.one_hot(np.full(50, 7)), num_importance_samples=2
        )["kl_loss"],
        rel=1e-5,
    )


def test_active_units_counts_a_dead_dimension():
    labkit.seed_everything(0)
    vae = labkit.build_vae(latent_dim=3)
    images = np.random.default_rng(0).random((200, 784), dtype=np.float32)
    z_mean_layer = vae.encoder.get_layer("z_mean")
    kernel, bias = z_mean_layer.get_weights()
    kernel *= 10  # make every dimension clearly vary across images
    z_mean_layer.set_weights([kernel, bias])
    assert labkit.evaluation.active_units(vae, images) == 3
    kernel[:, 1] = 0.0  # dimension 1 now ignores the image
    z_mean_layer.set_weights([kernel, bias])
    assert labkit.evaluation.active_units(vae, images) == 2


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
        labkit.evaluation.iwae_negative_log_likelihood(vae, np.zeros((3, 784)), 0)


# --- Conditional models and what their codes carry ----------------------------------------------


def test_a_conditional_vae_is_encoded_and_decoded_with_its_labels(conditional_vae, mnist_subset):
    cvae, _ = conditional_vae
    images, labels = mnist_subset["x_test"][:20], mnist_subset["y_test"][:20]
    codes = labkit.encode(cvae, images, labels=labels)
    z_mean, _, _ = cvae.encoder([images, labkit.data.one_hot(labels)])
    np.testing.assert_allclose(codes, np.asarray(z_mean), rtol=1e-5, atol=1e-6)
    as_threes = labkit.decode(cvae, codes, labels=3)  # one digit for every code
    as_own = labkit.decode(cvae, codes, labels=labels)
    assert as_threes.shape == as_own.shape == (20, 784)
    expected = cvae.decoder([codes, labkit.data.one_hot(np.full(20, 3))])
    np.testing.assert_allclose(as_threes, np.asarray(expected), rtol=1e-5, atol=1e-6)
    assert not np.allclose(as_threes, as_own)  # the label changes the drawing


def test_labels_must_match_what_the_model_takes(conditional_vae, trained_vae, mnist_subset):
    cvae, _ = conditional_vae
    vae, _ = trained_vae
    images = mnist_subset["x_test"][:4]
    with pytest.raises(ValueError, match="also takes the digit: pass labels="):
        labkit.encode(cvae, images)
    with pytest.raises(ValueError, match="also takes the digit"):
        labkit.decode(cvae, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="takes no labels"):
        labkit.encode(vae, images, labels=[1, 2, 3, 4])
    with pytest.raises(ValueError, match="one label per row: 4 rows, 3 labels"):
        labkit.encode(cvae, images, labels=[1, 2, 3])
    # The measures that run the encoder or the decoder say the same, before any work.
    with pytest.raises(ValueError, match="also takes the digit: pass labels="):
        labkit.evaluate_vae(cvae, images)
    with pytest.raises(ValueError, match="also takes the digit: pass labels="):
        labkit.evaluation.iwae_negative_log_likelihood(cvae, images, 2)
    with pytest.raises(ValueError, match="takes no labels"):
        labkit.evaluate_vae(vae, images, labels=[1, 2, 3, 4])
    with pytest.raises(ValueError, match="one label per row: 4 rows, 3 labels"):
        labkit.evaluate_vae(cvae, images, labels=[1, 2, 3])


def _brute_force_neighbour_vote(train_codes, train_labels, test_codes, test_labels, k):
    correct = 0
    for code, label in zip(test_codes, test_labels, strict=True):
        nearest = np.argsort(np.sum((train_codes - code) ** 2, axis=1), kind="stable")[:k]
        votes = np.bincount(train_labels[nearest], minlength=10)
        correct += int(np.argmax(votes) == label)
    return correct / len(test_codes)


def _lab07_vote_accuracy():
    """Lab 07's vote_accuracy, taken from its code cell (the lab writes it out)."""
    notebook = json.loads((NOTEBOOK_DIR / "07_conditional_vae.ipynb").read_text(encoding="utf-8"))
    source = next(
        "".join(cell["source"])
        for cell in notebook["cells"]
        if "def vote_accuracy" in "".join(cell["source"])
    )
    namespace = {"np": np, "labkit": types.SimpleNamespace(NUM_CLASSES=10)}
    exec(source[: source.index("\n\n\n")], namespace)
    return namespace["vote_accuracy"]


@pytest.mark.parametrize("dimensions, k", [(2, 1), (2, 5), (16, 10)])
def test_lab07_vote_accuracy_is_the_vote_of_the_nearest_codes(dimensions, k):
    rng = np.random.default_rng(dimensions + k)
    train_labels = rng.integers(0, 10, 300)
    centres = rng.normal(size=(10, dimensions))
    train_codes = centres[train_labels] + rng.normal(scale=1.5, size=(300, dimensions))
    test_labels = rng.integers(0, 10, 120)
    test_codes = centres[test_labels] + rng.normal(scale=1.5, size=(120, dimensions))
    expected = _brute_force_neighbour_vote(train_codes, train_labels, test_codes, test_labels, k)
    measured = _lab07_vote_accuracy()(
        train_codes, train_labels, test_codes, test_labels, k=k, batch_size=7
    )
    assert measured == pytest.approx(expected)
    assert 0.1 < measured < 1.0  # neither hopeless nor trivial on these clouds


def test_lab07_vote_accuracy_known_answers():
    # Far-apart clusters: every vote is right. Codes that say nothing: a tie goes to the
    # smaller digit, so all test codes are called 0, and a quarter of them are zeros.
    vote_accuracy = _lab07_vote_accuracy()
    train_labels = np.repeat(np.arange(4), 5)
    train_codes = (train_labels * 100.0)[:, None] + np.linspace(0, 1, 20)[:, None]
    assert vote_accuracy(
        train_codes, train_labels, train_codes + 0.01, train_labels, k=5
    ) == pytest.approx(1.0)
    same = np.zeros((20, 2))
    assert vote_accuracy(same, train_labels, same, train_labels, k=20) == pytest.approx(0.25)


def test_iwae_on_the_first_images_only(trained_vae, mnist_subset):
    vae, _ = trained_vae
    images = mnist_subset["x_test"][:300]
    measures = labkit.evaluate_vae(vae, images, num_importance_samples=5, iwae_images=100)
    assert measures["iwae_images"] == 100
    assert measures["iwae_nll"] == pytest.approx(
        labkit.evaluation.iwae_negative_log_likelihood(vae, images[:100], 5)
    )
    assert labkit.evaluate_vae(vae, images, num_importance_samples=1)["iwae_images"] == 300
    with pytest.raises(ValueError, match="iwae_images must be a positive integer"):
        labkit.evaluate_vae(vae, images, iwae_images=0)
