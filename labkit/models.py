"""Tested reference copies of the models the labs write out: autoencoder, VAE, conditional VAE.

Each is an ``encoder`` and a ``decoder`` (Functional models) in a small ``keras.Model`` subclass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labkit.backend import keras, tf
from labkit.config import NUM_CLASSES, NUM_PIXELS, _check_integer

ops = keras.ops

AUTOENCODER_HIDDEN_DIMS = (128, 64)  # the lab's 784-128-64-32-64-128-784
AUTOENCODER_LATENT_DIM = 32
VAE_HIDDEN_DIMS = (512,)  # the lab's 784-512-2-512-784
VAE_LATENT_DIM = 2

PIXEL_MEAN_CLIP = 1e-3  # keeps logit(pixel mean) finite for always-black border pixels

# Seed of the noise when not training: the same weights always give the same loss.
EVALUATION_SEED = 1234


def _check_sizes(latent_dim: int, hidden_dims: Sequence[int], input_dim: int) -> None:
    _check_integer("latent_dim", latent_dim)
    _check_integer("input_dim", input_dim)
    if any(isinstance(size, bool) or not isinstance(size, int) or size < 1 for size in hidden_dims):
        raise ValueError(
            f"hidden_dims must be a sequence of positive integers, for example (512,). "
            f"Received: hidden_dims={tuple(hidden_dims)!r}."
        )


def _dense_stack(inputs, sizes: Sequence[int], prefix: str):
    hidden = inputs
    for index, size in enumerate(sizes, start=1):
        hidden = keras.layers.Dense(size, activation="relu", name=f"{prefix}_dense_{index}")(hidden)
    return hidden


def encoder_and_decoder(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """``(encoder, decoder)`` of a model: its attributes, or its sub-models of those names."""
    encoder, decoder = getattr(model, "encoder", None), getattr(model, "decoder", None)
    if encoder is None or decoder is None:
        names = [layer.name for layer in getattr(model, "layers", [])]
        if "encoder" not in names or "decoder" not in names:
            raise ValueError(
                f"{getattr(model, 'name', type(model).__name__)!r} has no encoder and decoder. "
                "Build it from two sub-models named 'encoder' and 'decoder', as in "
                "keras.Model(image, decoder(encoder(image))), or give it .encoder and .decoder "
                f"attributes. Received a model whose layers are {names}."
            )
        encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    return encoder, decoder


def latent_size(model: keras.Model) -> int:
    """Size of the latent code of ``model``: its decoder's input size."""
    return int(encoder_and_decoder(model)[1].inputs[0].shape[-1])


def _pixel_logits(pixel_means, output_dim: int) -> np.ndarray:
    means = np.asarray(pixel_means, dtype="float64")
    if means.shape != (output_dim,) or not np.all(np.isfinite(means)):
        raise ValueError(
            f"pixel_means must be {output_dim} finite values, the mean of each pixel over the "
            f"training images (x_train.mean(axis=0)). Received shape {means.shape}."
        )
    means = np.clip(means, PIXEL_MEAN_CLIP, 1 - PIXEL_MEAN_CLIP)
    return np.log(means / (1 - means)).astype("float32")


def set_output_bias_to_mean_image(model: keras.Model, images) -> None:
    """Set the decoder's output bias to the logit of each pixel's mean over ``images``, so the
    untrained model outputs the mean image. Call it on a new model, before training."""
    output_layer = encoder_and_decoder(model)[1].layers[-1]
    if not isinstance(output_layer, keras.layers.Dense) or output_layer.bias is None:
        raise ValueError(
            "the decoder's last layer must be a Dense layer with a bias (the sigmoid output). "
            f"Received: {type(output_layer).__name__} {output_layer.name!r}."
        )
    images = np.asarray(images)
    output_dim = int(output_layer.units)
    if images.ndim != 2 or images.shape[1] != output_dim or len(images) == 0:
        raise ValueError(
            f"images must have shape (n, {output_dim}), the training images. Received: shape "
            f"{images.shape}."
        )
    output_layer.bias.assign(_pixel_logits(images.mean(axis=0), output_dim))


def summed_binary_crossentropy(images, reconstructions):
    """Binary cross-entropy summed over each image's pixels (nats per image): the VAE's
    reconstruction term as a Keras loss. Keras's ``"binary_crossentropy"`` averages instead."""
    return ops.sum(ops.binary_crossentropy(images, reconstructions), axis=-1)


def _output_bias(pixel_means, output_dim: int):
    # logit(mean): the untrained decoder outputs the mean image (see set_output_bias_to_mean_image).
    if pixel_means is None:
        return "zeros"
    return keras.initializers.Constant(_pixel_logits(pixel_means, output_dim))


def _build_decoder(
    latent_dim: int,
    hidden_dims: Sequence[int],
    output_dim: int,
    pixel_means=None,
    num_classes: int = 0,
) -> keras.Model:
    # With num_classes, the decoder also takes a one-hot label, joined to the code.
    inputs = [keras.Input(shape=(latent_dim,), name="z")]
    if num_classes:
        inputs.append(keras.Input(shape=(num_classes,), name="label"))
    joined = keras.layers.Concatenate(name="code_and_label")(inputs) if num_classes else inputs[0]
    hidden = _dense_stack(joined, hidden_dims, "decoder")
    outputs = keras.layers.Dense(
        output_dim,
        activation="sigmoid",
        bias_initializer=_output_bias(pixel_means, output_dim),
        name="reconstruction",
    )(hidden)
    return keras.Model(inputs if num_classes else inputs[0], outputs, name="decoder")


def _gaussian_code(hidden, latent_dim: int, seed: int | None) -> list:
    """``[z_mean, z_log_var, z]``: the VAE encoder's two heads and its :class:`Sampling` layer."""
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(hidden)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(hidden)
    return [z_mean, z_log_var, Sampling(seed=seed, name="z")([z_mean, z_log_var])]


class EncoderDecoderModel(keras.Model):
    """A model made of an ``encoder`` and a ``decoder`` sub-model."""

    def __init__(self, encoder: keras.Model, decoder: keras.Model, **kwargs) -> None:
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    @property
    def latent_dim(self) -> int:
        """Size of the latent code (the decoder's input)."""
        return latent_size(self)


class Autoencoder(EncoderDecoderModel):
    """A plain autoencoder: ``decoder(encoder(x))``, trained to reproduce its input."""

    def call(self, inputs, training=None):
        return self.decoder(self.encoder(inputs, training=training), training=training)


def build_autoencoder(
    latent_dim: int = AUTOENCODER_LATENT_DIM,
    hidden_dims: Sequence[int] = AUTOENCODER_HIDDEN_DIMS,
    input_dim: int = NUM_PIXELS,
    pixel_means=None,
) -> Autoencoder:
    """The lab's autoencoder, uncompiled: 784-128-64-32-64-128-784 by default, ReLU hidden
    layers, a linear code and a sigmoid output; the decoder mirrors ``hidden_dims``. Given
    ``pixel_means``, the untrained model outputs the mean image."""
    hidden_dims = tuple(hidden_dims)
    _check_sizes(latent_dim, hidden_dims, input_dim)
    inputs = keras.Input(shape=(input_dim,), name="image")
    hidden = _dense_stack(inputs, hidden_dims, "encoder")
    code = keras.layers.Dense(latent_dim, name="code")(hidden)
    encoder = keras.Model(inputs, code, name="encoder")
    decoder = _build_decoder(latent_dim, hidden_dims[::-1], input_dim, pixel_means)
    autoencoder = Autoencoder(encoder, decoder, name="autoencoder")
    autoencoder.build((None, input_dim))
    return autoencoder


def kl_divergence(z_mean, z_log_var):
    """KL(N(z_mean, exp(z_log_var)) || N(0, I)) in nats per example, shape ``(batch,)``:
    ``-0.5 * sum_j (1 + log_var_j - mean_j**2 - exp(log_var_j))``."""
    z_mean = ops.convert_to_tensor(z_mean, dtype="float32")
    z_log_var = ops.convert_to_tensor(z_log_var, dtype="float32")
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


@keras.saving.register_keras_serializable(package="labkit")
class Sampling(keras.layers.Layer):
    """The reparameterization trick: ``z = z_mean + exp(0.5 * z_log_var) * eps``, eps ~ N(0, I).

    Training draws fresh noise each call; otherwise the noise comes from
    :data:`EVALUATION_SEED`, so evaluating the same weights gives the same loss.
    """

    def __init__(self, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        z_mean, z_log_var = inputs
        seed = self.seed_generator if training else EVALUATION_SEED
        epsilon = keras.random.normal(ops.shape(z_mean), seed=seed)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


class VAE(EncoderDecoderModel):
    """A VAE trained on ``reconstruction_loss + beta * kl_loss`` (the negative ELBO, nats per
    image, when ``beta=1``); ``train_step`` and ``test_step`` track all three. The encoder gives
    ``[z_mean, z_log_var, z]``, the decoder pixel probabilities."""

    def __init__(
        self, encoder: keras.Model, decoder: keras.Model, beta: float = 1.0, **kwargs
    ) -> None:
        super().__init__(encoder, decoder, **kwargs)
        if not beta >= 0:
            raise ValueError(f"beta must be a non-negative number. Received: beta={beta!r}.")
        self.beta = float(beta)
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self) -> list:
        # Listed here so that Keras resets them at the start of each epoch and evaluation.
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def call(self, inputs, training=None):
        _, _, z = self.encoder(inputs, training=training)
        return self.decoder(z, training=training)

    def compute_losses(self, images, training: bool = False) -> dict:
        """The batch's ``loss``, ``reconstruction_loss`` and ``kl_loss``, in nats per image."""
        z_mean, z_log_var, z = self.encoder(images, training=training)
        reconstruction = self.decoder(z, training=training)
        return self._negative_elbo(images, reconstruction, z_mean, z_log_var)

    def _negative_elbo(self, images, reconstruction, z_mean, z_log_var) -> dict:
        reconstruction_loss = ops.mean(
            ops.sum(ops.binary_crossentropy(images, reconstruction), axis=-1)
        )
        kl_loss = ops.mean(kl_divergence(z_mean, z_log_var))
        return {
            "loss": reconstruction_loss + self.beta * kl_loss,
            "reconstruction_loss": reconstruction_loss,
            "kl_loss": kl_loss,
        }

    def _update_metrics(self, losses: dict) -> dict:
        self.total_loss_tracker.update_state(losses["loss"])
        self.reconstruction_loss_tracker.update_state(losses["reconstruction_loss"])
        self.kl_loss_tracker.update_state(losses["kl_loss"])
        return {metric.name: metric.result() for metric in self.metrics}

    @staticmethod
    def _images(data):
        return data[0] if isinstance(data, tuple) else data

    def train_step(self, data):
        images = self._images(data)
        with tf.GradientTape() as tape:
            losses = self.compute_losses(images, training=True)
        gradients = tape.gradient(losses["loss"], self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        return self._update_metrics(losses)

    def test_step(self, data):
        return self._update_metrics(self.compute_losses(self._images(data), training=False))


class ConditionalVAE(VAE):
    """A :class:`VAE` whose encoder and decoder also take the one-hot digit: its input is the
    pair ``(images, one_hot_labels)`` (:func:`labkit.image_batches` with ``labels=``)."""

    def call(self, inputs, training=None):
        images, labels = inputs
        _, _, z = self.encoder([images, labels], training=training)
        return self.decoder([z, labels], training=training)

    def compute_losses(self, inputs, training: bool = False) -> dict:
        """The batch's losses; ``inputs`` is the pair ``(images, one_hot_labels)``."""
        images, labels = inputs
        z_mean, z_log_var, z = self.encoder([images, labels], training=training)
        reconstruction = self.decoder([z, labels], training=training)
        return self._negative_elbo(images, reconstruction, z_mean, z_log_var)


def build_conditional_vae(
    latent_dim: int = VAE_LATENT_DIM,
    hidden_dims: Sequence[int] = VAE_HIDDEN_DIMS,
    input_dim: int = NUM_PIXELS,
    num_classes: int = NUM_CLASSES,
    pixel_means=None,
    seed: int | None = None,
) -> ConditionalVAE:
    """:func:`build_vae`'s network, uncompiled, with the one-hot label joined to the image
    (encoder) and to the code (decoder)."""
    hidden_dims = tuple(hidden_dims)
    _check_sizes(latent_dim, hidden_dims, input_dim)
    _check_integer("num_classes", num_classes, 2)
    image = keras.Input(shape=(input_dim,), name="image")
    label = keras.Input(shape=(num_classes,), name="label")
    joined = keras.layers.Concatenate(name="image_and_label")([image, label])
    hidden = _dense_stack(joined, hidden_dims, "encoder")
    encoder = keras.Model([image, label], _gaussian_code(hidden, latent_dim, seed), name="encoder")
    decoder = _build_decoder(latent_dim, hidden_dims[::-1], input_dim, pixel_means, num_classes)
    return ConditionalVAE(encoder, decoder, name="conditional_vae")


def build_vae(
    latent_dim: int = VAE_LATENT_DIM,
    hidden_dims: Sequence[int] = VAE_HIDDEN_DIMS,
    input_dim: int = NUM_PIXELS,
    beta: float = 1.0,
    pixel_means=None,
    seed: int | None = None,
) -> VAE:
    """The lab's VAE, uncompiled: 784-512 (ReLU) into a ``latent_dim`` Gaussian code sampled by
    :class:`Sampling` (seeded by ``seed``), then 512 (ReLU)-784 (sigmoid); ``beta`` weights the KL
    term. Given ``pixel_means``, the untrained decoder outputs the mean image."""
    hidden_dims = tuple(hidden_dims)
    _check_sizes(latent_dim, hidden_dims, input_dim)
    inputs = keras.Input(shape=(input_dim,), name="image")
    hidden = _dense_stack(inputs, hidden_dims, "encoder")
    encoder = keras.Model(inputs, _gaussian_code(hidden, latent_dim, seed), name="encoder")
    decoder = _build_decoder(latent_dim, hidden_dims[::-1], input_dim, pixel_means)
    vae = VAE(encoder, decoder, beta=beta, name="vae")
    vae.build((None, input_dim))
    return vae
