"""labkit.data: the MNIST loader on the real files, and every error path on damaged copies."""

from __future__ import annotations

import gzip
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest

import labkit
from labkit.data import MNIST_FILES, MnistDataError, MnistFileNotFoundError, read_idx

# Published class counts of MNIST (digits 0 to 9).
TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return labkit.load_mnist(mnist_dir)


@pytest.fixture(scope="module")
def raw_mnist_dir(mnist_dir, tmp_path_factory) -> Path:
    """An uncompressed copy of the four files."""
    folder = tmp_path_factory.mktemp("mnist_raw")
    for spec in MNIST_FILES.values():
        with gzip.open(mnist_dir / f"{spec.name}.gz") as source:
            (folder / spec.name).write_bytes(source.read())
    return folder


def _copy_folder(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_real_files_shapes_dtypes_and_range(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60_000, 784) and x_test.shape == (10_000, 784)
    assert y_train.shape == (60_000,) and y_test.shape == (10_000,)
    assert x_train.dtype == np.float32 and y_train.dtype == np.uint8
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    # Pixel 0 is 0/255 and the brightest is 255/255; scaling must not round them away.
    assert np.isclose(np.unique(x_train[0]) * 255, np.round(np.unique(x_train[0]) * 255)).all()


def test_real_files_label_counts(mnist):
    (_, y_train), (_, y_test) = mnist
    assert np.bincount(y_train, minlength=10).tolist() == TRAIN_LABEL_COUNTS
    assert np.bincount(y_test, minlength=10).tolist() == TEST_LABEL_COUNTS
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]  # the famous first five training digits


def test_unflattened_images_keep_28_by_28(mnist_dir, mnist):
    (x_train, _), (x_test, _) = labkit.load_mnist(mnist_dir, flatten=False, limit=50)
    assert x_train.shape == (50, 28, 28) and x_test.shape == (50, 28, 28)


def test_environment_variable_names_the_folder(mnist_dir, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA_DIR", str(mnist_dir))
    (x_train, _), _ = labkit.load_mnist(limit=10)
    assert x_train.shape == (10, 784)


def test_raw_and_gzip_files_give_identical_arrays(raw_mnist_dir, mnist):
    (x_train, y_train), (x_test, y_test) = labkit.load_mnist(raw_mnist_dir)
    (gz_x_train, gz_y_train), (gz_x_test, gz_y_test) = mnist
    np.testing.assert_array_equal(x_train, gz_x_train)
    np.testing.assert_array_equal(y_train, gz_y_train)
    np.testing.assert_array_equal(x_test, gz_x_test)
    np.testing.assert_array_equal(y_test, gz_y_test)


def test_limit_is_a_deterministic_subset(mnist_dir, mnist):
    first = labkit.load_mnist(mnist_dir, limit=500)
    second = labkit.load_mnist(mnist_dir, limit=500)
    (x_train, y_train), (x_test, _) = first
    assert x_train.shape == (500, 784) and x_test.shape == (500, 784)
    for array, again in zip((*first[0], *first[1]), (*second[0], *second[1]), strict=True):
        np.testing.assert_array_equal(array, again)
    # The subset is made of real MNIST rows, spread over all classes (not just the first rows).
    (full_x, full_y), _ = mnist
    full_rows = {row.tobytes() for row in full_x}
    assert all(row.tobytes() in full_rows for row in x_train)
    assert not np.array_equal(y_train, full_y[:500])
    assert set(np.unique(y_train)) == set(range(10))


@pytest.mark.parametrize("limit", [0, -3, 2.5, True, "100"])
def test_bad_limit_is_rejected(mnist_dir, limit):
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        labkit.load_mnist(mnist_dir, limit=limit)


def test_missing_folder(tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(MnistFileNotFoundError, match="MNIST folder not found") as caught:
        labkit.load_mnist(missing)
    assert str(missing) in str(caught.value) and "LABKIT_DATA_DIR" in str(caught.value)


def test_missing_file(mnist_dir, tmp_path):
    folder = _copy_folder(mnist_dir, tmp_path / "mnist")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MnistFileNotFoundError, match="t10k-labels-idx1-ubyte") as caught:
        labkit.load_mnist(folder)
    assert isinstance(caught.value, FileNotFoundError)
    assert str(folder) in str(caught.value)


def test_flipped_byte_in_raw_file_fails_the_checksum(raw_mnist_dir, tmp_path):
    folder = _copy_folder(raw_mnist_dir, tmp_path / "mnist")
    path = folder / "train-images-idx3-ubyte"
    content = bytearray(path.read_bytes())
    content[16 + 28 * 14 + 14] ^= 0xFF  # a pixel in the middle of the first digit
    path.write_bytes(bytes(content))
    with pytest.raises(MnistDataError, match="fails its checksum") as caught:
        labkit.load_mnist(folder)
    assert MNIST_FILES["train_images"].sha256 in str(caught.value)
    assert str(path) in str(caught.value)


def test_flipped_byte_in_gzip_file_is_reported_as_corrupt(mnist_dir, tmp_path):
    folder = _copy_folder(mnist_dir, tmp_path / "mnist")
    path = folder / "train-labels-idx1-ubyte.gz"
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))
    with pytest.raises(MnistDataError, match=r"truncated or corrupt|fails its checksum") as caught:
        labkit.load_mnist(folder)
    assert "train-labels-idx1-ubyte.gz" in str(caught.value)


def test_truncated_gzip_file(mnist_dir, tmp_path):
    folder = _copy_folder(mnist_dir, tmp_path / "mnist")
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(MnistDataError, match="truncated or corrupt"):
        labkit.load_mnist(folder)


def test_truncated_raw_file(raw_mnist_dir, tmp_path):
    folder = _copy_folder(raw_mnist_dir, tmp_path / "mnist")
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-784])
    with pytest.raises(MnistDataError, match="truncated or has extra bytes"):
        labkit.load_mnist(folder)


def test_file_shorter_than_its_header(raw_mnist_dir, tmp_path):
    folder = _copy_folder(raw_mnist_dir, tmp_path / "mnist")
    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00")
    with pytest.raises(MnistDataError, match="shorter than the 8-byte IDX header"):
        labkit.load_mnist(folder)


def test_wrong_magic_number(raw_mnist_dir, tmp_path):
    folder = _copy_folder(raw_mnist_dir, tmp_path / "mnist")
    path = folder / "train-images-idx3-ubyte"
    content = bytearray(path.read_bytes())
    content[3] = 0x01  # an image file claiming to be a label file
    path.write_bytes(bytes(content))
    with pytest.raises(MnistDataError, match="magic number is 0x00000801, expected 0x00000803"):
        labkit.load_mnist(folder)


def test_labels_swapped_with_images_are_caught(raw_mnist_dir, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    spec = MNIST_FILES["test_labels"]
    shutil.copy(raw_mnist_dir / MNIST_FILES["train_labels"].name, folder / spec.name)
    with pytest.raises(MnistDataError, match=r"IDX dimensions \(60000,\), expected \(10000,\)"):
        read_idx(folder / spec.name, spec)


def test_offline_without_cache_names_the_environment_variable(tmp_path, monkeypatch):
    from keras.src.backend import config as keras_config
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.delenv("LABKIT_DATA_DIR", raising=False)
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))  # an empty cache
    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    with pytest.raises(MnistDataError, match=r"keras\.datasets\.mnist") as caught:
        labkit.load_mnist()
    assert "LABKIT_DATA_DIR" in str(caught.value)
    assert "name resolution" in str(caught.value)


def test_train_validation_split_is_deterministic_and_disjoint():
    images = np.arange(100, dtype=np.float32).reshape(50, 2)
    labels = np.arange(50) % 10
    (x_train, _), (x_val, y_val) = labkit.train_validation_split(
        images, labels, validation_size=10, seed=3
    )
    assert x_train.shape == (40, 2) and x_val.shape == (10, 2)
    assert sorted(np.concatenate([x_train[:, 0], x_val[:, 0]]).tolist()) == images[:, 0].tolist()
    np.testing.assert_array_equal(y_val, (x_val[:, 0] / 2).astype(int) % 10)
    (_, _), (again_x_val, _) = labkit.train_validation_split(
        images, labels, validation_size=10, seed=3
    )
    (_, _), (other_x_val, _) = labkit.train_validation_split(
        images, labels, validation_size=10, seed=4
    )
    np.testing.assert_array_equal(x_val, again_x_val)
    assert not np.array_equal(x_val, other_x_val)


@pytest.mark.parametrize("validation_size", [0, 50, 51])
def test_train_validation_split_rejects_bad_sizes(validation_size):
    images, labels = np.zeros((50, 2)), np.zeros(50, dtype=int)
    with pytest.raises(ValueError, match="validation_size must be between 1 and 49"):
        labkit.train_validation_split(images, labels, validation_size=validation_size, seed=0)


def test_train_validation_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="40 images and 50 labels"):
        labkit.train_validation_split(np.zeros((40, 2)), np.zeros(50), validation_size=5, seed=0)
