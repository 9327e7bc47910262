"""labkit.checks, Lab 01: ``binarize`` (binarised MNIST).

The instructor's answer passes; the unsolved stub fails with "Not written yet"; each wrong answer,
written as a student would write it, fails with the advice that names its mistake.
"""

from __future__ import annotations

import numpy as np
import pytest

import labkit

SEEDS = (0, 1, 2)


def binarize(images, threshold=0.5):
    """The instructor's answer, as the notebook writes it."""
    return (images >= threshold).astype(np.float32)


def _with_where(images, threshold=0.5):
    """Also right: np.where, then float32."""
    return np.where(images >= threshold, 1, 0).astype(np.float32)


def _stub(images, threshold=0.5):
    raise NotImplementedError("Exercise 1: 1.0 where images >= threshold, else 0.0")


def _strict(images, threshold=0.5):
    return (images > threshold).astype(np.float32)


def _in_place(images, threshold=0.5):
    images[images < threshold] = 0.0
    images[images >= threshold] = 1.0
    return images


def _inverted(images, threshold=0.5):
    return (images < threshold).astype(np.float32)


def _inverted_at_or_below(images, threshold=0.5):
    return (images <= threshold).astype(np.float32)


def _booleans(images, threshold=0.5):
    return images >= threshold


def _float64(images, threshold=0.5):
    return np.where(images >= threshold, 1.0, 0.0)


def _uint8(images, threshold=0.5):
    return (images >= threshold).astype(np.uint8)


def _half_always(images, threshold=0.5):
    return (images >= 0.5).astype(np.float32)


def _rounded(images, threshold=0.5):
    return np.round(images).astype(np.float32)


def _no_return(images, threshold=0.5):
    (images >= threshold).astype(np.float32)


def _flattened(images, threshold=0.5):
    return (images >= threshold).astype(np.float32).ravel()


def _keeps_input_type(images, threshold=0.5):
    return (images >= threshold).astype(images.dtype)


def _reshaped_to_784(images, threshold=0.5):
    return (images >= threshold).astype(np.float32).reshape(len(images), 784)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("answer", [binarize, _with_where])
def test_right_answers_pass(answer, hidden, seed):
    check = labkit.check_exercise("binarize", answer, hidden=hidden, seed=seed)
    assert check.passed, check.advice
    assert check.advice is None


def test_the_stub_is_not_written_yet():
    check = labkit.check_exercise("binarize", _stub, seed=0)
    assert not check.passed
    assert check.advice.startswith("Not written yet")
    assert "1.0 where images >= threshold" in check.advice


MISTAKES = [
    (_strict, "use `>=`, not `>`"),
    (_in_place, "You wrote into `images`"),
    (_inverted, "Black and white are swapped"),
    (_inverted_at_or_below, "Black and white are swapped"),
    (_booleans, "True/False (dtype bool)"),
    (_float64, "Your array is float64, not float32"),
    (_uint8, "Your array holds integers (uint8)"),
    (_half_always, "Your function ignores `threshold`"),
    (_rounded, "Your function ignores `threshold`"),
    (_no_return, "returns None"),
    (_flattened, "another shape than the images"),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize(
    "answer, advice", MISTAKES, ids=[answer.__name__ for answer, _ in MISTAKES]
)
def test_each_mistake_fails_with_its_advice(answer, advice, hidden, seed):
    check = labkit.check_exercise("binarize", answer, hidden=hidden, seed=seed)
    assert not check.passed
    assert advice in check.advice


HIDDEN_ONLY = [
    (_keeps_input_type, "On float64 images your function returns float64"),
    (_reshaped_to_784, "changes the shape of 28 x 28 images"),
]


@pytest.mark.parametrize(
    "answer, advice", HIDDEN_ONLY, ids=[answer.__name__ for answer, _ in HIDDEN_ONLY]
)
def test_the_hidden_checks_catch_what_the_visible_ones_cannot(answer, advice):
    for seed in SEEDS:
        assert labkit.check_exercise("binarize", answer, seed=seed).passed
        check = labkit.check_exercise("binarize", answer, hidden=True, seed=seed)
        assert not check.passed
        assert advice in check.advice


def test_the_input_is_never_changed_and_check_lines_do_not_depend_on_the_inputs():
    lines = {
        hidden: [
            tuple(labkit.check_exercise("binarize", binarize, hidden=hidden, seed=seed).checks)
            for seed in SEEDS
        ]
        for hidden in (False, True)
    }
    for hidden, per_seed in lines.items():
        assert len(set(per_seed)) == 1, hidden
    assert "leaves its input unchanged" in lines[False][0]
    assert set(lines[False][0]) < set(lines[True][0])  # hidden adds lines, keeps the visible


def test_the_drawn_images_hold_the_edge_cases():
    exercise = labkit.checks.EXERCISES["binarize"]
    inputs = exercise.draw(np.random.default_rng(0), True)
    threshold = inputs["threshold"]
    assert float(np.float32(threshold)) == threshold and abs(threshold - 0.5) >= 0.1
    for images in (inputs["images"], inputs["hidden_images"]):
        pixels = images.reshape(len(images), -1)
        assert np.all(pixels[:, :5] == [0.0, 1.0, threshold, pixels[0, 3], 0.5])
        assert np.all(pixels[:, 3] < threshold)
    assert inputs["hidden_images"].shape[1:] == (28, 28)
    assert inputs["hidden_images"].dtype == np.float64


def _float32_first(images, threshold=0.5):
    images = np.asarray(images, np.float32)
    return (images >= threshold).astype(np.float32)


def _writes_into_float64_input(images, threshold=0.5):
    x = np.asarray(images, np.float64)  # no copy when the input is float64 already
    x[:] = x >= threshold
    return x.astype(np.float32)


def _writes_into_input_at_the_default(images, threshold=0.5):
    if threshold == 0.5:
        images[:] = images >= threshold
        return images.astype(np.float32)
    return (images >= threshold).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_converting_to_float32_first_is_right(seed):
    for hidden in (False, True):
        assert labkit.check_exercise("binarize", _float32_first, hidden=hidden, seed=seed).passed


@pytest.mark.parametrize(
    "answer, hidden",
    [(_writes_into_float64_input, True), (_writes_into_input_at_the_default, False)],
)
def test_writing_into_any_input_is_named(answer, hidden):
    check = labkit.check_exercise("binarize", answer, hidden=hidden, seed=0)
    assert not check.passed and "You wrote into `images`" in check.advice, check.advice
