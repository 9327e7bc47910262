"""Shared fixtures: the real MNIST files, located as the kit locates them, and the tiny lab."""

from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_lab import build_tiny_lab

from labkit.data import MNIST_FILES, LabData


def write_idx_folder(folder: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write MNIST's uint8 arrays (keyed x_train, y_train, x_test, y_test, as in Keras's
    mnist.npz) as the four ``.gz`` IDX files: magic number and sizes, big-endian, then bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, spec in MNIST_FILES.items():
        array = np.ascontiguousarray(arrays[key], dtype=np.uint8)
        header = b"".join(size.to_bytes(4, "big") for size in (spec.magic, *array.shape))
        (folder / f"{spec.name}.gz").write_bytes(
            gzip.compress(header + array.tobytes(), compresslevel=1, mtime=0)
        )
    return folder


def idx_folder_from_the_kit(folder: Path) -> Path:
    """MNIST as the kit loads it with no folder named (Keras's cache, else its download),
    written out as IDX files, for a machine without a folder of them: a student's laptop."""
    import labkit

    try:
        (x_train, y_train), (x_test, y_test) = labkit.load_mnist(flatten=False)
    except labkit.data.MnistDataError as err:
        pytest.fail(f"The tests need MNIST: set LABKIT_DATA_DIR to a folder of its files. {err}")
    pixels = {"x_train": x_train, "x_test": x_test}
    arrays = {key: np.rint(images * 255).astype(np.uint8) for key, images in pixels.items()}
    return write_idx_folder(folder, {**arrays, "y_train": y_train, "y_test": y_test})


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory) -> Path:
    """A folder of the four original MNIST IDX files, which the data tests read and damage.

    ``LABKIT_DATA_DIR`` when set: the checkout's ``conftest.py`` points it at
    ``../shared/data/mnist`` beside the checkout when that folder exists, and CI sets it. A
    folder named but missing is an error. With none named, the IDX files are written from MNIST
    as the kit loads it (Keras's cache or download), and their checksums checked like any other.
    """
    named = os.environ.get("LABKIT_DATA_DIR", "").strip()
    if not named:
        return idx_folder_from_the_kit(tmp_path_factory.mktemp("mnist"))
    folder = Path(named).expanduser()
    if not folder.is_dir():
        pytest.fail(f"LABKIT_DATA_DIR={named!r} is not a folder; point it at the MNIST IDX files.")
    return folder


@pytest.fixture(scope="session")
def mnist_subset(mnist_dir):
    """6,000 training images split 5,000/1,000 into train and validation, and 2,000 test images."""
    import labkit
    from labkit.data import train_validation_split

    (x_train, y_train), _ = labkit.load_mnist(mnist_dir, limit=6_000)
    (_, _), (x_test, y_test) = labkit.load_mnist(mnist_dir, limit=2_000)
    (x_train, y_train), (x_val, y_val) = train_validation_split(
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


@pytest.fixture(scope="session")
def conditional_vae(mnist_subset):
    """The kit's 2-D conditional VAE after 2 epochs of the kit's recipe on the subset."""
    import labkit

    labkit.seed_everything(0)
    cvae = labkit.models.build_conditional_vae(
        pixel_means=mnist_subset["x_train"].mean(axis=0), seed=0
    )
    # Quick mode's 2 epochs of 250 images: 20 steps each over the subset's 5,000.
    settings = labkit.load_settings({"LABKIT_QUICK": "1"})
    labkit.compile_for_data(cvae, LabData(**mnist_subset), settings)
    history = cvae.fit(
        labkit.image_batches(
            mnist_subset["x_train"], 250, shuffle_seed=0, labels=mnist_subset["y_train"]
        ),
        validation_data=labkit.image_batches(
            mnist_subset["x_val"], 250, labels=mnist_subset["y_val"]
        ),
        epochs=2,
        shuffle=False,  # image_batches shuffles
        verbose=0,
    )
    return cvae, history.history


@pytest.fixture(scope="session")
def make_idx_folder_from_the_kit():
    """:func:`idx_folder_from_the_kit`, for the test that checks what it writes."""
    return idx_folder_from_the_kit


@pytest.fixture(scope="session")
def sandbox() -> str:
    """The ``bwrap`` of ``labkit grade --execute``: `make test` installs it on Linux, and these
    tests run in it for real there (CI). Elsewhere bubblewrap does not exist; the container
    route of docs/instructors.md replaces it."""
    if not sys.platform.startswith("linux"):
        pytest.skip("bubblewrap, the grader's sandbox, exists only on Linux")
    from labkit_instructor.sandbox import check_sandbox

    return check_sandbox()


@pytest.fixture
def tiny_lab(tmp_path) -> dict:
    """The tests' tiny TensorFlow-free lab (``tests/tiny_lab.py``), written in ``tmp_path``."""
    return build_tiny_lab(tmp_path)
