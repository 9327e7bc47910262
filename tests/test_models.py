"""labkit.models: parameter counts, the KL and sampling maths, training, saving."""

from __future__ import annotations

import numpy as np
import pytest

import labkit
from labkit.backend import keras
from labkit.config import load_settings
from labkit.data import LabData


def _trainable_count(model) -> int:
    return int(sum(np.prod(weight.shape) for weight in model.trainable_weights))


def test_vae_parameter_counts_match_the_lab():
    vae = labkit.build_vae()
    assert _trainable_count(vae.encoder) == 403_972  # 784*512+512 + 2 * (512*2+2)
    assert _trainable_count(vae.decoder) == 403_728  # 2*512+512 + 512*784+784
    assert vae.encoder.layers[0].count_params() == 0  # the input layer adds none
    assert vae.latent_dim == 2


def test_autoencoder_parameter_counts_and_shapes():
    autoencoder = labkit.build_autoencoder()
    # 784-128-64-32: (784*128+128) + (128*64+64) + (64*32+32)
    assert _trainable_count(autoencoder.encoder) == 110_816
    # 32-64-128-784: (32*64+64) + (64*128+128) + (128*784+784)
    assert _trainable_count(autoencoder.decoder) == 111_568
    assert autoencoder.latent_dim == 32
    assert labkit.build_autoencoder(latent_dim=2).encoder.output_shape == (None, 2)


def test_sizes_are_parameters():
    vae = labkit.build_vae(latent_dim=20, hidden_dims=(256, 128))
    assert vae.encoder.output_shape[0] == (None, 20)
    assert [layer.units for layer in vae.decoder.layers[1:]] == [128, 256, 784]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"latent_dim": 0}, "latent_dim must be a positive integer"),
        ({"latent_dim": 2.0}, "latent_dim must be a positive integer"),
        ({"hidden_dims": (512, -1)}, "hidden_dims must be a sequence of positive integers"),
        ({"beta": -0.5}, "beta must be a non-negative number"),
    ],
)
def test_bad_arguments_are_rejected(arguments, message):
    with pytest.raises(ValueError, match=message):
        labkit.build_vae(**arguments)


def test_kl_known_answers():
    kl = keras.ops.convert_to_numpy(
        labkit.kl_divergence(np.array([[0.0], [2.0], [0.0]]), np.array([[0.0], [0.0], [1.0]]))
    )
    # N(0,1)||N(0,1) = 0; N(2,1)||N(0,1) = 2^2/2 = 2; N(0,e)||N(0,1) = (e - 1 - 1)/2.
    np.testing.assert_allclose(kl, [0.0, 2.0, (np.e - 2.0) / 2.0], rtol=1e-6)


def test_kl_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    z_mean = rng.normal(size=(4, 3))
    z_log_var = rng.normal(scale=0.5, size=(4, 3))
    num_draws = 200_000
    std = np.exp(0.5 * z_log_var)
    z = z_mean + std * rng.standard_normal((num_draws, 4, 3))
    log_q = -0.5 * (np.log(2 * np.pi) + z_log_var + ((z - z_mean) / std) ** 2)
    log_p = -0.5 * (np.log(2 * np.pi) + z**2)
    monte_carlo = np.mean(np.sum(log_q - log_p, axis=-1), axis=0)
    closed_form = keras.ops.convert_to_numpy(labkit.kl_divergence(z_mean, z_log_var))
    np.testing.assert_allclose(closed_form, monte_carlo, atol=0.03)
    assert (closed_form > 0).all()


def test_sampling_has_the_posterior_mean_and_variance():
    labkit.seed_everything(0)
    sampling = labkit.Sampling()
    num_draws = 100_000
    z_mean = np.tile(np.array([[1.5, -2.0]], np.float32), (num_draws, 1))
    z_log_var = np.tile(np.array([[1.0, -1.0]], np.float32), (num_draws, 1))
    z = keras.ops.convert_to_numpy(sampling([z_mean, z_log_var], training=True))
    np.testing.assert_allclose(z.mean(axis=0), [1.5, -2.0], atol=0.02)
    # Variance exp(log_var): e and 1/e. The lab's exp(log_var) * eps would give e**2 and e**-2.
    np.testing.assert_allclose(z.var(axis=0), [np.e, np.exp(-1.0)], rtol=0.03)


def test_sampling_is_fresh_in_training_and_fixed_in_evaluation():
    labkit.seed_everything(0)
    sampling = labkit.Sampling()
    inputs = [np.zeros((5, 2), np.float32), np.zeros((5, 2), np.float32)]
    first, second = (keras.ops.convert_to_numpy(sampling(inputs, training=True)) for _ in "ab")
    assert not np.array_equal(first, second)
    first, second = (keras.ops.convert_to_numpy(sampling(inputs, training=False)) for _ in "ab")
    np.testing.assert_array_equal(first, second)


def test_training_lowers_the_loss_and_reports_real_validation_numbers(trained_vae, mnist_subset):
    vae, history = trained_vae
    for name in ("loss", "reconstruction_loss", "kl_loss"):
        assert len(history[name]) == 4 and len(history[f"val_{name}"]) == 4
        assert all(value > 0 for value in history[f"val_{name}"]), name
    assert history["loss"][-1] < history["loss"][0] - 20  # nats per image
    assert history["val_loss"][-1] < history["val_loss"][0]
    np.testing.assert_allclose(
        history["val_loss"],
        np.add(history["val_reconstruction_loss"], history["val_kl_loss"]),
        rtol=1e-5,
    )
    evaluated = vae.evaluate(mnist_subset["x_val"], batch_size=64, verbose=0, return_dict=True)
    for name in ("loss", "reconstruction_loss", "kl_loss"):
        assert evaluated[name] == pytest.approx(history[f"val_{name}"][-1], rel=1e-5), name


def test_beta_weights_the_kl_term(mnist_subset):
    images = mnist_subset["x_val"][:256]
    labkit.seed_everything(0)
    vae = labkit.build_vae(beta=4.0)
    vae.compile(optimizer="adam")
    losses = vae.evaluate(images, batch_size=256, verbose=0, return_dict=True)
    expected = losses["reconstruction_loss"] + 4.0 * losses["kl_loss"]
    assert losses["loss"] == pytest.approx(expected, rel=1e-5)


def _one_epoch(images: np.ndarray, seed: int) -> tuple[dict, list[np.ndarray]]:
    labkit.seed_everything(seed)
    vae = labkit.build_vae(pixel_means=images.mean(axis=0))
    data = LabData(images, np.zeros(len(images)), images[:1], np.zeros(1), images[:1], np.zeros(1))
    settings = load_settings({}, num_epochs=1, batch_size=128)
    labkit.compile_for_data(vae, data, settings)  # with XLA: 16 steps of 128 images
    history = vae.fit(images, epochs=1, batch_size=128, verbose=0).history
    return history, [keras.ops.convert_to_numpy(weight) for weight in vae.weights]


def test_same_seed_same_loss_and_weights_after_an_epoch(mnist_subset):
    images = mnist_subset["x_train"][:2_000]
    first, first_weights = _one_epoch(images, seed=5)
    again, again_weights = _one_epoch(images, seed=5)
    assert first == again
    for mine, theirs in zip(first_weights, again_weights, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    # Another seed starts elsewhere (no need to train it: one more XLA compile, for nothing).
    labkit.seed_everything(6)
    other = labkit.build_vae(pixel_means=images.mean(axis=0))
    labkit.seed_everything(5)
    same = labkit.build_vae(pixel_means=images.mean(axis=0))
    assert not np.array_equal(other.get_weights()[0], same.get_weights()[0])


@pytest.mark.parametrize("build", [labkit.build_vae, labkit.build_autoencoder])
def test_pixel_means_start_the_decoder_at_the_mean_image(build, mnist_subset):
    means = mnist_subset["x_train"].mean(axis=0)
    model = build(latent_dim=2, pixel_means=means)
    layer = model.decoder.get_layer("reconstruction")
    clipped = np.clip(means, 1e-3, 1 - 1e-3)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.bias),
        np.log(clipped / (1 - clipped)),
        rtol=1e-5,
        atol=1e-6,
    )
    layer.kernel.assign(np.zeros(layer.kernel.shape, "float32"))
    outputs = keras.ops.convert_to_numpy(model.decoder(np.zeros((1, 2), "float32")))
    np.testing.assert_allclose(outputs[0], clipped, rtol=1e-4)
    assert build(latent_dim=2).count_params() == model.count_params()


@pytest.mark.parametrize("means", [np.zeros(10), np.full(784, np.nan)])
def test_bad_pixel_means_are_rejected(means):
    with pytest.raises(ValueError, match="pixel_means must be 784 finite values"):
        labkit.build_vae(pixel_means=means)


def test_autoencoder_training_lowers_the_mse(mnist_subset):
    labkit.seed_everything(0)
    autoencoder = labkit.build_autoencoder()
    autoencoder.compile(optimizer="adam", loss="mse")
    images = mnist_subset["x_train"]
    history = autoencoder.fit(images, images, epochs=3, batch_size=64, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]


def _functional_autoencoder():
    image = keras.Input(shape=(784,), name="image")
    encoder = keras.Model(image, keras.layers.Dense(3)(image), name="encoder")
    code = keras.Input(shape=(3,))
    decoder = keras.Model(code, keras.layers.Dense(784, activation="sigmoid")(code), name="decoder")
    return keras.Model(image, decoder(encoder(image)), name="autoencoder"), encoder, decoder


def test_the_helpers_find_the_encoder_and_decoder_of_any_build():
    # notebook 02 joins two Functional models; notebook 03 subclasses keras.Model
    autoencoder, encoder, decoder = _functional_autoencoder()
    assert labkit.models.encoder_and_decoder(autoencoder) == (encoder, decoder)
    assert labkit.models.latent_size(autoencoder) == 3
    images = np.random.default_rng(0).random((4, 784)).astype("float32")
    np.testing.assert_allclose(
        labkit.evaluation.reconstruct(autoencoder, images),
        np.asarray(autoencoder(images)),
        atol=1e-6,
    )
    vae = labkit.build_vae(latent_dim=5)
    assert labkit.models.encoder_and_decoder(vae) == (vae.encoder, vae.decoder)
    assert labkit.models.latent_size(vae) == vae.latent_dim == 5


def test_a_model_without_encoder_and_decoder_is_refused():
    image = keras.Input(shape=(784,))
    plain = keras.Model(image, keras.layers.Dense(784)(image), name="plain")
    with pytest.raises(ValueError, match=r"'plain' has no encoder and decoder\..*named 'encoder'"):
        labkit.encode(plain, np.zeros((1, 784), "float32"))


@pytest.mark.parametrize("build", [labkit.build_vae, labkit.build_autoencoder])
def test_output_bias_at_the_mean_image_makes_the_untrained_decoder_draw_it(build, mnist_subset):
    images = mnist_subset["x_train"]
    model = build()
    labkit.set_output_bias_to_mean_image(model, images)
    # The code 0 reaches the output layer as zeros (ReLU of zero biases): only the bias remains.
    decoded = labkit.decode(model, np.zeros((1, labkit.models.latent_size(model))))[0]
    np.testing.assert_allclose(decoded, np.clip(images.mean(axis=0), 1e-3, 1 - 1e-3), atol=1e-5)
    same = build(pixel_means=images.mean(axis=0))
    np.testing.assert_allclose(same.decoder.layers[-1].bias, model.decoder.layers[-1].bias)


def test_output_bias_rejects_the_wrong_images_and_layers():
    with pytest.raises(ValueError, match=r"images must have shape \(n, 784\)"):
        labkit.set_output_bias_to_mean_image(labkit.build_vae(), np.zeros((3, 28, 28)))
    image = keras.Input(shape=(784,))
    encoder = keras.Model(image, keras.layers.Dense(2)(image), name="encoder")
    code = keras.Input(shape=(2,))
    decoder = keras.Model(code, keras.layers.Reshape((2,))(code), name="decoder")
    model = keras.Model(image, decoder(encoder(image)))
    with pytest.raises(ValueError, match="last layer must be a Dense layer"):
        labkit.set_output_bias_to_mean_image(model, np.zeros((3, 784)))


def test_summed_cross_entropy_is_kerass_mean_times_the_pixels():
    rng = np.random.default_rng(0)
    images = rng.random((6, 784)).astype("float32")
    probabilities = rng.uniform(0.01, 0.99, (6, 784)).astype("float32")
    summed = np.asarray(labkit.summed_binary_crossentropy(images, probabilities))
    kerass = np.asarray(keras.losses.binary_crossentropy(images, probabilities))
    assert summed.shape == (6,)
    np.testing.assert_allclose(summed, 784 * kerass, rtol=1e-4)
    by_hand = -np.sum(images * np.log(probabilities) + (1 - images) * np.log(1 - probabilities), 1)
    np.testing.assert_allclose(summed, by_hand, rtol=1e-4)


def test_conditional_vae_has_the_labs_counts_plus_the_label():
    cvae = labkit.models.build_conditional_vae()
    vae = labkit.build_vae()
    assert cvae.encoder.count_params() == 409_092 == vae.encoder.count_params() + 10 * 512
    assert cvae.decoder.count_params() == 408_848 == vae.decoder.count_params() + 10 * 512
    assert [tuple(tensor.shape) for tensor in cvae.encoder.inputs] == [(None, 784), (None, 10)]
    assert [tuple(tensor.shape) for tensor in cvae.decoder.inputs] == [(None, 2), (None, 10)]
    assert labkit.models.latent_size(cvae) == 2


def test_conditional_vae_trains_on_the_conditional_elbo(conditional_vae, mnist_subset):
    cvae, history = conditional_vae
    assert history["loss"][-1] < history["loss"][0]
    assert all(value > 0 for value in history["val_loss"])
    images = mnist_subset["x_val"][:200]
    labels = labkit.data.one_hot(mnist_subset["y_val"][:200])
    losses = cvae.compute_losses(
        (keras.ops.convert_to_tensor(images), keras.ops.convert_to_tensor(labels))
    )
    # The negative ELBO by hand, with the same evaluation noise (Sampling's fixed seed).
    z_mean, z_log_var, z = (np.asarray(part, np.float64) for part in cvae.encoder([images, labels]))
    probabilities = np.clip(np.asarray(cvae.decoder([z, labels]), np.float64), 1e-7, 1 - 1e-7)
    cross_entropy = -np.sum(
        images * np.log(probabilities) + (1 - images) * np.log(1 - probabilities), axis=1
    )
    kl = 0.5 * np.sum(z_mean**2 + np.exp(z_log_var) - 1 - z_log_var, axis=1)
    assert float(losses["reconstruction_loss"]) == pytest.approx(cross_entropy.mean(), rel=1e-4)
    assert float(losses["kl_loss"]) == pytest.approx(kl.mean(), rel=1e-4)
    # evaluate() runs the compiled test_step on batches that carry the labels; its noise is
    # drawn by the compiled program, so it matches only up to that noise.
    evaluated = cvae.evaluate(
        labkit.image_batches(images, 100, labels=mnist_subset["y_val"][:200]),
        verbose=0,
        return_dict=True,
    )
    assert evaluated["loss"] == pytest.approx(
        evaluated["reconstruction_loss"] + evaluated["kl_loss"], rel=1e-5
    )
    assert evaluated["loss"] == pytest.approx(float(losses["loss"]), rel=0.02)


def test_conditional_vae_refuses_a_one_class_label():
    with pytest.raises(ValueError, match="num_classes must be an integer of at least 2"):
        labkit.models.build_conditional_vae(num_classes=1)
