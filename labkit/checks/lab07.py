"""Lab 07's check: the conditional VAE's inputs (``conditional_inputs``), on Lab 03's stand-ins.

The stand-ins here run through NumPy, so this check tests values only, not gradients: a
``stop_gradient`` on z or on the KL is Lab 03's check's job (its stand-ins are Keras weights and
it compares the loss's gradients), not this one's.
"""

from __future__ import annotations

import traceback

import numpy as np

from labkit.checks import (
    Answers,
    Inputs,
    Verdict,
    _close,
    _exercise,
    _first,
    _numpy,
)
from labkit.checks.lab03 import LOSS_NAMES, _draw_loss, _losses, _reference_losses

_NUM_CLASSES = 10  # the one-hot label's length
_IMAGE_PIXELS = 784
_LARGE_BATCH = 128  # the lab trains on batches of 128 to 250: an answer that drops a label there


def _draw_conditional(rng: np.random.Generator, hidden: bool) -> Inputs:
    inputs = _draw_loss(rng, hidden)  # Lab 03's images and stand-in weights: the label-free part
    num_images, num_pixels = inputs["images"].shape
    latent_dim = inputs["to_mean"].shape[1]
    digits = rng.permutation(_NUM_CLASSES)[:num_images]  # all different: a mix-up always shows
    # Each digit adds its own matrices to the encoder's and the decoder's, so every output
    # depends on the label, and the judge knows how.
    return {
        **inputs,
        "labels": np.eye(_NUM_CLASSES, dtype=np.float32)[digits],
        "label_to_mean": rng.normal(0, 0.1, (_NUM_CLASSES, num_pixels, latent_dim)),
        "label_to_log_var": rng.normal(0, 0.05, (_NUM_CLASSES, num_pixels, latent_dim)),
        "label_to_noise": rng.normal(0, 0.1, (_NUM_CLASSES, num_pixels, latent_dim)),
        "label_weights": rng.normal(
            0, 0.5 / np.sqrt(latent_dim), (_NUM_CLASSES, latent_dim, num_pixels)
        ),
        "label_bias": rng.normal(0, 0.5, (_NUM_CLASSES, num_pixels)),
        # A batch of the lab's size (labels repeat), drawn last so the small batch stays the same.
        **_draw_large_batch(rng),
    }


def _draw_large_batch(rng: np.random.Generator) -> Inputs:
    images = rng.random((_LARGE_BATCH, _IMAGE_PIXELS))
    images[rng.random(images.shape) < 0.6] = 0.0
    images[rng.random(images.shape) < 0.1] = 1.0
    digits = np.concatenate(
        [rng.permutation(_NUM_CLASSES), rng.integers(0, _NUM_CLASSES, _LARGE_BATCH - _NUM_CLASSES)]
    )
    return {
        "large_images": images.astype(np.float32),
        "large_labels": np.eye(_NUM_CLASSES, dtype=np.float32)[rng.permutation(digits)],
    }


def _for_label(inputs: Inputs, label) -> Inputs:
    """Lab 03's stand-in weights of one image whose one-hot label is ``label`` (or None)."""
    if label is None:
        return inputs
    weight = {
        name: np.tensordot(label, inputs[f"label_{name}"], axes=1).astype(np.float32)
        for name in ("to_mean", "to_log_var", "to_noise", "weights", "bias")
    }
    return {**inputs, **{name: inputs[name] + added for name, added in weight.items()}}


def _split(parts: list, width: int, num_images: int) -> tuple:
    """The first input (``width`` columns) and the one-hot label among what a stand-in got."""
    first = next((p[:, :width] for p in parts if p.ndim == 2 and p.shape[1] >= width), None)
    label = next((p for p in parts if p.shape == (num_images, _NUM_CLASSES)), None)
    joined = next((p for p in parts if p.ndim == 2 and p.shape[1] == width + _NUM_CLASSES), None)
    if label is None and joined is not None:
        label = joined[:, width:]
    return first, label


def _conditional_stand_ins(inputs: Inputs, log: list) -> tuple:
    """An encoder and a decoder that take ``[x, one-hot label]``, log what they got, and whose
    outputs (Lab 03's stand-ins, with weights that depend on the label) the judge recomputes."""
    from labkit.backend import keras

    latent_dim = inputs["to_mean"].shape[1]
    weights_of: dict = {}  # the weights of each label seen, so a batch of 128 stays fast

    def for_label(one_hot) -> Inputs:
        key = None if one_hot is None else np.asarray(one_hot).tobytes()
        if key not in weights_of:
            weights_of[key] = _for_label(inputs, one_hot)
        return weights_of[key]

    def parts_of(received) -> list:
        items = received if isinstance(received, list | tuple) else [received]
        return [_numpy(item) for item in items]

    def per_row(parts: list, first, label, step, width: int) -> np.ndarray:
        if first is None:  # nothing of the expected width: the judge names what was given
            return np.zeros((len(parts[0]), width))
        rows = [step(row, None if label is None else label[i]) for i, row in enumerate(first)]
        return np.array(rows).reshape(len(first), width)

    class StandInEncoder(keras.layers.Layer):
        def call(self, received, training=None):
            parts = parts_of(received)
            images, label = _split(parts, _IMAGE_PIXELS, len(parts[0]))

            def encode(image, one_hot):
                w = for_label(one_hot)
                z_mean, z_log_var = image @ w["to_mean"], image @ w["to_log_var"]
                return np.concatenate(
                    [z_mean, z_log_var, z_mean + np.exp(0.5 * z_log_var) * (image @ w["to_noise"])]
                )

            codes = per_row(parts, images, label, encode, 3 * latent_dim).reshape(-1, 3, latent_dim)
            outputs = [codes[:, j].astype(np.float32) for j in range(3)]
            log.append({"by": "encoder", "parts": parts, "training": training, "out": outputs})
            return [keras.ops.convert_to_tensor(o) for o in outputs]

    class StandInDecoder(keras.layers.Layer):
        def call(self, received, training=None):
            parts = parts_of(received)
            z, label = _split(parts, latent_dim, len(parts[0]))

            def decode(code, one_hot):
                w = for_label(one_hot)
                return 1 / (1 + np.exp(-(code @ w["weights"] + w["bias"])))

            probabilities = per_row(parts, z, label, decode, _IMAGE_PIXELS).astype(np.float32)
            log.append({"by": "decoder", "parts": parts, "training": training})
            return keras.ops.convert_to_tensor(probabilities)

    return StandInEncoder(name="encoder"), StandInDecoder(name="decoder")


def _attempt(log: list, action) -> dict:
    """Run one use of the student's class: its result (or error) and what the stand-ins got."""
    del log[:]
    try:
        result, error = action(), None
    except Exception as raised:  # judged with the log: a wrong input often raises later
        if isinstance(raised, NotImplementedError) or not log:
            raise  # the framework reports a stub, or code that fails before the networks
        frames = traceback.extract_tb(raised.__traceback__)
        frames = [f for f in frames if "-packages" not in f.filename]
        where = f" (line {frames[-1].lineno} of {frames[-1].name})" if frames else ""
        message = (str(raised).splitlines() or [""])[0][:200]
        result, error = None, f"{type(raised).__name__}: {message}{where}"
    return {"result": result, "error": error, "log": list(log)}


def _reference_reconstructions(inputs: Inputs, images=None, labels=None) -> np.ndarray:
    """What call should return: each image decoded from its own z with its own label."""
    images = inputs["images"] if images is None else images
    labels = inputs["labels"] if labels is None else labels
    rows = np.zeros(images.shape)
    for digit in range(_NUM_CLASSES):  # the images of one label at a time, in float64
        mine = labels[:, digit] == 1
        w = _for_label(inputs, np.eye(_NUM_CLASSES)[digit])
        x = images[mine].astype(np.float64)
        z_mean, z_log_var = x @ w["to_mean"], x @ w["to_log_var"]
        z = z_mean + np.exp(0.5 * z_log_var) * (x @ w["to_noise"])
        rows[mine] = 1 / (1 + np.exp(-(z @ w["weights"] + w["bias"])))
    return rows


def _reference_large(inputs: Inputs) -> dict:
    """The batch means of the losses on the large batch, each image with its own label."""
    images, labels = inputs["large_images"], inputs["large_labels"]
    reconstruction, kl = np.zeros(len(images)), np.zeros(len(images))
    for digit in range(_NUM_CLASSES):
        mine = labels[:, digit] == 1
        mine_inputs = {**_for_label(inputs, np.eye(_NUM_CLASSES)[digit]), "images": images[mine]}
        reference = _reference_losses(mine_inputs)
        reconstruction[mine], kl[mine] = reference["reconstruction"], reference["kl"]
    return {
        "reconstruction_loss": reconstruction.mean(),
        "kl_loss": kl.mean(),
        "loss": (reconstruction + kl).mean(),
    }


def _run_conditional(inputs: Inputs, vae_class) -> Answers:
    from labkit.backend import keras

    ops = keras.ops
    log: list = []
    model = vae_class(*_conditional_stand_ins(inputs, log))
    images, labels = inputs["images"], inputs["labels"]
    pair = (ops.convert_to_tensor(images), ops.convert_to_tensor(labels))
    batch = _attempt(log, lambda: _losses(model.compute_losses(pair, training=True)))

    def one(i: int) -> tuple:
        return tuple(ops.convert_to_tensor(a[i : i + 1]) for a in (images, labels))

    each = [
        _attempt(log, lambda i=i: _losses(model.compute_losses(one(i)))) for i in range(len(images))
    ]
    called = _attempt(log, lambda: _numpy(model(pair, training=False)))
    large = tuple(ops.convert_to_tensor(inputs[k]) for k in ("large_images", "large_labels"))
    return {
        "batch": batch,
        "each": each,
        "call": called,
        "large": _attempt(log, lambda: _losses(model.compute_losses(large, training=True))),
        "large_call": _attempt(log, lambda: _numpy(model(large, training=False))),
    }


def _fed(entries: list, by: str, expected: np.ndarray, labels: np.ndarray, z_mean=None) -> str:
    """What a stand-in got, in one word: 'ok' or the mistake (see _CONDITIONAL_ADVICE)."""
    entry = next((e for e in entries if e["by"] == by), None)
    if entry is None:
        return "not_called"
    parts, (num_images, width) = entry["parts"], expected.shape
    shapes = [p.shape for p in parts]
    if len(parts) == 1:
        if shapes[0] == (num_images, width):
            return "no_label"
        return "joined" if shapes[0] == (num_images, width + _NUM_CLASSES) else "wrong_first"
    if len(parts) != 2:
        return "wrong_first"
    if shapes == [(num_images, _NUM_CLASSES), (num_images, width)]:
        return "swapped"
    first, label = parts
    if not _close(first, expected):
        return "z_mean" if z_mean is not None and _close(first, z_mean) else "wrong_first"
    if label.shape != labels.shape:
        return "label_shape"
    return "ok" if np.array_equal(label, labels) else "other_labels"


def _inputs_fed(attempt: dict, images: np.ndarray, labels: np.ndarray) -> tuple[str, str]:
    """What the encoder and the decoder got in one attempt."""
    encoded = next((e for e in attempt["log"] if e["by"] == "encoder"), None)
    encoder = _fed(attempt["log"], "encoder", images, labels)
    if encoded is None:
        return encoder, "not_called"
    z_mean, _, z = encoded["out"]
    return encoder, _fed(attempt["log"], "decoder", z, labels, z_mean=z_mean)


_CONDITIONAL_ADVICE = {
    ("encoder", "no_label"): "Your {where} gives the encoder the images only: give it the list "
    "[images, labels], so that q(z | x, y) sees the digit.",
    ("encoder", "joined"): "Your {where} joins the images and the labels into one tensor: the "
    "encoder takes the list [images, labels] and joins them with its own Concatenate layer.",
    ("encoder", "swapped"): "Your {where} gives the encoder [labels, images]: the order is "
    "[images, labels], as its two inputs are declared (images, labels = inputs).",
    ("encoder", "label_shape"): "Your {where} gives the encoder labels of another shape than "
    "(batch, 10): the pair already holds one-hot rows (image_batches made them); pass them as "
    "they are, not as digits and not one-hot again.",
    ("encoder", "other_labels"): "Your {where} gives the encoder other labels than the images' "
    "own (rows in another order, or other values, such as labels dropped or zeroed while "
    "training): pass the labels of the pair unchanged.",
    ("encoder", "wrong_first"): "Your {where} gives the encoder something else than the images: "
    "its first input is the images of the pair, unchanged.",
    ("encoder", "not_called"): "Your {where} never calls self.encoder: encode the pair with "
    "self.encoder([images, labels], training=training).",
    ("decoder", "no_label"): "Your {where} gives the decoder z only: give it the list "
    "[z, labels], so that p(x | z, y) knows which digit to draw.",
    ("decoder", "joined"): "Your {where} joins z and the labels into one tensor: the decoder "
    "takes the list [z, labels] and joins them with its own Concatenate layer.",
    ("decoder", "swapped"): "Your {where} gives the decoder [labels, z]: the order is "
    "[z, labels], as its two inputs are declared.",
    ("decoder", "label_shape"): "Your {where} gives the decoder labels of another shape than "
    "(batch, 10): pass the pair's one-hot rows as they are.",
    ("decoder", "other_labels"): "Your {where} gives the decoder the labels of other images "
    "(shuffled, reversed or repeated rows, or other values, such as labels dropped or zeroed "
    "while training): give each code its own image's "
    "one-hot label, the labels of the pair unchanged.",
    ("decoder", "z_mean"): "Your {where} decodes z_mean: decode the sample z (the encoder's "
    "third output), as Lab 03's VAE does; the ELBO is estimated with a sample of q(z | x, y).",
    ("decoder", "wrong_first"): "Your {where} gives the decoder something else than z: its "
    "first input is z, the encoder's third output.",
    ("decoder", "not_called"): "Your {where} never calls self.decoder: decode with "
    "self.decoder([z, labels], training=training).",
}


@_exercise("conditional_inputs", _draw_conditional, _run_conditional)
def _judge_conditional(inputs: Inputs, answers: Answers) -> Verdict:
    images, labels = inputs["images"], inputs["labels"]
    batch, each, called = answers["batch"], answers["each"], answers["call"]
    references = [
        _reference_losses(_for_label({**inputs, "images": images[i : i + 1]}, labels[i]))
        for i in range(len(images))
    ]
    ref_reconstruction = np.array([r["reconstruction"][0] for r in references])
    ref_kl = np.array([r["kl"][0] for r in references])
    batch_losses = batch["result"] or {}
    each_losses = [attempt["result"] or {} for attempt in each]
    named = not batch["error"] and all(
        set(LOSS_NAMES) <= set(losses) for losses in [batch_losses, *each_losses]
    )

    def per_image(name: str, key: str | None = None) -> np.ndarray:
        if key is not None:
            return np.array([r[key][0] for r in references])
        return np.array([losses.get(name, np.nan) for losses in each_losses])

    reconstruction, kl, loss = map(per_image, LOSS_NAMES[1:] + LOSS_NAMES[:1])
    fed = _inputs_fed(batch, images, labels)
    fed_call = _inputs_fed(called, images, labels)
    training = [e["training"] for e in batch["log"]]
    evaluating = [e["training"] for attempt in each for e in attempt["log"]]
    expected_call = _reference_reconstructions(inputs)
    call_result = called["result"]
    large_images, large_labels = inputs["large_images"], inputs["large_labels"]
    large, large_call = answers["large"], answers["large_call"]
    fed_large = _inputs_fed(large, large_images, large_labels)
    fed_large_call = _inputs_fed(large_call, large_images, large_labels)
    ref_large = _reference_large(inputs)
    large_losses = large["result"] or {}
    large_ok = (
        fed_large == ("ok", "ok")
        and fed_large_call == ("ok", "ok")
        and all(_close(large_losses.get(name), ref_large[name]) for name in LOSS_NAMES)
        and large_call["result"] is not None
        and _close(
            large_call["result"], _reference_reconstructions(inputs, large_images, large_labels)
        )
    )
    checks = {
        "compute_losses gives the encoder the list [images, labels] of the pair": fed[0] == "ok",
        "compute_losses gives the decoder the list [z, labels], z the encoder's sample": fed[1]
        == "ok",
        "compute_losses passes training on to the encoder and the decoder": bool(training)
        and all(t is True for t in training)
        and not any(evaluating),
        "returns loss, reconstruction_loss and kl_loss": named,
        "reconstruction_loss of each image: the cross-entropy of its pixels, summed": _close(
            reconstruction, ref_reconstruction
        ),
        "kl_loss of each image: the closed-form KL, summed over latent dimensions": _close(
            kl, ref_kl
        ),
        "loss = reconstruction_loss + kl_loss": _close(loss, reconstruction + kl),
        "on a batch, each term is the mean over its images": named
        and _close(batch_losses.get("reconstruction_loss"), ref_reconstruction.mean())
        and _close(batch_losses.get("kl_loss"), ref_kl.mean())
        and _close(batch_losses.get("loss"), (ref_reconstruction + ref_kl).mean()),
        "call returns the decoder's reconstruction of [z, labels] from [images, labels]": fed_call
        == ("ok", "ok")
        and call_result is not None
        and _close(call_result, expected_call),
        f"on a batch of {_LARGE_BATCH} images, compute_losses and call give each image its own "
        "label": large_ok,
    }
    structural = [
        (fed[0] != "ok", ("encoder", fed[0]), "compute_losses"),
        (fed[1] != "ok", ("decoder", fed[1]), "compute_losses"),
        (fed_call[0] != "ok", ("encoder", fed_call[0]), "call"),
        (fed_call[1] != "ok", ("decoder", fed_call[1]), "call"),
    ]
    mistakes = [
        (wrong, _CONDITIONAL_ADVICE[key].format(where=where))
        for wrong, key, where in structural
        if key in _CONDITIONAL_ADVICE
    ]
    for part, index in (("encoder", 0), ("decoder", 1)):
        dropped = [
            where
            for where, fed_here in (
                ("compute_losses (training=True)", fed_large),
                ("call (training=False)", fed_large_call),
            )
            if fed_here[index] in ("no_label", "label_shape", "other_labels")
        ]
        mistakes.append(
            (
                bool(dropped),
                f"On a batch of {_LARGE_BATCH} images your {part} did not get the labels of the "
                f"pair, unchanged, in {' and '.join(dropped)}: whatever the batch size, and "
                "while training too (no label dropout, no zeroed or replaced rows), give "
                f"self.{part} each image's own one-hot label.",
            )
        )
    mistakes += [
        (
            batch["error"] is not None,
            "Your loss failed after the encoder and the decoder got the right inputs: the "
            "reconstruction loss compares the images (the pair's first element, 784 pixels) "
            f"with the reconstruction, not the labels or the pair. The error: {batch['error']}.",
        ),
        (
            not named,
            "Return a dict with the keys 'loss', 'reconstruction_loss' and "
            f"'kl_loss'; yours has {sorted(batch_losses)}.",
        ),
        (
            _close(reconstruction, ref_reconstruction / _IMAGE_PIXELS),
            "Your reconstruction loss is the mean over the pixels, 784 times too small: sum the "
            "cross-entropy over the pixels, as in Lab 03.",
        ),
        (
            _close(reconstruction, per_image("", "squared_error")),
            "Your reconstruction loss is a squared error: the Bernoulli decoder's loss is the "
            "binary cross-entropy, as in Lab 03.",
        ),
        (
            _close(kl, -ref_kl),
            "Your KL has the wrong sign: it is -0.5 * sum(1 + z_log_var - z_mean^2 - "
            "exp(z_log_var)), and never negative.",
        ),
        (
            _close(kl, ref_kl / inputs["to_mean"].shape[1]),
            "Your KL is averaged over the latent dimensions: sum it over them (axis=-1), then "
            "average over the images.",
        ),
        (
            _close(loss, reconstruction) and not _close(kl, 0 * kl),
            "Your loss leaves the KL out: loss = reconstruction_loss + kl_loss.",
        ),
        (
            _close(batch_losses.get("reconstruction_loss"), ref_reconstruction.sum())
            or _close(batch_losses.get("kl_loss"), ref_kl.sum()),
            "On a batch your losses are sums over the images: average them with ops.mean, so "
            "the loss is in nats per image.",
        ),
        (
            not checks["compute_losses passes training on to the encoder and the decoder"],
            "Pass training=training to self.encoder and self.decoder (not a fixed value): "
            "the Sampling layer needs it to draw new noise while training, and its fixed "
            "evaluation noise otherwise.",
        ),
        (
            called["error"] is not None,
            f"Your call raised {called['error']}: call takes the pair (images, labels) and "
            "returns self.decoder([z, labels], training=training).",
        ),
        (
            call_result is not None and call_result.shape != expected_call.shape,
            f"Your call returned shape {None if call_result is None else call_result.shape}: "
            "return the decoder's output, one row of 784 pixel probabilities per image.",
        ),
    ]
    return _first(
        checks,
        mistakes,
        "Follow Step 3, where the conditional VAE is written out: encoder([images, labels]), "
        "decoder([z, labels]), and Lab 03's loss.",
    )
