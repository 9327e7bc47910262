"""The two models the lab compares: a plain autoencoder and a variational autoencoder.

Introduced in notebooks 02 (autoencoder) and 03 (VAE). Both are built with the Functional API for
the encoder and the decoder (so ``model.summary()`` and the parameter counts read like the lab's),
and wrapped in a small ``keras.Model`` subclass that exposes them as ``model.encoder`` and
``model.decoder``. Both are registered for serialization: ``model.save("vae.keras")`` and
``keras.saving.load_model("vae.keras")`` after ``import labkit`` need no ``custom_objects``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labkit.backend import keras, tf
from labkit.config import NUM_PIXELS

__all__ = [
    "VAE",
    "Autoencoder",
    "Sampling",
    "build_autoencoder",
    "build_vae",
    "kl_divergence",
]

ops = keras.ops

AUTOENCODER_HIDDEN_DIMS = (128, 64)  # the lab's 784-128-64-32-64-128-784
AUTOENCODER_LATENT_DIM = 32
VAE_HIDDEN_DIMS = (512,)  # the lab's 784-512-2-512-784
VAE_LATENT_DIM = 2

PIXEL_MEAN_CLIP = 1e-3  # keeps logit(pixel mean) finite for always-black border pixels

# Seed of the noise used when the model is not training, so that evaluating the same weights on
# the same data always gives the same loss (see Sampling).
EVALUATION_SEED = 1234


def _check_sizes(latent_dim: int, hidden_dims: Sequence[int], input_dim: int) -> None:
    for name, value in [("latent_dim", latent_dim), ("input_dim", input_dim)]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}.")
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


def _output_bias(pixel_means, output_dim: int):
    # logit(mean) makes the untrained decoder output the mean image, so training starts from the
    # average digit instead of a grey 0.5 everywhere (a common start for Bernoulli decoders).
    # Means are clipped away from 0 and 1, where the logit is infinite.
    if pixel_means is None:
        return "zeros"
    means = np.asarray(pixel_means, dtype="float64")
    if means.shape != (output_dim,) or not np.all(np.isfinite(means)):
        raise ValueError(
            f"pixel_means must be {output_dim} finite values, the mean of each pixel over the "
            f"training images (x_train.mean(axis=0)). Received shape {means.shape}."
        )
    means = np.clip(means, PIXEL_MEAN_CLIP, 1 - PIXEL_MEAN_CLIP)
    return keras.initializers.Constant(np.log(means / (1 - means)).astype("float32"))


def _build_decoder(
    latent_dim: int, hidden_dims: Sequence[int], output_dim: int, pixel_means=None
) -> keras.Model:
    latent_inputs = keras.Input(shape=(latent_dim,), name="z")
    hidden = _dense_stack(latent_inputs, hidden_dims, "decoder")
    outputs = keras.layers.Dense(
        output_dim,
        activation="sigmoid",
        bias_initializer=_output_bias(pixel_means, output_dim),
        name="reconstruction",
    )(hidden)
    return keras.Model(latent_inputs, outputs, name="decoder")


@keras.saving.register_keras_serializable(package="labkit")
class EncoderDecoderModel(keras.Model):
    """A model made of an ``encoder`` and a ``decoder`` sub-model, saved and loaded as such."""

    def __init__(self, encoder: keras.Model, decoder: keras.Model, **kwargs) -> None:
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    @property
    def latent_dim(self) -> int:
        """Size of the latent code (the decoder's input)."""
        return int(self.decoder.inputs[0].shape[-1])

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
        }

    @classmethod
    def from_config(cls, config: dict) -> EncoderDecoderModel:
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["decoder"] = keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="labkit")
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
    """Build the lab's plain autoencoder (uncompiled).

    The default is the seed lab's dense 784-128-64-32-64-128-784 network: ReLU hidden layers, a
    linear bottleneck and a sigmoid output, so outputs are pixel values in [0, 1]. The decoder
    mirrors the encoder's hidden sizes. Compile it with Adam and ``loss="mse"`` as the lab does.

    Args:
        latent_dim: Size of the bottleneck (32 in the lab; 2 to compare with the 2-D VAE).
        hidden_dims: Encoder hidden sizes, outermost first; the decoder uses them reversed.
        input_dim: Pixels per image (784 for flattened MNIST).
        pixel_means: Optional ``(input_dim,)`` mean of each pixel over the training images;
            given, the output layer's bias starts at their logit, so the untrained model
            outputs the mean image (training then starts closer to its goal).

    Returns:
        An :class:`Autoencoder` with ``encoder`` (input_dim -> latent_dim) and ``decoder``
        (latent_dim -> input_dim) sub-models.

    Raises:
        ValueError: A size is not a positive integer, or ``pixel_means`` has the wrong shape.
    """
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
    """KL(q(z|x) || N(0, I)) of a diagonal Gaussian q, in nats, summed over latent dimensions.

    The closed form, derived in notebook 03:
    ``KL = -0.5 * sum_j (1 + log_var_j - mean_j**2 - exp(log_var_j))``.

    Args:
        z_mean: Means of q, shape ``(batch, latent_dim)``.
        z_log_var: Log-variances of q, same shape.

    Returns:
        A tensor of shape ``(batch,)``: one KL value per example, never negative.
    """
    z_mean = ops.convert_to_tensor(z_mean, dtype="float32")
    z_log_var = ops.convert_to_tensor(z_log_var, dtype="float32")
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


@keras.saving.register_keras_serializable(package="labkit")
class Sampling(keras.layers.Layer):
    """The reparameterization trick: ``z = z_mean + exp(0.5 * z_log_var) * eps``, eps ~ N(0, I).

    ``z_log_var`` is the log of the *variance* sigma**2, so the standard deviation is
    ``sigma = exp(0.5 * z_log_var)``. The lab's pseudo-code wrote ``exp(z_log_var)``, which
    multiplies the noise by the variance instead of the standard deviation: a sample then has
    variance sigma**4, not sigma**2, and the KL term (which assumes sigma**2) no longer describes
    the distribution the decoder sees.

    While training, each call draws fresh noise from the layer's seed generator (seeded by
    :func:`labkit.seed_everything`). Otherwise (evaluation, prediction) the noise comes from a
    fixed seed, so the validation and test losses of the same weights on the same data are the
    same numbers every time they are computed.
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


@keras.saving.register_keras_serializable(package="labkit")
class VAE(EncoderDecoderModel):
    """A variational autoencoder trained on the negative ELBO, in nats per image.

    The encoder maps an image to ``[z_mean, z_log_var, z]``; the decoder maps ``z`` to Bernoulli
    pixel probabilities. The loss of one batch is

    ``reconstruction_loss + beta * kl_loss``, where
    ``reconstruction_loss`` is the binary cross-entropy summed over the 784 pixels and
    ``kl_loss`` is :func:`kl_divergence` summed over latent dimensions, both averaged over the
    batch. With ``beta=1`` this is the negative ELBO in nats per image.

    ``train_step`` and ``test_step`` both track ``loss``, ``reconstruction_loss`` and
    ``kl_loss``, so ``fit(..., validation_data=...)`` reports real ``val_*`` numbers and
    ``evaluate`` returns the same three.
    """

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

    def get_config(self) -> dict:
        return {**super().get_config(), "beta": self.beta}


def build_vae(
    latent_dim: int = VAE_LATENT_DIM,
    hidden_dims: Sequence[int] = VAE_HIDDEN_DIMS,
    input_dim: int = NUM_PIXELS,
    beta: float = 1.0,
    pixel_means=None,
) -> VAE:
    """Build the lab's VAE (uncompiled; compile it with an optimizer only).

    The default is the seed lab's network: encoder 784-512 (ReLU) into ``z_mean`` and
    ``z_log_var`` (2-D each) and a :class:`Sampling` layer; decoder 2-512 (ReLU)-784 (sigmoid).
    That is 403,972 trainable parameters in the encoder and 403,728 in the decoder.

    Args:
        latent_dim: Size of z (2 in the lab, so the latent space can be drawn).
        hidden_dims: Encoder hidden sizes, outermost first; the decoder uses them reversed.
        input_dim: Pixels per image (784 for flattened MNIST).
        beta: Weight of the KL term (1 gives the ELBO; other values give a beta-VAE).
        pixel_means: Optional ``(input_dim,)`` mean of each pixel over the training images
            (``data.x_train.mean(axis=0)``); given, the decoder's output bias starts at their
            logit, so the untrained decoder outputs the mean image.

    Returns:
        A :class:`VAE` whose ``encoder`` returns ``[z_mean, z_log_var, z]``.

    Raises:
        ValueError: A size is not a positive integer, ``beta`` is negative, or
            ``pixel_means`` has the wrong shape.
    """
    hidden_dims = tuple(hidden_dims)
    _check_sizes(latent_dim, hidden_dims, input_dim)
    inputs = keras.Input(shape=(input_dim,), name="image")
    hidden = _dense_stack(inputs, hidden_dims, "encoder")
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(hidden)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(hidden)
    z = Sampling(name="z")([z_mean, z_log_var])
    encoder = keras.Model(inputs, [z_mean, z_log_var, z], name="encoder")
    decoder = _build_decoder(latent_dim, hidden_dims[::-1], input_dim, pixel_means)
    vae = VAE(encoder, decoder, beta=beta, name="vae")
    vae.build((None, input_dim))
    return vae
