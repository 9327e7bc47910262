"""The models the labs teach, as tested reference copies: a plain autoencoder, a VAE and a
conditional VAE.

Notebooks 02 (autoencoder), 03 (VAE) and 06 (conditional VAE) write these models out in Keras,
layer by layer, since that is what they teach; notebooks 03 and 06 check that their model and
:func:`build_vae` or :func:`build_conditional_vae` have the same parameter counts and give the
same loss for the same weights (``tests/test_notebooks.py`` checks Lab 03's too). Notebooks 04,
05 and 06 train several models alike and build them here. The
encoder and the decoder are Functional models (so ``model.summary()`` and the parameter counts
read like the lab's), wrapped in a small ``keras.Model`` subclass that exposes them as
``model.encoder`` and ``model.decoder``. Both are registered for serialization:
``model.save("vae.keras")`` and ``keras.saving.load_model("vae.keras")`` after ``import labkit``
need no ``custom_objects``.

The kit's helpers accept any model with an encoder and a decoder, however it was built
(:func:`encoder_and_decoder`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labkit.backend import keras, tf
from labkit.config import NUM_CLASSES, NUM_PIXELS

__all__ = [
    "EVALUATION_SEED",
    "VAE",
    "Autoencoder",
    "ConditionalVAE",
    "Sampling",
    "build_autoencoder",
    "build_conditional_vae",
    "build_vae",
    "encoder_and_decoder",
    "kl_divergence",
    "latent_size",
    "set_output_bias_to_mean_image",
    "summed_binary_crossentropy",
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


def encoder_and_decoder(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """The encoder and the decoder of an autoencoder or a VAE, whoever built it.

    Every helper of the kit that encodes or decodes goes through this, so it accepts the models
    of :func:`build_autoencoder` and :func:`build_vae`, a ``keras.Model`` subclass with
    ``encoder`` and ``decoder`` attributes (notebook 03's VAE, the keras-io example's), and a
    Functional model built as ``keras.Model(image, decoder(encoder(image)))`` from sub-models
    named ``"encoder"`` and ``"decoder"`` (notebook 02's autoencoder).

    Raises:
        ValueError: ``model`` has neither.
    """
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
    """Start ``model``'s decoder from the average image: a step of the kit's training recipe.

    Sets the bias of the decoder's last layer (a sigmoid ``Dense``) to the logit of each pixel's
    mean over ``images``. With the weights still near zero, the untrained decoder then outputs
    the mean image instead of grey 0.5 everywhere, and training starts closer to its goal
    (notebooks 02 and 03). Call it on a new model, before training.

    Args:
        model: An autoencoder or a VAE (see :func:`encoder_and_decoder`).
        images: The training images, ``(n, output_size)``, values in [0, 1].

    Raises:
        ValueError: The decoder's last layer is not a ``Dense`` layer with a bias, or the images
            do not match its size.
    """
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


@keras.saving.register_keras_serializable(package="labkit")
def summed_binary_crossentropy(images, reconstructions):
    """Binary cross-entropy summed over the pixels of each image, in nats: a VAE's reconstruction
    term, as a Keras loss for a plain autoencoder (``compile(loss=summed_binary_crossentropy)``).

    Keras's own ``"binary_crossentropy"`` loss averages over the pixels instead, which is the same
    objective divided by 784 (the same minimum, 784 times smaller gradients for Adam to rescale).
    Summed, the autoencoder's loss is in the VAE's units, nats per image (notebook 04).
    """
    return ops.sum(ops.binary_crossentropy(images, reconstructions), axis=-1)


def _output_bias(pixel_means, output_dim: int):
    # logit(mean) makes the untrained decoder output the mean image, so training starts from the
    # average digit instead of a grey 0.5 everywhere (a common start for Bernoulli decoders).
    # Means are clipped away from 0 and 1, where the logit is infinite.
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
        return latent_size(self)

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

    def get_config(self) -> dict:
        return {**super().get_config(), "beta": self.beta}


@keras.saving.register_keras_serializable(package="labkit")
class ConditionalVAE(VAE):
    """A conditional VAE (notebook 06): a :class:`VAE` whose encoder and decoder both also take
    the digit, as a one-hot label.

    Its input is the pair ``(images, one_hot_labels)``, which
    :func:`labkit.image_batches` gives with ``labels=``; the encoder maps ``[images, labels]`` to
    ``[z_mean, z_log_var, z]`` (q(z | x, y)) and the decoder ``[z, labels]`` to pixel
    probabilities (p(x | z, y)). The loss is the :class:`VAE`'s, the negative conditional ELBO
    in nats per image, and so are ``train_step`` and ``test_step``.
    """

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
    """Build notebook 06's conditional VAE (uncompiled): :func:`build_vae`'s network with the
    one-hot label joined to the image (encoder) and to the code (decoder).

    The default has 409,092 trainable parameters in the encoder and 408,848 in the decoder:
    5,120 more than :func:`build_vae`'s in each (the label's 10 inputs to 512 units).

    Args:
        latent_dim: Size of z, the style code.
        hidden_dims: Encoder hidden sizes, outermost first; the decoder uses them reversed.
        input_dim: Pixels per image.
        num_classes: Length of the one-hot label.
        pixel_means: As in :func:`build_vae`: the output bias starts at the mean image.
        seed: Seed of the :class:`Sampling` layer's training noise, as in :func:`build_vae`.

    Raises:
        ValueError: A size is not a positive integer, or ``pixel_means`` has the wrong shape.
    """
    hidden_dims = tuple(hidden_dims)
    _check_sizes(latent_dim, hidden_dims, input_dim)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(
            f"num_classes must be an integer of at least 2. Received: num_classes={num_classes!r}."
        )
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
        seed: Seed of the :class:`Sampling` layer's training noise. ``None`` draws it from
            Keras's global generator (set by :func:`labkit.seed_everything`); Lab 03's notebook
            seeds its own layer with ``settings.seed``, and ``seed=settings.seed`` builds the
            same VAE, so that :func:`labkit.train_or_load` finds the one Lab 03 trained.

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
    encoder = keras.Model(inputs, _gaussian_code(hidden, latent_dim, seed), name="encoder")
    decoder = _build_decoder(latent_dim, hidden_dims[::-1], input_dim, pixel_means)
    vae = VAE(encoder, decoder, beta=beta, name="vae")
    vae.build((None, input_dim))
    return vae
