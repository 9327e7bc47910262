"""Lab 03's checks: ``sampling`` (``Sampling.call``), ``vae_loss`` (``compute_losses``) and
``test_step``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from labkit.checks import (
    STANDARD_ERRORS,
    Answers,
    Inputs,
    Verdict,
    _close,
    _exercise,
    _first,
    _message,
    _numpy,
)

SAMPLING_DRAWS = 20_000  # draws per latent dimension for the mean and variance checks


def _draw_sampling(rng: np.random.Generator, hidden: bool) -> Inputs:
    latent_dim = 5 if hidden else 3
    # |log-variance| near 1.2, where the variances the mistakes give (sigma^4, sigma,
    # log_var^2, 1) all differ from sigma^2 and from each other by more than 15%.
    log_var = rng.uniform(1.15, 1.25, latent_dim) * rng.choice([-1.0, 1.0], latent_dim)
    mean = rng.uniform(-2, 2, latent_dim)
    rows = 32
    return {
        "mean": mean,
        "log_var": log_var,
        "z_mean": np.tile(mean, (SAMPLING_DRAWS, 1)).astype(np.float32),
        "z_log_var": np.tile(log_var, (SAMPLING_DRAWS, 1)).astype(np.float32),
        "gradient_mean": rng.normal(size=(rows, latent_dim)).astype(np.float32),
        "gradient_log_var": rng.uniform(-1.5, 1.5, (rows, latent_dim)).astype(np.float32),
    }


def _run_sampling(inputs: Inputs, sampling_class) -> Answers:
    from labkit.backend import tf

    layer = sampling_class()
    pair = [inputs["z_mean"], inputs["z_log_var"]]
    answers = {
        "training": [_numpy(layer(pair, training=True)) for _ in range(2)],
        "evaluation": [_numpy(layer(pair, training=False)) for _ in range(2)],
    }
    z_mean = tf.constant(inputs["gradient_mean"])
    z_log_var = tf.constant(inputs["gradient_log_var"])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([z_mean, z_log_var])
        z = layer([z_mean, z_log_var], training=True)
        total = tf.reduce_sum(z)
    gradients = tape.gradient(total, [z_mean, z_log_var])
    answers["z"] = _numpy(z)
    answers["gradients"] = [None if g is None else _numpy(g) for g in gradients]
    # As fit() runs it: compiled once for batches of any size, then called twice.
    spec = tf.TensorSpec([None, inputs["z_mean"].shape[1]], "float32")
    compiled = tf.function(lambda a, b: layer([a, b], training=True), input_signature=[spec] * 2)
    try:
        answers["compiled"] = [_numpy(compiled(*pair)) for _ in range(2)]
    except Exception as error:  # NumPy on symbolic tensors, or a fixed batch size
        answers["compiled"] = None
        answers["compiled_error"] = f"{type(error).__name__}: {_message(error)}"
    return answers


def _noise_is_standard_normal(noise: np.ndarray) -> dict:
    """Whether noise (draws x dimensions) looks like independent N(0, 1) draws: its skewness and
    kurtosis, and its correlations between dimensions, between one row and the next, and between
    the first and the second half of the rows, each within STANDARD_ERRORS standard errors."""
    n, bound = len(noise), STANDARD_ERRORS / np.sqrt(len(noise))
    standard = (noise - noise.mean(axis=0)) / noise.std(axis=0)
    half = n // 2
    between = np.corrcoef(standard, rowvar=False)[np.triu_indices(noise.shape[1], 1)]
    return {
        "normal": bool(
            np.all(np.abs((standard**3).mean(axis=0)) <= STANDARD_ERRORS * np.sqrt(6 / n))
            and np.all(np.abs((standard**4).mean(axis=0) - 3) <= STANDARD_ERRORS * np.sqrt(24 / n))
        ),
        "dimensions": bool(np.all(np.abs(between) <= bound)),
        "rows": bool(
            np.all(np.abs((standard[1:] * standard[:-1]).mean(axis=0)) <= bound)
            and np.all(
                np.abs((standard[:half] * standard[half : 2 * half]).mean(axis=0))
                <= STANDARD_ERRORS / np.sqrt(half)
            )
        ),
    }


def _variance_ratio_is(variance: np.ndarray, expected: np.ndarray) -> bool:
    # Within 15%: far from a correct layer's 1 +- 6% and from the other mistakes.
    return bool(np.all(np.abs(variance / np.maximum(expected, 1e-12) - 1) < 0.15))


@_exercise("sampling", _draw_sampling, _run_sampling)
def _judge_sampling(inputs: Inputs, answers: Answers) -> Verdict:
    mean, log_var = inputs["mean"], inputs["log_var"]
    sigma, shape = np.exp(0.5 * log_var), inputs["z_mean"].shape
    first, second = answers["training"]
    evaluation = answers["evaluation"]
    shaped = first.shape == shape and bool(np.all(np.isfinite(first)))
    draws_mean = first.mean(axis=0) if shaped else np.full_like(mean, np.nan)
    draws_var = first.var(axis=0, ddof=1) if shaped else np.full_like(mean, np.nan)
    standard_error = sigma / np.sqrt(SAMPLING_DRAWS)
    variance_error = np.sqrt(2 / (SAMPLING_DRAWS - 1))
    evaluation_shaped = all(e.shape == shape for e in evaluation)
    gradient_mean, gradient_log_var = answers["gradients"]
    z, z_mean = answers["z"], inputs["gradient_mean"]
    sigma_epsilon = z - z_mean  # = sigma * epsilon for a correct layer
    compiled = answers["compiled"]
    compiled_error = answers.get("compiled_error")
    fresh_when_compiled = compiled is not None and not np.allclose(*compiled)
    if shaped and draws_var.min() > 0:
        noise = _noise_is_standard_normal((first - mean) / sigma)
    else:
        noise = {"normal": False, "dimensions": False, "rows": False}
    checks = {
        "one code per row, the shape of z_mean, all finite": shaped,
        f"the mean of {SAMPLING_DRAWS:,} draws is z_mean (within {STANDARD_ERRORS} standard "
        "errors)": bool(np.all(np.abs(draws_mean - mean) <= STANDARD_ERRORS * standard_error)),
        f"the variance of {SAMPLING_DRAWS:,} draws is exp(z_log_var) (within "
        f"{STANDARD_ERRORS} standard errors)": bool(
            np.all(np.abs(draws_var / sigma**2 - 1) <= STANDARD_ERRORS * variance_error)
        ),
        "the noise is standard normal, independent across rows and dimensions": all(noise.values()),
        "new noise on every training call, also when compiled as fit() compiles it": shaped
        and second.shape == shape
        and not np.allclose(first, second)
        and fresh_when_compiled,
        "the same noise on every evaluation call (training=False)": evaluation_shaped
        and bool(np.array_equal(evaluation[0], evaluation[1])),
        "evaluation draws have the same mean and spread": evaluation_shaped
        and bool(
            np.all(np.abs(evaluation[0].mean(axis=0) - mean) <= STANDARD_ERRORS * standard_error)
        )
        and _variance_ratio_is(evaluation[0].var(axis=0, ddof=1), sigma**2),
        "gradient of z with respect to z_mean is 1": gradient_mean is not None
        and _close(gradient_mean, np.ones_like(z_mean)),
        "gradient with respect to z_log_var is sigma * epsilon / 2": gradient_log_var is not None
        and _close(gradient_log_var, 0.5 * sigma_epsilon),
    }
    spread = draws_var if shaped else np.zeros_like(mean)
    no_gradient = gradient_mean is None or gradient_log_var is None
    return _first(
        checks,
        [
            (
                shaped is False and first.shape == shape,
                "Your codes hold NaN or infinite values: "
                "z_log_var can be negative, so take exp(0.5 * z_log_var), not a square root.",
            ),
            (
                not shaped,
                f"Your layer returned shape {first.shape}; z must have z_mean's shape "
                f"{shape}: one code per image.",
            ),
            (
                _variance_ratio_is(spread, sigma**4),
                "Your samples' variance is sigma^4 = "
                "exp(2 * z_log_var): you scaled the noise by the variance exp(z_log_var). Scale it "
                "by the standard deviation exp(0.5 * z_log_var).",
            ),
            (
                _variance_ratio_is(spread, log_var**2),
                "You scaled the noise by z_log_var itself, "
                "which is a log-variance: scale it by the standard deviation exp(0.5 * z_log_var).",
            ),
            (
                _variance_ratio_is(spread, sigma),
                "Your samples' variance is sigma = "
                "exp(0.5 * z_log_var): that is the standard deviation, so the noise was scaled by "
                "its square root. Use z_mean + exp(0.5 * z_log_var) * epsilon.",
            ),
            (
                _variance_ratio_is(spread, np.ones_like(sigma)),
                "Your samples' variance is 1 "
                "whatever z_log_var says: multiply the noise by exp(0.5 * z_log_var).",
            ),
            (
                bool(np.all(spread < 1e-6 * sigma**2)),
                "Your codes have no spread: add the noise, "
                "z = z_mean + exp(0.5 * z_log_var) * epsilon, with epsilon ~ N(0, I).",
            ),
            (
                bool(np.all(np.abs(draws_mean) <= STANDARD_ERRORS * standard_error))
                and not np.allclose(mean, 0),
                "Your codes are centred on 0, not on z_mean: add z_mean to the scaled noise.",
            ),
            (
                shaped and second.shape == shape and np.allclose(first, second),
                "Your layer gave "
                "the same noise on two training calls: draw epsilon inside call with "
                "keras.random.normal(ops.shape(z_mean), seed=self.seed_generator), not once in "
                "NumPy or in __init__.",
            ),
            (
                compiled_error is not None,
                f"Your layer fails when compiled as fit() compiles it ({compiled_error}): compute "
                "z with keras.ops and keras.random on the inputs, not NumPy, and take the shape "
                "with ops.shape(z_mean) (the batch size is unknown then).",
            ),
            (
                compiled is not None and np.allclose(*compiled),
                "Compiled as fit() compiles it, your layer gave the same noise on two calls: "
                "NumPy's random numbers are drawn once, when TensorFlow traces the function. "
                "Draw epsilon with keras.random.normal(..., seed=self.seed_generator).",
            ),
            (
                not noise["rows"],
                "Your noise is not independent from one row to the next (sorted, mirrored or "
                "reused?): draw a new keras.random.normal value for every row.",
            ),
            (
                not noise["dimensions"],
                "Your noise is the same, or correlated, across the latent dimensions of a row: "
                "draw epsilon with z_mean's whole shape, keras.random.normal(ops.shape(z_mean)).",
            ),
            (
                not noise["normal"],
                "Your noise has variance 1 but is not normal (uniform, or +-1?): draw it with "
                "keras.random.normal.",
            ),
            (
                evaluation_shaped and not np.array_equal(*evaluation),
                "Two evaluation calls gave "
                "different codes: when training is False, draw the noise with the fixed seed "
                "labkit.EVALUATION_SEED, so the same weights always get the same validation loss.",
            ),
            (
                evaluation_shaped and bool(np.allclose(evaluation[0], inputs["z_mean"])),
                "When "
                "training is False your layer returns z_mean: it should still sample (with the "
                "fixed seed labkit.EVALUATION_SEED), so the validation loss is the training loss.",
            ),
            (
                no_gradient,
                "No gradient reaches z_mean or z_log_var: compute z with keras.ops on "
                "the layer's inputs (not NumPy, not a converted copy), so training can move them.",
            ),
        ],
        "Compute z = z_mean + exp(0.5 * z_log_var) * epsilon, epsilon from keras.random.normal.",
    )


# --- Lab 03: the VAE's loss (compute_losses) -------------------------------------------------


def _draw_loss(rng: np.random.Generator, hidden: bool) -> Inputs:
    num_images, latent_dim, num_pixels = (10, 5, 784) if hidden else (6, 3, 784)
    images = rng.random((num_images, num_pixels))
    images[rng.random(images.shape) < 0.6] = 0.0  # mostly background, as MNIST
    images[rng.random(images.shape) < 0.1] = 1.0
    return {
        "images": images.astype(np.float32),
        # The stand-in encoder: z_mean, z_log_var and the noise are linear in the pixels.
        "to_mean": rng.normal(0, 0.1, (num_pixels, latent_dim)).astype(np.float32),
        "to_log_var": rng.normal(0, 0.05, (num_pixels, latent_dim)).astype(np.float32),
        "to_noise": rng.normal(0, 0.1, (num_pixels, latent_dim)).astype(np.float32),
        # The stand-in decoder: pixel probabilities sigmoid(z @ weights + bias), with logits of
        # about unit size, so that no probability rounds to 0 or 1 in float32.
        "weights": rng.normal(0, 0.5 / np.sqrt(latent_dim), (latent_dim, num_pixels)).astype(
            np.float32
        ),
        "bias": rng.normal(0, 0.5, num_pixels).astype(np.float32),
    }


def _stand_ins(inputs: Inputs) -> tuple:
    """An encoder and a decoder whose outputs the check can compute by hand.

    Their matrices are weights, so that the loss's gradients can be compared, and each keeps the
    ``training`` flag of every call in ``trainings``.
    """
    from labkit.backend import keras

    ops = keras.ops

    class StandIn(keras.layers.Layer):
        def __init__(self, names: tuple, **kwargs) -> None:
            super().__init__(**kwargs)
            self.trainings = []
            for name in names:
                weight = self.add_weight(shape=inputs[name].shape, initializer="zeros", name=name)
                weight.assign(inputs[name])
                setattr(self, name, weight)

    class StandInEncoder(StandIn):
        def call(self, images, training=None):
            self.trainings.append(training)
            z_mean = ops.matmul(images, self.to_mean)
            z_log_var = ops.matmul(images, self.to_log_var)
            noise = ops.matmul(images, self.to_noise)
            return [z_mean, z_log_var, z_mean + ops.exp(0.5 * z_log_var) * noise]

    class StandInDecoder(StandIn):
        def call(self, z, training=None):
            self.trainings.append(training)
            return ops.sigmoid(ops.matmul(z, self.weights_) + self.bias_)

    encoder = StandInEncoder(("to_mean", "to_log_var", "to_noise"), name="encoder")
    decoder = StandInDecoder((), name="decoder")
    for name in ("weights", "bias"):  # Layer has a `weights` property: stored as weights_, bias_
        weight = decoder.add_weight(shape=inputs[name].shape, initializer="zeros", name=name)
        weight.assign(inputs[name])
        setattr(decoder, f"{name}_", weight)
    return encoder, decoder


def _elbo(encoder, decoder, images, beta: float = 1.0, terms: str = "both"):
    """The reference loss in Keras, for the gradients: ``terms`` is "both", "reconstruction" or
    "kl" (the gradient a loss would have with the other term cut off)."""
    from labkit.backend import keras

    ops = keras.ops
    z_mean, z_log_var, z = encoder(images, training=True)
    reconstruction = ops.mean(
        ops.sum(ops.binary_crossentropy(images, decoder(z, training=True)), axis=-1)
    )
    kl = ops.mean(-0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1))
    return {"both": reconstruction + beta * kl, "reconstruction": reconstruction, "kl": beta * kl}[
        terms
    ]


def _gradients(encoder, decoder, loss) -> list:
    """The gradients of ``loss()`` with respect to the stand-ins' weights (None where none)."""
    from labkit.backend import tf

    variables = [*encoder.trainable_variables, *decoder.trainable_variables]
    with tf.GradientTape() as tape:
        value = loss()
    return [None if g is None else _numpy(g) for g in tape.gradient(value, variables)]


def _training_answers(inputs: Inputs, make_model, beta: float = 1.0) -> Answers:
    """A model's losses and gradients with ``training=True``, the flags its encoder and decoder
    got, and the reference gradients (the ELBO's, and each term's alone)."""
    from labkit.backend import keras

    ops = keras.ops
    encoder, decoder = _stand_ins(inputs)
    model = make_model(encoder, decoder)
    images = inputs["images"]
    found = {}

    def loss():
        result = model.compute_losses(images, training=True)
        found.update(_losses(result))
        return result["loss"] if "loss" in result else 0.0 * ops.sum(images)

    gradients = _gradients(encoder, decoder, loss)
    flags = {"encoder": encoder.trainings[-1:], "decoder": decoder.trainings[-1:]}
    reference = {
        terms: _gradients(
            encoder, decoder, lambda t=terms: _elbo(encoder, decoder, images, beta, t)
        )
        for terms in ("both", "reconstruction", "kl")
    }
    return {"losses": found, "gradients": gradients, "flags": flags, "reference": reference}


def _same_gradients(found: list, expected: list) -> bool:
    return all(
        f is not None and np.allclose(f, e, rtol=1e-3, atol=1e-4 * np.abs(e).max() + 1e-8)
        for f, e in zip(found, expected, strict=True)
    )


LOSS_NAMES = ("loss", "reconstruction_loss", "kl_loss")


def _losses(losses) -> dict:
    if not isinstance(losses, Mapping):
        raise TypeError(f"compute_losses must return a dict; it returned {type(losses).__name__}")
    return {name: float(_numpy(losses[name])) for name in LOSS_NAMES if name in losses}


def _run_loss(inputs: Inputs, vae_class) -> Answers:
    encoder, decoder = _stand_ins(inputs)
    model = vae_class(encoder, decoder)
    images = inputs["images"]
    return {
        "batch": _losses(model.compute_losses(images)),
        "each": [_losses(model.compute_losses(images[i : i + 1])) for i in range(len(images))],
        "training": _training_answers(inputs, vae_class),
    }


def _reference_losses(inputs: Inputs) -> dict:
    """Per-image cross-entropy (from z, and from z_mean) and KL, in float64."""
    images = inputs["images"].astype(np.float64)
    z_mean = images @ inputs["to_mean"]
    z_log_var = images @ inputs["to_log_var"]
    z = z_mean + np.exp(0.5 * z_log_var) * (images @ inputs["to_noise"])

    def cross_entropy(code):
        logits = code @ inputs["weights"].astype(np.float64) + inputs["bias"]
        # The decoder's float32 probabilities, clipped in float32 as Keras's cross-entropy
        # does: a probability that rounds to 1 costs the same there and here.
        p = (1 / (1 + np.exp(-logits))).astype(np.float32)
        p = np.clip(p, np.float32(1e-7), np.float32(1 - 1e-7)).astype(np.float64)
        return -np.sum(images * np.log(p) + (1 - images) * np.log(1 - p), axis=1), p

    reconstruction, probabilities = cross_entropy(z)
    return {
        "reconstruction": reconstruction,
        "from_z_mean": cross_entropy(z_mean)[0],
        "squared_error": np.sum((images - probabilities) ** 2, axis=1),
        "kl": 0.5 * np.sum(z_mean**2 + np.exp(z_log_var) - 1 - z_log_var, axis=1),
        "latent_dim": z.shape[1],
    }


@_exercise("vae_loss", _draw_loss, _run_loss)
def _judge_loss(inputs: Inputs, answers: Answers) -> Verdict:
    reference = _reference_losses(inputs)
    batch, each = answers["batch"], answers["each"]
    named = all(set(LOSS_NAMES) <= set(losses) for losses in [batch, *each])

    def per_image(name: str) -> np.ndarray:
        return np.array([losses.get(name, np.nan) for losses in each])

    reconstruction, kl = per_image("reconstruction_loss"), per_image("kl_loss")
    loss = per_image("loss")
    ref_reconstruction, ref_kl = reference["reconstruction"], reference["kl"]
    checks = {
        "returns loss, reconstruction_loss and kl_loss": named,
        "reconstruction_loss of each image: the cross-entropy summed over its pixels": _close(
            reconstruction, ref_reconstruction
        ),
        "kl_loss of each image: the closed-form KL, summed over latent dimensions": _close(
            kl, ref_kl
        ),
        "loss = reconstruction_loss + kl_loss": _close(loss, reconstruction + kl),
        "on a batch, each term is the mean over its images": named
        and _close(batch.get("reconstruction_loss"), ref_reconstruction.mean())
        and _close(batch.get("kl_loss"), ref_kl.mean())
        and _close(batch.get("loss"), (ref_reconstruction + ref_kl).mean()),
    }
    training_checks, training_mistakes = _judge_training(
        answers["training"], reference, "loss = reconstruction_loss + kl_loss", all(checks.values())
    )
    checks.update(training_checks)
    batch_kl = batch.get("kl_loss", np.nan)
    batch_reconstruction = batch.get("reconstruction_loss", np.nan)
    return _first(
        checks,
        [
            (
                not named,
                "Return a dict with the keys 'loss', 'reconstruction_loss' and "
                f"'kl_loss'; yours has {sorted(batch)}.",
            ),
            (
                _close(reconstruction, ref_reconstruction / 784),
                "Your reconstruction loss is "
                "the mean over the pixels, 784 times too small: sum the cross-entropy over the "
                "pixels, ops.sum(ops.binary_crossentropy(images, reconstruction), axis=-1).",
            ),
            (
                _close(reconstruction, reference["from_z_mean"]),
                "Your decoder reconstructed "
                "from z_mean: decode the sample z, so that the loss sees the encoder's noise "
                "(the one-sample estimate of the ELBO).",
            ),
            (
                _close(reconstruction, reference["squared_error"]),
                "Your reconstruction loss is "
                "a squared error: the Bernoulli decoder's loss is the binary cross-entropy.",
            ),
            (
                _close(kl, -ref_kl),
                "Your KL has the wrong sign: it is -0.5 * sum(1 + z_log_var "
                "- z_mean^2 - exp(z_log_var)), and never negative.",
            ),
            (
                _close(kl, ref_kl / reference["latent_dim"]),
                "Your KL is averaged over the latent "
                "dimensions: sum it over them (axis=-1), then average over the images.",
            ),
            (
                _close(loss, reconstruction) and not _close(kl, 0 * kl),
                "Your loss leaves the KL out: loss = reconstruction_loss + kl_loss.",
            ),
            (
                _close(kl, 0 * ref_kl),
                "Your kl_loss is 0: compute the closed-form KL of Step 2 "
                "from z_mean and z_log_var.",
            ),
            (
                _close(batch_reconstruction, ref_reconstruction.sum())
                or _close(batch_kl, ref_kl.sum()),
                "On a batch your losses are sums over the "
                "images: average them with ops.mean, so the loss is in nats per image.",
            ),
            *training_mistakes,
        ],
        "Follow the pseudo-code: cross-entropy summed over pixels plus the closed-form KL "
        "summed over latent dimensions, each averaged over the images.",
    )


def _judge_training(
    answers: Answers, reference: dict, fix: str, evaluated_right: bool, beta: float = 1.0
) -> tuple:
    """The checks of a loss computed with ``training=True`` (its values, the flags the encoder
    and the decoder got, its gradients) and the mistakes they recognise: Labs 03 and 05."""
    losses, flags, gradients = answers["losses"], answers["flags"], answers["gradients"]
    expected = {
        "reconstruction_loss": reference["reconstruction"].mean(),
        "kl_loss": reference["kl"].mean(),
        "loss": (reference["reconstruction"] + beta * reference["kl"]).mean(),
    }
    passed_on = flags["encoder"] == [True] and flags["decoder"] == [True]
    same = all(name in losses and _close(losses[name], expected[name]) for name in expected)
    right_gradients = _same_gradients(gradients, answers["reference"]["both"])
    checks = {
        "with training=True: the same losses, and training passed to the encoder and decoder": (
            passed_on and same
        ),
        "the loss's gradients reach the encoder and the decoder as the ELBO's do": right_gradients,
    }
    mistakes = [
        (
            not passed_on and bool(flags["encoder"]) and bool(flags["decoder"]),
            "Pass training=training to self.encoder and self.decoder: in fit() they otherwise "
            "get training=None, and the Sampling layer draws the same evaluation noise for "
            "every batch.",
        ),
        (
            evaluated_right and not same,
            "With training=True your losses differ from those with training=False on the same "
            f"network: compute the same loss whatever training is, {fix}.",
        ),
        (
            any(g is None for g in gradients),
            "No gradient reaches the encoder or the decoder: compute the losses with keras.ops on "
            "their outputs (no NumPy, no ops.stop_gradient).",
        ),
        (
            evaluated_right
            and same
            and _same_gradients(gradients, answers["reference"]["reconstruction"]),
            "Your loss has the right values, but its KL term passes no gradient (an "
            "ops.stop_gradient, or a value computed outside keras.ops): training would ignore "
            "the prior.",
        ),
        (
            evaluated_right and same and not right_gradients,
            "Your loss has the right values but not the ELBO's gradients: something cuts a path "
            "from the loss to the encoder or the decoder (ops.stop_gradient, a NumPy "
            "conversion, a constant). Compute every term with keras.ops on their outputs.",
        ),
    ]
    return checks, mistakes


# --- Lab 03: test_step ----------------------------------------------------------------------


def _draw_test_step(rng: np.random.Generator, hidden: bool) -> Inputs:
    images = rng.random((48 if hidden else 32, 784)).astype(np.float32)
    return {"images": images, "seed": int(rng.integers(2**31))}


def _run_test_step(inputs: Inputs, vae_class) -> Answers:
    import labkit
    from labkit.backend import keras

    ops = keras.ops
    reference = labkit.build_vae(latent_dim=2, hidden_dims=(16,), seed=inputs["seed"])
    weights = np.random.default_rng(inputs["seed"])
    reference.set_weights([weights.normal(0, 0.1, w.shape) for w in reference.get_weights()])
    # The kit's loss in place of the student's compute_losses: this check is test_step's alone.
    probe = type(vae_class.__name__, (vae_class,), {"compute_losses": _kit_losses})
    model = probe(reference.encoder, reference.decoder)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), jit_compile=False)
    model.optimizer.build(model.trainable_variables)
    images = inputs["images"]
    half = len(images) // 2
    before = [w.copy() for w in model.get_weights()]
    optimizer_before = [_numpy(v) for v in model.optimizer.variables]
    halves = [_losses(model.compute_losses(part)) for part in (images[:half], images[half:])]
    returned = model.test_step(ops.convert_to_tensor(images[:half]))
    if not isinstance(returned, Mapping) or not returned:
        raise TypeError(
            "test_step must return the trackers' results, a dict such as "
            f"self.update_trackers(losses); it returned {returned!r}"
        )
    batches = labkit.image_batches(images, half)  # two batches: val_loss is their mean
    evaluated = [model.evaluate(batches, verbose=0, return_dict=True) for _ in range(2)]
    after = model.get_weights()
    optimizer_after = [_numpy(v) for v in model.optimizer.variables]
    return {
        "expected": {name: np.mean([part.get(name) for part in halves]) for name in halves[0]},
        "evaluated": [{k: float(v) for k, v in e.items()} for e in evaluated],
        "unchanged": all(np.array_equal(b, a) for b, a in zip(before, after, strict=True)),
        "optimizer_unchanged": len(optimizer_before) == len(optimizer_after)
        and all(
            np.array_equal(b, a) for b, a in zip(optimizer_before, optimizer_after, strict=True)
        ),
    }


def _kit_losses(self, images, training=False) -> dict:
    """Lab 03's compute_losses as the instructor writes it (the test_step check's own)."""
    from labkit.backend import keras

    ops = keras.ops
    z_mean, z_log_var, z = self.encoder(images, training=training)
    reconstruction = self.decoder(z, training=training)
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


@_exercise("test_step", _draw_test_step, _run_test_step)
def _judge_test_step(inputs: Inputs, answers: Answers) -> Verdict:
    expected, (first, second) = answers["expected"], answers["evaluated"]
    reported = all(name in first for name in LOSS_NAMES)

    def matches(evaluated: dict) -> bool:
        return reported and all(
            _close(evaluated[name], expected[name], rtol=1e-5) for name in LOSS_NAMES
        )

    checks = {
        "evaluate reports loss, reconstruction_loss and kl_loss": reported,
        "no change to the weights or to the optimizer's state": answers["unchanged"]
        and answers["optimizer_unchanged"],
        "val_loss is the mean of compute_losses(training=False) over the batches, same weights": (
            answers["unchanged"] and matches(first)
        ),
        "the same number every time the same weights are evaluated": reported
        and all(_close(first[n], second[n], rtol=1e-6) for n in LOSS_NAMES),
    }
    return _first(
        checks,
        [
            (
                answers["unchanged"] and not answers["optimizer_unchanged"],
                "Your test_step changed the optimizer's state (its step count or moments), "
                "though not the weights: it must not call the optimizer at all. Return "
                "self.update_trackers(self.compute_losses(images, training=False)).",
            ),
            (
                not answers["unchanged"],
                "Your test_step changed the weights: it must not "
                "compute gradients or call the optimizer. Compute the losses and update the "
                "trackers only: return self.update_trackers(self.compute_losses(images)).",
            ),
            (
                not reported,
                f"evaluate reported {sorted(first)}: return the trackers' results, "
                "as train_step does (self.update_trackers(losses)).",
            ),
            (
                reported and all(first[n] == 0 for n in LOSS_NAMES),
                "evaluate reported 0: update "
                "the trackers with the losses (self.update_trackers(losses)).",
            ),
            (
                not checks["the same number every time the same weights are evaluated"],
                "Two "
                "evaluations of the same weights differ: call compute_losses with training=False, "
                "so the Sampling layer uses its fixed evaluation noise.",
            ),
        ],
        "test_step should return self.update_trackers(self.compute_losses(images)).",
    )
