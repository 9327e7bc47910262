"""Shared fixtures: the real MNIST files, located as the kit locates them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder of original MNIST IDX files that the tests read.

    ``LABKIT_DATA_DIR`` when set (CI sets it), else ``../shared/data/mnist`` beside the checkout.
    A folder named but missing is an error, not a skip: the tests must not pass vacuously.
    """
    named = os.environ.get("LABKIT_DATA_DIR", "").strip()
    folder = Path(named).expanduser() if named else SHARED_MNIST
    if named and not folder.is_dir():
        pytest.fail(f"LABKIT_DATA_DIR={named!r} is not a folder; point it at the MNIST IDX files.")
    if not folder.is_dir():
        pytest.skip(
            "no MNIST IDX folder: set LABKIT_DATA_DIR to a folder holding the four MNIST files "
            "(train-images-idx3-ubyte.gz, ...) to run the data tests"
        )
    return folder
