"""Measures of trained models on held-out images: codes, decodings and losses in nats per image.

Functions that run an encoder or a decoder take a conditional VAE's digits as ``labels=``. The
pixels are grey, not binarized: compare these numbers within the kit, not with papers.
"""

from __future__ import annotations

import math

import numpy as np

from labkit.backend import keras, tf
from labkit.config import BATCH_SIZE, _check_integer
from labkit.data import one_hot
from labkit.models import encoder_and_decoder, latent_size

_PROBABILITY_EPSILON = 1e-7  # Keras's clipping in binary_crossentropy: numbers agree with training
DEFAULT_IMPORTANCE_SAMPLES = 100
IWAE_SEED = 0  # noise of the importance samples, so the estimate is reproducible


def _check_images(model: keras.Model, images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    input_dim = int(encoder_and_decoder(model)[0].inputs[0].shape[-1])
    if images.ndim != 2 or images.shape[1] != input_dim:
        raise ValueError(
            f"images must have shape (n, {input_dim}) (flattened, as load_mnist returns by "
            f"default). Received: shape {images.shape}."
        )
    if len(images) == 0:
        raise ValueError("images is empty: pass at least one image.")
    return images


def conditional_inputs(submodel, first: np.ndarray, labels) -> np.ndarray | list[np.ndarray]:
    """``first``, or ``[first, one_hot(labels)]`` for a sub-model that also takes the digit.

    Raises ValueError when labels are missing, unwanted, or not one per row (or one for all).
    """
    if len(submodel.inputs) != 2:
        if labels is not None:
            raise ValueError(
                f"the {submodel.name} of this model takes no labels (it is not conditional): "
                "leave labels= out."
            )
        return first
    if labels is None:
        raise ValueError(
            f"the {submodel.name} of this model also takes the digit: pass labels=, one digit "
            "(0 to 9) per row, or a single digit for all."
        )
    labels = np.asarray(labels)
    if labels.ndim == 0:  # one digit for every row
        labels = np.full(len(first), labels)
    labels = one_hot(labels)
    if len(labels) != len(first):
        raise ValueError(f"pass one label per row: {len(first)} rows, {len(labels)} labels.")
    return [first, labels]


def _batched_call(
    submodel, inputs: np.ndarray | list[np.ndarray], batch_size: int
) -> list[np.ndarray]:
    """Run ``submodel`` on ``inputs`` (an array or a list) in batches; one array per output."""
    # Direct calls, not predict: no progress bar, no retracing, and fast enough for widgets.
    parts = inputs if isinstance(inputs, list) else [inputs]
    chunks = []
    for start in range(0, len(parts[0]), batch_size):
        batch = [part[start : start + batch_size] for part in parts]
        chunks.append(submodel(batch if len(batch) > 1 else batch[0], training=False))
    if isinstance(chunks[0], list | tuple):
        return [np.concatenate([np.asarray(c[i]) for c in chunks]) for i in range(len(chunks[0]))]
    return [np.concatenate([np.asarray(chunk) for chunk in chunks])]


def encode(model: keras.Model, images: np.ndarray, batch_size: int = BATCH_SIZE, *, labels=None):
    """Codes ``(n, latent_dim)`` of ``images`` ``(n, 784)``: an autoencoder's, a VAE's ``z_mean``.

    ``labels``: the images' digits, for a conditional VAE only (one digit stands for all).
    """
    images = _check_images(model, images)
    encoder = encoder_and_decoder(model)[0]
    # A VAE's encoder returns [z_mean, z_log_var, z]: its first output is the code.
    return _batched_call(encoder, conditional_inputs(encoder, images, labels), batch_size)[0]


def decode(model: keras.Model, latents: np.ndarray, batch_size: int = BATCH_SIZE, *, labels=None):
    """Images ``(n, 784)`` in [0, 1] decoded from codes ``(n, latent_dim)``.

    ``labels``: the digit to draw, for a conditional VAE only (as in :func:`encode`).
    """
    latents = np.asarray(latents, dtype=np.float32)
    decoder = encoder_and_decoder(model)[1]
    latent_dim = latent_size(model)
    if latents.ndim != 2 or latents.shape[1] != latent_dim:
        raise ValueError(
            f"latents must have shape (n, {latent_dim}) for this model. "
            f"Received: shape {latents.shape}."
        )
    inputs = conditional_inputs(decoder, latents, labels)
    if len(latents) == 0:
        return np.zeros((0, int(decoder.outputs[0].shape[-1])), dtype=np.float32)
    return _batched_call(decoder, inputs, batch_size)[0]


def reconstruct(
    model: keras.Model, images: np.ndarray, batch_size: int = BATCH_SIZE, *, labels=None
):
    """``decode(encode(images))``: a VAE decodes ``z_mean``, without noise."""
    codes = encode(model, images, batch_size, labels=labels)
    return decode(model, codes, batch_size, labels=labels)


def reconstruction_errors(images: np.ndarray, reconstructions: np.ndarray) -> dict[str, float]:
    """Mean over images of the squared error per pixel (``reconstruction_mse``) and of the
    binary cross-entropy summed over pixels, in nats (``reconstruction_bce``)."""
    images = np.asarray(images, dtype=np.float64)
    probabilities = np.clip(
        np.asarray(reconstructions, dtype=np.float64),
        _PROBABILITY_EPSILON,
        1 - _PROBABILITY_EPSILON,
    )
    if images.shape != probabilities.shape:
        raise ValueError(
            f"images and reconstructions must have the same shape. Received: {images.shape} and "
            f"{probabilities.shape}."
        )
    # log p(image | probabilities) of Bernoulli pixels, pixel by pixel.
    pixel_log_likelihoods = images * np.log(probabilities) + (1 - images) * np.log1p(-probabilities)
    return {
        "reconstruction_mse": float(np.mean((images - probabilities) ** 2)),
        "reconstruction_bce": float(-np.mean(np.sum(pixel_log_likelihoods, axis=-1))),
    }


def _log_normal(values: np.ndarray, mean: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """log N(values; mean, exp(log_var)) of diagonal Gaussians, summed over the last axis."""
    return -0.5 * np.sum(
        math.log(2.0 * math.pi) + log_var + (values - mean) ** 2 / np.exp(log_var), axis=-1
    )


def iwae_negative_log_likelihood(
    vae: keras.Model,
    images: np.ndarray,
    num_samples: int = DEFAULT_IMPORTANCE_SAMPLES,
    *,
    labels=None,
    batch_size: int = 100,
    seed: int = IWAE_SEED,
) -> float:
    """Importance-weighted estimate of -log p(x), mean nats per image (Burda et al., 2016).

    ``-log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)`` over ``k = num_samples`` codes per image;
    given ``labels``, -log p(x | y). Each call decodes ``batch_size * k`` codes.
    """
    images = _check_images(vae, images)
    _check_integer("num_samples", num_samples)
    rng = np.random.default_rng(seed)
    encoder, decoder = encoder_and_decoder(vae)
    encoder_inputs = conditional_inputs(encoder, images, labels)
    one_hots = encoder_inputs[1] if isinstance(encoder_inputs, list) else None
    z_mean, z_log_var, _ = _batched_call(encoder, encoder_inputs, BATCH_SIZE)
    z_mean, z_log_var = np.asarray(z_mean, np.float64), np.asarray(z_log_var, np.float64)

    # log p(x | z_i), most of the work, in one program: with XLA unless the model turned it off.
    @tf.function(jit_compile=getattr(vae, "jit_compile", True) is not False, reduce_retracing=True)
    def log_likelihoods(codes, batch_images, batch_labels):
        # The codes are sample-major (row i * b + j is image j's sample i), so are the labels.
        if batch_labels is not None:
            codes = [codes, tf.tile(batch_labels, [num_samples, 1])]
        probabilities = decoder(codes, training=False)
        probabilities = tf.clip_by_value(
            probabilities, _PROBABILITY_EPSILON, 1 - _PROBABILITY_EPSILON
        )
        probabilities = tf.reshape(probabilities, (num_samples, tf.shape(batch_images)[0], -1))
        return tf.reduce_sum(
            batch_images * tf.math.log(probabilities)
            + (1 - batch_images) * tf.math.log1p(-probabilities),
            axis=-1,
        )

    total = 0.0
    for start in range(0, len(images), batch_size):
        batch = slice(start, start + batch_size)
        mean, log_var = z_mean[batch], z_log_var[batch]  # (b, latent)
        epsilon = rng.standard_normal((num_samples, *mean.shape))  # (k, b, latent)
        z = mean + np.exp(0.5 * log_var) * epsilon
        codes = z.reshape(-1, mean.shape[1]).astype(np.float32)
        batch_labels = None if one_hots is None else one_hots[batch]
        log_likelihood = log_likelihoods(codes, images[batch], batch_labels).numpy()
        log_weights = (
            log_likelihood.astype(np.float64)
            + _log_normal(z, np.zeros_like(z), np.zeros_like(z))
            - _log_normal(z, mean, log_var)
        )  # (k, b)
        largest = log_weights.max(axis=0)
        log_mean_weight = largest + np.log(np.mean(np.exp(log_weights - largest), axis=0))
        total += float(np.sum(log_mean_weight))
    return -total / len(images)


def active_units(
    vae: keras.Model,
    images: np.ndarray,
    threshold: float = 0.01,
    *,
    labels=None,
) -> int:
    """How many latent dimensions have a ``z_mean`` whose variance across ``images`` exceeds
    ``threshold`` (Burda et al., 2016)."""
    return int(np.sum(np.var(encode(vae, images, labels=labels), axis=0) > threshold))


def evaluate_vae(
    vae: keras.Model,
    images: np.ndarray,
    *,
    num_importance_samples: int = DEFAULT_IMPORTANCE_SAMPLES,
    iwae_images: int | None = None,
    labels=None,
    batch_size: int = BATCH_SIZE,
) -> dict[str, float | int]:
    """Test-set measures of a VAE (given ``labels``, a conditional one), in nats per image.

    Returns ``negative_elbo`` (with beta = 1), ``reconstruction_loss``, ``kl_loss``,
    ``bits_per_dim``, ``iwae_nll`` (on the first ``iwae_images``, all by default), ``iwae_samples``,
    ``iwae_images``, ``active_units`` and the :func:`reconstruction_errors` of ``z_mean``.
    """
    images = _check_images(vae, images)
    if iwae_images is None:
        iwae_images = len(images)
    _check_integer("iwae_images", iwae_images)
    iwae_images = min(iwae_images, len(images))
    # Missing or unwanted labels stop here, before any work.
    inputs = conditional_inputs(encoder_and_decoder(vae)[0], images, labels)
    if isinstance(inputs, list):
        labels = inputs[1]  # one-hot rows, one per image, however the digits were given
        inputs = tuple(inputs)
    losses = vae.evaluate(inputs, batch_size=batch_size, verbose=0, return_dict=True)
    negative_elbo = float(losses["reconstruction_loss"] + losses["kl_loss"])
    return {
        "negative_elbo": negative_elbo,
        "reconstruction_loss": float(losses["reconstruction_loss"]),
        "kl_loss": float(losses["kl_loss"]),
        "bits_per_dim": negative_elbo / (images.shape[1] * math.log(2.0)),
        "iwae_nll": iwae_negative_log_likelihood(
            vae,
            images[:iwae_images],
            num_importance_samples,
            labels=None if labels is None else labels[:iwae_images],
        ),
        "iwae_samples": num_importance_samples,
        "iwae_images": iwae_images,
        "active_units": active_units(vae, images, labels=labels),
        **reconstruction_errors(images, reconstruct(vae, images, batch_size, labels=labels)),
    }


def evaluate_autoencoder(
    autoencoder: keras.Model, images: np.ndarray, *, batch_size: int = BATCH_SIZE
) -> dict[str, float]:
    """Test-set :func:`reconstruction_errors` of an autoencoder."""
    images = _check_images(autoencoder, images)
    return reconstruction_errors(images, reconstruct(autoencoder, images, batch_size))


def sample_images(
    model: keras.Model,
    num_images: int,
    *,
    seed: int,
    fitted_latents: np.ndarray | None = None,
) -> np.ndarray:
    """Images ``(num_images, 784)`` decoded from codes drawn from N(0, I), or from a Gaussian
    fitted to ``fitted_latents`` ``(n, latent_dim)`` (an autoencoder's training codes)."""
    rng = np.random.default_rng(seed)
    latent_dim = latent_size(model)
    if fitted_latents is None:
        latents = rng.standard_normal((num_images, latent_dim))
    else:
        fitted_latents = np.asarray(fitted_latents, dtype=np.float64)
        if fitted_latents.ndim != 2 or fitted_latents.shape[1] != latent_dim:
            raise ValueError(
                f"fitted_latents must have shape (n, {latent_dim}). "
                f"Received: shape {fitted_latents.shape}."
            )
        mean = fitted_latents.mean(axis=0)
        covariance = np.atleast_2d(np.cov(fitted_latents, rowvar=False))
        latents = rng.multivariate_normal(mean, covariance, size=num_images)
    return decode(model, latents)
