"""Shared fixtures: the real MNIST files, located as the kit locates them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder of original MNIST IDX files that the tests read: ``LABKIT_DATA_DIR``.

    The checkout's ``conftest.py`` points it at ``../shared/data/mnist`` beside the checkout
    when it is unset and that folder exists (CI sets it too). A folder named but missing is an
    error, not a skip: the tests must not pass vacuously.
    """
    named = os.environ.get("LABKIT_DATA_DIR", "").strip()
    if not named:
        pytest.skip(
            "no MNIST IDX folder: set LABKIT_DATA_DIR to a folder holding the four MNIST files "
            "(train-images-idx3-ubyte.gz, ...) to run the data tests"
        )
    folder = Path(named).expanduser()
    if not folder.is_dir():
        pytest.fail(f"LABKIT_DATA_DIR={named!r} is not a folder; point it at the MNIST IDX files.")
    return folder


@pytest.fixture(scope="session")
def mnist_subset(mnist_dir):
    """6,000 training images split 5,000/1,000 into train and validation, and 2,000 test images."""
    import labkit

    (x_train, y_train), _ = labkit.load_mnist(mnist_dir, limit=6_000)
    (_, _), (x_test, y_test) = labkit.load_mnist(mnist_dir, limit=2_000)
    (x_train, y_train), (x_val, y_val) = labkit.train_validation_split(
        x_train, y_train, validation_size=1_000, seed=0
    )
    return {
        "x_train": x_train,
        "y_train": y_train,
        "x_val": x_val,
        "y_val": y_val,
        "x_test": x_test,
        "y_test": y_test,
    }


@pytest.fixture(scope="session")
def trained_vae(mnist_subset):
    """The default 2-D VAE after 4 epochs (316 steps of 64 images) on the subset."""
    import labkit
    from labkit.backend import keras

    labkit.seed_everything(0)
    vae = labkit.build_vae()
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3))
    history = vae.fit(
        mnist_subset["x_train"],
        epochs=4,
        batch_size=64,
        validation_data=(mnist_subset["x_val"],),
        verbose=0,
    )
    return vae, history.history
