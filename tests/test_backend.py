"""labkit.backend: seeding gives the same numbers; the runtime summary is filled in."""

from __future__ import annotations

import random

import numpy as np
import pytest

import labkit
from labkit.backend import keras, tf


def _draws() -> dict[str, np.ndarray]:
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    return {
        "python": np.array([random.random() for _ in range(3)]),
        "numpy": np.random.rand(3),
        "keras": keras.ops.convert_to_numpy(keras.random.normal((3,))),
        "tensorflow": tf.random.uniform((3,)).numpy(),
        "initializer": keras.ops.convert_to_numpy(layer.kernel),
        "dropout": keras.ops.convert_to_numpy(
            keras.layers.Dropout(0.5)(np.ones((1, 64)), training=True)
        ),
    }


def test_same_seed_same_draws():
    labkit.seed_everything(7)
    first = _draws()
    labkit.seed_everything(7)
    second = _draws()
    for source in first:
        np.testing.assert_array_equal(first[source], second[source], err_msg=source)


def test_different_seed_different_draws():
    labkit.seed_everything(7)
    first = _draws()
    labkit.seed_everything(8)
    second = _draws()
    for source in first:
        assert not np.array_equal(first[source], second[source]), source


@pytest.mark.parametrize("seed", [-1, 1.5, "42", True])
def test_bad_seed_is_rejected(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        labkit.seed_everything(seed)


def test_runtime_summary():
    summary = labkit.runtime_summary()
    assert summary["tensorflow"] == tf.__version__
    assert summary["keras"].startswith("3.")
    assert summary["devices"]
