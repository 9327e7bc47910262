"""Lab 01's check: ``binarize``."""

from __future__ import annotations

import numpy as np

from labkit.checks import (
    Answers,
    Inputs,
    Verdict,
    _exercise,
    _first,
)

_BINARIZE_EDGES = 5  # columns 0 to 4 of every image: black, white, the threshold, just below, 0.5


def _binarize_images(rng: np.random.Generator, shape: tuple, dtype, threshold: float):
    images = rng.random(shape).astype(dtype)
    # No random pixel closer to the threshold than float32 can tell apart, and the pixel "just
    # below" it below it in float32 too: an answer that works in float32 is right.
    images[np.abs(images - threshold) < 1e-6] = 0.0
    edges = images.reshape(len(images), -1)  # a view: the edge values land in ``images``
    below = np.nextafter(np.float32(threshold), np.float32(0)).astype(dtype)
    edges[:, :_BINARIZE_EDGES] = [0.0, 1.0, threshold, below, 0.5]
    return images


def _draw_binarize(rng: np.random.Generator, hidden: bool) -> Inputs:
    # Exact in float32, and 0.1 to 0.3 away from the default 0.5, so that a function that
    # ignores `threshold` gives other pixels.
    threshold = float(np.float32(0.5 + rng.choice([-1, 1]) * rng.uniform(0.1, 0.3)))
    inputs = {"images": _binarize_images(rng, (4, 784), np.float32, threshold)}
    inputs["threshold"] = threshold
    if hidden:  # images kept as 28 x 28 arrays, and in float64
        inputs["hidden_images"] = _binarize_images(rng, (3, 28, 28), np.float64, threshold)
    return inputs


def _binarized(binarize, images: np.ndarray, *threshold: float) -> tuple[np.ndarray, bool]:
    """The answer on a copy of ``images``, and whether that copy was left as it was."""
    copy = images.copy()
    result = binarize(copy, *threshold)
    return (None if result is None else np.asarray(result)), bool(np.array_equal(copy, images))


def _run_binarize(inputs: Inputs, binarize) -> Answers:
    default, default_unchanged = _binarized(binarize, inputs["images"])
    result, unchanged = _binarized(binarize, inputs["images"], inputs["threshold"])
    answers = {"result": result, "default": default, "unchanged": unchanged and default_unchanged}
    if "hidden_images" in inputs:  # every call must leave its input alone
        hidden = _binarized(binarize, inputs["hidden_images"], inputs["threshold"])
        answers["hidden"], answers["unchanged"] = hidden[0], answers["unchanged"] and hidden[1]
    return answers


def _equal_outside(result, reference: np.ndarray, exempt: np.ndarray) -> bool:
    """``result`` has ``reference``'s shape and values, except (perhaps) where ``exempt``."""
    if result is None or result.shape != reference.shape:
        return False
    return bool(np.array_equal(result[~exempt], reference[~exempt]))


_BINARIZE_DTYPE_ADVICE = {
    "b": "Your array holds True/False (dtype bool), the comparison itself: turn it into 0.0 "
    "and 1.0 with `.astype(np.float32)`.",
    "f": "Your array is {dtype}, not float32 (`np.where(..., 1.0, 0.0)` gives float64): "
    "convert it with `.astype(np.float32)`, the type the models take.",
    "iu": "Your array holds integers ({dtype}): the models take float32 pixels, so convert it "
    "with `.astype(np.float32)`.",
}


def _dtype_advice(dtype: np.dtype) -> str:
    for kinds, advice in _BINARIZE_DTYPE_ADVICE.items():
        if dtype.kind in kinds:
            return advice.format(dtype=dtype)
    return f"Your array is {dtype}: return float32 zeros and ones, `.astype(np.float32)`."


@_exercise("binarize", _draw_binarize, _run_binarize)
def _judge_binarize(inputs: Inputs, answers: Answers) -> Verdict:
    images, threshold, result = inputs["images"], inputs["threshold"], answers["result"]
    expected = (images >= threshold).astype(np.float32)
    at_threshold, at_half = images == np.float32(threshold), images == np.float32(0.5)
    nothing = np.zeros(images.shape, dtype=bool)
    same_shape = result is not None and result.shape == images.shape
    dtype = np.dtype(object) if result is None else result.dtype
    default = answers["default"]
    checks = {
        "same shape as the images": same_shape,
        "float32": dtype == np.float32,
        "pixels at or above the threshold become 1, the others 0 (random images)": (
            _equal_outside(result, expected, nothing)
        ),
        "threshold defaults to 0.5": _equal_outside(
            default, (images >= 0.5).astype(np.float32), nothing
        ),
        "leaves its input unchanged": answers["unchanged"],
    }
    mistakes = [
        (result is None, "Your function returns None: end it with `return` and the new array."),
        (
            not answers["unchanged"],
            "You wrote into `images`: build a new array, e.g. "
            "`(images >= threshold).astype(np.float32)`, and leave the input as it was.",
        ),
        (
            _equal_outside(result, (images >= 0.5).astype(np.float32), at_half),
            "Your function ignores `threshold`: it cuts at 0.5 whatever threshold it is given. "
            "Compare the pixels with the argument `threshold`.",
        ),
        (
            _equal_outside(result, (images > threshold).astype(np.float32), nothing),
            "A pixel exactly at the threshold stayed 0: use `>=`, not `>`.",
        ),
        (
            _equal_outside(result, 1 - expected, at_threshold),
            "Black and white are swapped: pixels at or above the threshold must become 1, the "
            "darker ones 0.",
        ),
        (
            result is not None and not same_shape and result.size == images.size,
            "Your array has another shape than the images: keep the input's shape "
            "(no reshape or flatten).",
        ),
        (dtype != np.float32, _dtype_advice(dtype)),
    ]
    if "hidden_images" in inputs:
        hidden_images, hidden = inputs["hidden_images"], answers["hidden"]
        hidden_expected = (hidden_images >= threshold).astype(np.float32)
        checks["hidden: 28 x 28 float64 images give float32 zeros and ones of their shape"] = (
            hidden is not None
            and hidden.dtype == np.float32
            and _equal_outside(hidden, hidden_expected, np.zeros(hidden_images.shape, bool))
        )
        mistakes += [
            (
                hidden is not None and hidden.dtype == np.float64,
                "On float64 images your function returns float64 (it keeps the input's type): "
                "always return float32, with `.astype(np.float32)`.",
            ),
            (
                hidden is not None and hidden.shape != hidden_images.shape,
                "Your function changes the shape of 28 x 28 images: return an array of the "
                "input's shape, whatever it is (no reshape to 784 columns).",
            ),
        ]
    return _first(
        checks,
        mistakes,
        "Compare each pixel with `threshold` and return a float32 array of zeros and ones.",
    )
