"""Measuring the trained models on held-out images, on the same footing for all of them.

Introduced in notebook 03 (test ELBO, IWAE) and used for the comparisons in notebooks 04 and 06
(which adds what the codes carry: :func:`nearest_neighbour_accuracy`). The functions that run
the encoder or the decoder also take a conditional VAE's labels (``labels=``). All losses are
in nats per image (natural-log units, summed over the 784 pixels), and the functions return
plain Python floats and NumPy arrays, ready for tables and plots.

A note on units: the pixels are grey values in [0, 1], not binarized, and the Bernoulli
(cross-entropy) term treats them as probabilities, as the Keras VAE example does. Numbers are
therefore comparable between the models of this kit, but not with papers that report on
binarized MNIST (around 80 to 90 nats).
"""

from __future__ import annotations

import math

import numpy as np

from labkit.backend import keras, tf
from labkit.config import BATCH_SIZE, NUM_CLASSES
from labkit.data import one_hot
from labkit.models import encoder_and_decoder, latent_size

__all__ = [
    "ACTIVE_UNIT_THRESHOLD",
    "active_units",
    "decode",
    "encode",
    "evaluate_autoencoder",
    "evaluate_vae",
    "interpolate",
    "iwae_negative_log_likelihood",
    "nearest_neighbour_accuracy",
    "reconstruct",
    "reconstruction_errors",
    "sample_images",
]

# Keras clips probabilities to [1e-7, 1 - 1e-7] in binary_crossentropy; we do the same so that
# our numbers agree with the training loss.
_PROBABILITY_EPSILON = 1e-7
_LOG_2PI = math.log(2.0 * math.pi)
DEFAULT_IMPORTANCE_SAMPLES = 100
ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. (2016): Cov_x(E_q[z_j]) above this counts as active
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
    """What ``submodel`` takes: ``first`` alone, or ``[first, one_hot(labels)]`` when it also
    takes the digit (the encoder or decoder of a conditional VAE, notebook 07).

    Raises:
        ValueError: A conditional sub-model is given no labels, or a plain one is given labels,
            or there are not as many labels as rows of ``first``.
    """
    conditional = len(submodel.inputs) == 2
    if conditional and labels is None:
        raise ValueError(
            f"the {submodel.name} of this model also takes the digit: pass labels=, one digit "
            "(0 to 9) per row, or a single digit for all."
        )
    if not conditional:
        if labels is not None:
            raise ValueError(
                f"the {submodel.name} of this model takes no labels (it is not conditional): "
                "leave labels= out."
            )
        return first
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
    """Run a sub-model on ``inputs`` (an array, or a list of arrays) in batches; returns one
    array per model output.

    Direct calls rather than ``predict``: no progress bar, no tf.function retracing for each
    new model or batch shape, and a few milliseconds for a single image (widgets need that).
    """
    parts = inputs if isinstance(inputs, list) else [inputs]
    chunks = []
    for start in range(0, len(parts[0]), batch_size):
        batch = [part[start : start + batch_size] for part in parts]
        chunks.append(submodel(batch if len(batch) > 1 else batch[0], training=False))
    if isinstance(chunks[0], list | tuple):
        return [np.concatenate([np.asarray(c[i]) for c in chunks]) for i in range(len(chunks[0]))]
    return [np.concatenate([np.asarray(chunk) for chunk in chunks])]


def encode(model: keras.Model, images: np.ndarray, batch_size: int = BATCH_SIZE, *, labels=None):
    """Latent codes of ``images``: the code of an autoencoder, ``z_mean`` of a VAE.

    Args:
        model: A model from :func:`labkit.build_autoencoder` or :func:`labkit.build_vae`, or
            any model with an encoder and a decoder (:func:`labkit.encoder_and_decoder`).
        images: Shape ``(n, 784)``, values in [0, 1].
        labels: The images' digits, for a conditional VAE only (its encoder takes
            ``[images, one-hot labels]``); a single digit stands for every image.

    Returns:
        ``float32`` array of shape ``(n, latent_dim)``.
    """
    images = _check_images(model, images)
    encoder = encoder_and_decoder(model)[0]
    # A VAE's encoder returns [z_mean, z_log_var, z]: its first output is the code.
    return _batched_call(encoder, conditional_inputs(encoder, images, labels), batch_size)[0]


def decode(model: keras.Model, latents: np.ndarray, batch_size: int = BATCH_SIZE, *, labels=None):
    """Decode latent points into images.

    Args:
        model: An autoencoder or a VAE.
        latents: Shape ``(n, latent_dim)``.
        labels: The digit to draw for each point, for a conditional VAE only (its decoder
            takes ``[z, one-hot labels]``); a single digit stands for every point.

    Returns:
        ``float32`` array of shape ``(n, 784)``, pixel values in [0, 1].

    Raises:
        ValueError: ``latents`` does not have shape ``(n, model.latent_dim)``, or ``labels``
            are missing for a conditional model (or given to a plain one).
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
    """``decode(encode(images))``: a VAE reconstructs from ``z_mean``, without sampling noise.

    ``labels`` are the images' digits, for a conditional VAE only (as in :func:`encode`).
    """
    codes = encode(model, images, batch_size, labels=labels)
    return decode(model, codes, batch_size, labels=labels)


def reconstruction_errors(images: np.ndarray, reconstructions: np.ndarray) -> dict[str, float]:
    """Two measures of how far reconstructions are from the originals, averaged over images.

    Returns:
        ``reconstruction_mse``: mean squared error per pixel (what the autoencoder minimises);
        ``reconstruction_bce``: binary cross-entropy summed over pixels, in nats per image (the
        VAE's reconstruction term).
    """
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
    return {
        "reconstruction_mse": float(np.mean((images - probabilities) ** 2)),
        "reconstruction_bce": float(-np.mean(_bernoulli_log_likelihood(images, probabilities))),
    }


def _bernoulli_log_likelihood(images: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """log p(x | probabilities) of independent Bernoulli pixels, summed over the last axis.

    ``probabilities`` must already be clipped away from 0 and 1.
    """
    return np.sum(images * np.log(probabilities) + (1 - images) * np.log1p(-probabilities), axis=-1)


def _log_normal(values: np.ndarray, mean: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """log N(values; mean, exp(log_var)) of diagonal Gaussians, summed over the last axis."""
    return -0.5 * np.sum(_LOG_2PI + log_var + (values - mean) ** 2 / np.exp(log_var), axis=-1)


def iwae_negative_log_likelihood(
    vae: keras.Model,
    images: np.ndarray,
    num_samples: int = DEFAULT_IMPORTANCE_SAMPLES,
    *,
    labels=None,
    batch_size: int = 100,
    seed: int = IWAE_SEED,
) -> float:
    """Importance-weighted estimate of -log p(x), in nats per image (Burda et al., 2016).

    For each image, draws ``num_samples`` latents z_i from q(z|x) and computes
    ``-log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)``. With one sample this is the negative ELBO
    (one-sample estimate); the bound tightens (the number falls) as ``num_samples`` grows.
    For a conditional VAE, given the digits y, it estimates -log p(x | y) the same way, with
    q(z | x, y) and p(x | z, y).

    Args:
        vae: A trained VAE.
        images: Shape ``(n, 784)``, values in [0, 1].
        num_samples: Importance samples k per image.
        labels: The images' digits, for a conditional VAE only (as in :func:`encode`).
        batch_size: Images per decoder call (each call decodes ``batch_size * k`` latents).
        seed: Seed of the noise, so the estimate is reproducible.

    Returns:
        The mean over images, in nats.
    """
    images = _check_images(vae, images)
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer. Received: {num_samples!r}.")
    rng = np.random.default_rng(seed)
    encoder, decoder = encoder_and_decoder(vae)
    encoder_inputs = conditional_inputs(encoder, images, labels)
    one_hots = encoder_inputs[1] if isinstance(encoder_inputs, list) else None
    z_mean, z_log_var, _ = _batched_call(encoder, encoder_inputs, BATCH_SIZE)
    z_mean, z_log_var = np.asarray(z_mean, np.float64), np.asarray(z_log_var, np.float64)

    # log p(x | z_i) of every sample in one compiled program: decoding k * b codes and summing
    # 784 log-probabilities each is most of the work. Float32 sums of 784 terms are exact to
    # about 1e-4 nats; the weights below are combined in float64. XLA compiles it unless the
    # model was compiled without XLA: on a CPU, XLA's convolutions are slower than
    # TensorFlow's own (notebook 06).
    @tf.function(jit_compile=getattr(vae, "jit_compile", True) is not False, reduce_retracing=True)
    def log_likelihoods(codes, batch_images, batch_labels):
        # The codes are sample-major (row i * b + j is image j's sample i): the b labels are
        # repeated k times in the same order.
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
    threshold: float = ACTIVE_UNIT_THRESHOLD,
    *,
    labels=None,
) -> int:
    """How many latent dimensions the VAE uses (Burda et al., 2016).

    A dimension j is active when the variance of ``z_mean_j`` across images exceeds
    ``threshold``: an inactive one gives every image nearly the same ``z_mean`` (that alone does
    not say its q equals the prior). ``labels`` as in :func:`encode`, for a conditional VAE.
    """
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
    """Test-set measures of a VAE, in nats per image unless the name says otherwise.

    A conditional VAE (notebook 07) needs the images' digits, ``labels``: its measures are then
    conditional on them (``negative_elbo`` bounds -log p(x | y), and ``iwae_nll`` estimates it).

    Returns:
        A dict with ``negative_elbo`` (= ``reconstruction_loss`` + ``kl_loss``, with beta=1
        whatever beta the model was trained with), ``reconstruction_loss``, ``kl_loss``,
        ``bits_per_dim`` (negative ELBO / (784 ln 2)), ``iwae_nll`` (importance-weighted
        -log p(x) with ``num_importance_samples`` samples, at most the negative ELBO up to
        sampling noise), ``active_units``, and the reconstruction errors of
        :func:`reconstruction_errors` (decoding ``z_mean``). ``iwae_images`` is how many
        images the IWAE estimate used: the first ``iwae_images`` given (all by default), since
        it decodes ``num_importance_samples`` codes per image, which is slow for a
        convolutional decoder; the other measures use every image.
    """
    images = _check_images(vae, images)
    if iwae_images is None:
        iwae_images = len(images)
    if isinstance(iwae_images, bool) or not isinstance(iwae_images, int) or iwae_images < 1:
        raise ValueError(f"iwae_images must be a positive integer. Received: {iwae_images!r}.")
    iwae_images = min(iwae_images, len(images))
    # The model's input: the images, or the pair (images, one-hot labels) of a conditional VAE.
    # Missing or unwanted labels stop here, before any work, with conditional_inputs' message.
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
    """Test-set reconstruction errors of an autoencoder (see :func:`reconstruction_errors`)."""
    images = _check_images(autoencoder, images)
    return reconstruction_errors(images, reconstruct(autoencoder, images, batch_size))


def sample_images(
    model: keras.Model,
    num_images: int,
    *,
    seed: int,
    fitted_latents: np.ndarray | None = None,
) -> np.ndarray:
    """Generate new digits by decoding random latent points.

    A VAE is sampled from its prior N(0, I). An autoencoder has no prior, so pass the codes of
    its training images as ``fitted_latents``: points are then drawn from a Gaussian with their
    mean and covariance, which gives it the fairest chance.

    Args:
        model: An autoencoder or a VAE.
        num_images: How many images to generate.
        seed: Seed of the draws.
        fitted_latents: Optional codes ``(n, latent_dim)`` to fit the Gaussian to.

    Returns:
        ``float32`` array of shape ``(num_images, 784)``, values in [0, 1].
    """
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


def interpolate(
    model: keras.Model, start_image: np.ndarray, end_image: np.ndarray, num_steps: int
) -> np.ndarray:
    """Decode evenly spaced points on the straight line between two images' latent codes.

    Returns:
        ``float32`` array of shape ``(num_steps, 784)``: the first row decodes the start image's
        code, the last row the end image's.
    """
    if num_steps < 2:
        raise ValueError(f"num_steps must be at least 2. Received: num_steps={num_steps}.")
    codes = encode(model, np.stack([np.ravel(start_image), np.ravel(end_image)]))
    weights = np.linspace(0.0, 1.0, num_steps)[:, None]
    return decode(model, (1 - weights) * codes[0] + weights * codes[1])


def nearest_neighbour_accuracy(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    *,
    num_neighbours: int = 10,
    batch_size: int = 500,
) -> float:
    """How well the codes tell the digits apart: the accuracy of a k-nearest-neighbour vote.

    Each test code gets the digit most common among its ``num_neighbours`` nearest training
    codes (Euclidean distance; a tie goes to the smaller digit). Near 1: codes of the same digit
    lie together. Near 0.1 (chance among ten digits): the codes carry almost nothing of the
    digit, as a conditional VAE's should, since it is given the digit.

    Args:
        train_codes: ``(n, d)`` codes whose labels vote, for example of the training images.
        train_labels: Their digits, ``(n,)``.
        test_codes: ``(m, d)`` codes to classify, for example of the test images.
        test_labels: Their true digits, ``(m,)``.
        num_neighbours: k, how many neighbours vote.
        batch_size: Test codes compared with all training codes at once (memory: about
            ``batch_size * n`` floats).

    Returns:
        The fraction of test codes whose vote gives their true digit, in [0, 1].

    Raises:
        ValueError: Shapes that do not match, or k not between 1 and the number of training codes.
    """
    train_codes = np.asarray(train_codes, dtype=np.float32)
    test_codes = np.asarray(test_codes, dtype=np.float32)
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    if train_codes.ndim != 2 or test_codes.ndim != 2 or train_codes.shape[1] != test_codes.shape[1]:
        raise ValueError(
            "train_codes and test_codes must have shapes (n, d) and (m, d) with the same d. "
            f"Received: {train_codes.shape} and {test_codes.shape}."
        )
    if train_labels.shape != (len(train_codes),) or test_labels.shape != (len(test_codes),):
        raise ValueError(
            "pass one label per code: "
            f"{len(train_codes)} training codes and {train_labels.shape} labels, "
            f"{len(test_codes)} test codes and {test_labels.shape} labels."
        )
    if isinstance(num_neighbours, bool) or not 1 <= num_neighbours <= len(train_codes):
        raise ValueError(
            f"num_neighbours must be between 1 and {len(train_codes)} (the training codes). "
            f"Received: {num_neighbours!r}."
        )
    train_squares = np.sum(train_codes**2, axis=1)
    correct = 0
    for start in range(0, len(test_codes), batch_size):
        batch = test_codes[start : start + batch_size]
        # |a - b|^2 = |a|^2 - 2 a.b + |b|^2; |a|^2 is the same for every neighbour of a.
        distances = train_squares[None, :] - 2.0 * batch @ train_codes.T
        nearest = np.argpartition(distances, num_neighbours - 1, axis=1)[:, :num_neighbours]
        votes = np.zeros((len(batch), NUM_CLASSES), dtype=np.int64)
        np.add.at(votes, (np.arange(len(batch))[:, None], train_labels[nearest]), 1)
        correct += int(np.sum(np.argmax(votes, axis=1) == test_labels[start : start + batch_size]))
    return correct / len(test_codes)
