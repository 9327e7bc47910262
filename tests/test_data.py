"""labkit.data: the MNIST loader on the real files, and every error path on damaged copies."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
import urllib.error
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import labkit
from labkit import data as labkit_data
from labkit.data import (
    MNIST_FILES,
    NPZ_ARRAY_KEYS,
    MnistDataError,
    MnistFileNotFoundError,
    keras_cache_file,
    read_idx,
    read_mnist_npz,
)

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
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # the kit's own look at the cache: empty
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))  # an empty cache
    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    with pytest.raises(MnistDataError, match=r"keras\.datasets\.mnist") as caught:
        labkit.load_mnist()
    assert "LABKIT_DATA_DIR" in str(caught.value)
    assert "name resolution" in str(caught.value)


# --- Keras's mnist.npz: named by the student, or found in Keras's cache ----------------------


@pytest.fixture(scope="module")
def mnist_uint8(mnist_dir) -> dict[str, np.ndarray]:
    """The four MNIST arrays as raw uint8, read from the IDX files, under Keras's npz names."""
    arrays = {}
    for name, key in NPZ_ARRAY_KEYS.items():
        spec = MNIST_FILES[key]
        raw, gz = mnist_dir / spec.name, mnist_dir / f"{spec.name}.gz"
        arrays[name] = read_idx(raw if raw.is_file() else gz, spec)
    return arrays


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def user_npz(mnist_uint8, tmp_path_factory) -> Path:
    """A user-made mnist.npz of the real MNIST arrays (not byte-identical to Keras's file)."""
    return _write_npz(tmp_path_factory.mktemp("npz") / "mnist.npz", mnist_uint8)


@pytest.fixture
def keras_download_forbidden(monkeypatch) -> list:
    """Make keras.datasets.mnist.load_data fail, recording each call in the returned list.

    Keras is imported before a test changes KERAS_HOME: Keras reads it once, at import.
    """
    import keras

    calls = []

    def forbidden(*args, **kwargs):
        calls.append((args, kwargs))
        raise AssertionError("keras.datasets.mnist.load_data must not be called")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", forbidden)
    monkeypatch.delenv("LABKIT_DATA_DIR", raising=False)
    return calls


def _assert_same_mnist(loaded, expected) -> None:
    for array, expected_array in zip(
        (*loaded[0], *loaded[1]), (*expected[0], *expected[1]), strict=True
    ):
        np.testing.assert_array_equal(array, expected_array)


def _assert_names_file_and_fix(message: str, path: Path) -> None:
    """An npz error names the file, both hashes, and the two fixes."""
    assert str(path) in message
    assert hashlib.sha256(path.read_bytes()).hexdigest() in message
    assert labkit_data.KERAS_MNIST_NPZ_SHA256 in message
    assert "move it aside and keras.datasets.mnist downloads it again" in message
    assert "Delete" not in message  # it may be the user's own file: never told to delete it
    assert "point LABKIT_DATA_DIR at Keras's mnist.npz or at a folder holding the four" in message


def test_keras_hash_constant_is_the_one_in_the_installed_keras():
    # Read as text: finding the hash must not need TensorFlow.
    keras_root = Path(importlib.util.find_spec("keras").origin).parent
    source = (keras_root / "src" / "datasets" / "mnist.py").read_text(encoding="utf-8")
    hashes = re.findall(r'file_hash=\(?\s*(?:#[^\n]*)?\s*"([0-9a-f]{64})"', source)
    assert hashes == [labkit_data.KERAS_MNIST_NPZ_SHA256]


def test_user_made_npz_file_gives_the_idx_arrays(user_npz, mnist):
    assert hashlib.sha256(user_npz.read_bytes()).hexdigest() != labkit_data.KERAS_MNIST_NPZ_SHA256
    _assert_same_mnist(labkit.load_mnist(user_npz), mnist)


def test_folder_holding_only_mnist_npz_is_read_through_it(user_npz, mnist, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA_DIR", str(user_npz.parent))
    _assert_same_mnist(labkit.load_mnist(), mnist)


def test_environment_variable_names_the_npz_file(user_npz, mnist_dir, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA_DIR", str(user_npz))
    _assert_same_mnist(
        labkit.load_mnist(limit=100, flatten=False),
        labkit.load_mnist(mnist_dir, limit=100, flatten=False),
    )


@pytest.mark.parametrize("renamed", [False, True], ids=["by name", "by magic number"])
def test_one_idx_file_named_as_the_source_asks_for_its_folder(
    mnist_dir, tmp_path, monkeypatch, renamed
):
    original = next(mnist_dir.glob("*.gz"))
    given = tmp_path / ("my-digits.bin" if renamed else original.name)
    shutil.copyfile(original, given)
    monkeypatch.setenv("LABKIT_DATA_DIR", str(given))
    with pytest.raises(labkit.MnistDataError) as raised:
        labkit.load_mnist(limit=10)
    message = str(raised.value)
    assert "is one MNIST IDX file, not a folder" in message and str(tmp_path) in message
    assert "delete" not in message.lower()
    assert given.read_bytes() == original.read_bytes()  # the file is left as it was


def test_folder_with_idx_files_and_npz_prefers_the_idx_files(mnist_dir, mnist, tmp_path):
    folder = _copy_folder(mnist_dir, tmp_path / "mnist")
    (folder / "mnist.npz").write_text("not read: the IDX files come first\n", encoding="utf-8")
    _assert_same_mnist(labkit.load_mnist(folder), mnist)


def test_keras_hash_is_trusted_without_rehashing_the_arrays(mnist_uint8, tmp_path, monkeypatch):
    x_train = mnist_uint8["x_train"].copy()
    x_train[0, 14, 14] = 77  # fails the per-array check (see the parametrized test below)
    path = _write_npz(tmp_path / "mnist.npz", {**mnist_uint8, "x_train": x_train})
    monkeypatch.setattr(
        labkit_data, "KERAS_MNIST_NPZ_SHA256", hashlib.sha256(path.read_bytes()).hexdigest()
    )
    arrays = read_mnist_npz(path)
    assert arrays["train_images"][0, 14, 14] == 77
    assert arrays["test_labels"].tolist() == mnist_uint8["y_test"].tolist()


def test_keras_hash_still_checks_names_shapes_and_dtypes(mnist_uint8, tmp_path, monkeypatch):
    arrays = {**mnist_uint8, "y_train": mnist_uint8["y_train"].astype(np.int64)}
    path = _write_npz(tmp_path / "mnist.npz", arrays)
    monkeypatch.setattr(
        labkit_data, "KERAS_MNIST_NPZ_SHA256", hashlib.sha256(path.read_bytes()).hexdigest()
    )
    with pytest.raises(MnistDataError, match="array y_train has dtype int64, expected uint8"):
        read_mnist_npz(path)


def _one_pixel_changed(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    x_train = arrays["x_train"].copy()
    x_train[0, 14, 14] ^= 0x01
    return {**arrays, "x_train": x_train}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            _one_pixel_changed,
            "array x_train differs from the published MNIST train-images-idx3-ubyte",
        ),
        (
            lambda arrays: {name: arrays[name] for name in ("x_train", "y_train", "x_test")},
            "array y_test is missing (it holds: x_train, y_train, x_test)",
        ),
        (
            lambda arrays: {**arrays, "y_test": arrays["y_test"].astype(np.int32)},
            "array y_test has dtype int32, expected uint8",
        ),
        (
            lambda arrays: {**arrays, "x_test": arrays["x_test"].reshape(10_000, 784)},
            "array x_test has shape (10000, 784), expected (10000, 28, 28)",
        ),
        (
            lambda arrays: {**arrays, "y_test": arrays["y_test"].astype(object)},
            "Object arrays cannot be loaded when allow_pickle=False",
        ),
    ],
    ids=["one_pixel_changed", "y_test_missing", "wrong_dtype", "wrong_shape", "object_array"],
)
def test_npz_that_is_not_mnist_is_rejected(
    mnist_uint8, tmp_path, change: Callable[[dict], dict], fragment: str
):
    path = _write_npz(tmp_path / "mnist.npz", change(mnist_uint8))
    with pytest.raises(MnistDataError) as caught:
        labkit.load_mnist(path)
    assert fragment in str(caught.value)
    _assert_names_file_and_fix(str(caught.value), path)


def test_truncated_npz_is_rejected(user_npz, tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(user_npz.read_bytes()[:5_000_000])
    with pytest.raises(MnistDataError, match="it is not a zip archive") as caught:
        labkit.load_mnist(path)
    _assert_names_file_and_fix(str(caught.value), path)


def test_text_file_named_mnist_npz_is_rejected(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_text("404: Not Found\n", encoding="utf-8")
    with pytest.raises(MnistDataError, match="it is not a zip archive") as caught:
        labkit.load_mnist(tmp_path)
    assert "pickle" not in str(caught.value)  # numpy's advice to unpickle must not show
    _assert_names_file_and_fix(str(caught.value), path)


def test_missing_npz_file_and_empty_folder(tmp_path):
    with pytest.raises(MnistFileNotFoundError, match="MNIST file not found") as caught:
        labkit.load_mnist(tmp_path / "mnist.npz")
    assert str(tmp_path / "mnist.npz") in str(caught.value)
    with pytest.raises(MnistFileNotFoundError, match="holds neither the four MNIST IDX") as caught:
        labkit.load_mnist(tmp_path)
    assert "mnist.npz (it holds: nothing)" in str(caught.value)


def test_keras_cache_under_keras_home_is_read_offline(
    user_npz, mnist, tmp_path, monkeypatch, keras_download_forbidden
):
    cached = tmp_path / "keras_home" / "datasets" / "mnist.npz"
    cached.parent.mkdir(parents=True)
    shutil.copyfile(user_npz, cached)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    _assert_same_mnist(labkit.load_mnist(), mnist)
    assert keras_download_forbidden == []


def test_keras_cache_under_the_home_folder_is_read_offline(
    user_npz, mnist_dir, tmp_path, monkeypatch, keras_download_forbidden
):
    cached = tmp_path / "home" / ".keras" / "datasets" / "mnist.npz"
    cached.parent.mkdir(parents=True)
    shutil.copyfile(user_npz, cached)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "home"))  # Path.home() on Windows
    _assert_same_mnist(labkit.load_mnist(limit=100), labkit.load_mnist(mnist_dir, limit=100))
    assert keras_download_forbidden == []


def test_damaged_keras_cache_is_an_error_not_a_download(
    user_npz, tmp_path, monkeypatch, keras_download_forbidden
):
    cached = tmp_path / "datasets" / "mnist.npz"
    cached.parent.mkdir()
    cached.write_bytes(user_npz.read_bytes()[:-1_000])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(MnistDataError, match="it is not a zip archive") as caught:
        labkit.load_mnist()
    _assert_names_file_and_fix(str(caught.value), cached)
    assert keras_download_forbidden == []


def test_keras_cache_file_follows_keras_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    assert keras_cache_file({}) == tmp_path / ".keras" / "datasets" / "mnist.npz"
    keras_home = tmp_path / "elsewhere"
    assert keras_cache_file({"KERAS_HOME": str(keras_home)}) == keras_home / "datasets/mnist.npz"
    assert keras_cache_file({"KERAS_HOME": "~/kh"}) == tmp_path / "kh" / "datasets" / "mnist.npz"
    # An empty KERAS_HOME is not writable for Keras: it caches under the temp folder.
    temp_folders = {Path("/tmp"), Path(tempfile.gettempdir())}
    empty = keras_cache_file({"KERAS_HOME": ""})
    assert empty.parent.parent.name == ".keras" and empty.parent.parent.parent in temp_folders


def test_unwritable_keras_home_falls_back_to_the_temp_folder(tmp_path, monkeypatch):
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    real_access = os.access  # faked, so the test also runs as root and on Windows

    def access(path, mode):
        return Path(path) != read_only and real_access(path, mode)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setenv("HOME", str(read_only))
    monkeypatch.setenv("USERPROFILE", str(read_only))
    temp_folders = {Path("/tmp"), Path(tempfile.gettempdir())}
    for environ in ({"KERAS_HOME": str(read_only)}, {}):
        cache = keras_cache_file(environ)
        assert cache.parent.parent.name == ".keras" and cache.parent.parent.parent in temp_folders


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


def test_without_a_named_folder_the_tests_write_one_from_keras_cache(
    user_npz, mnist, tmp_path, monkeypatch, keras_download_forbidden, make_idx_folder_from_the_kit
):
    # What the mnist_dir fixture does on a student's laptop, where only Keras's cache (or its
    # download) has MNIST: the IDX files it writes must pass the published checksums.
    cached = tmp_path / "keras_home" / "datasets" / "mnist.npz"
    cached.parent.mkdir(parents=True)
    shutil.copyfile(user_npz, cached)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    folder = make_idx_folder_from_the_kit(tmp_path / "written")
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        f"{spec.name}.gz" for spec in MNIST_FILES.values()
    )
    _assert_same_mnist(labkit.load_mnist(folder), mnist)
    assert keras_download_forbidden == []


# --- one_hot: the conditional VAE's label input (notebook 06) ------------------------------------


def test_one_hot_puts_a_single_one_at_each_digit():
    rows = labkit.one_hot(np.array([3, 0, 9], dtype=np.uint8))
    assert rows.dtype == np.float32 and rows.shape == (3, 10)
    np.testing.assert_array_equal(np.argmax(rows, axis=1), [3, 0, 9])
    np.testing.assert_array_equal(rows.sum(axis=1), [1, 1, 1])
    np.testing.assert_array_equal(labkit.one_hot([2.0]), labkit.one_hot([2]))  # whole floats
    np.testing.assert_array_equal(labkit.one_hot(rows), rows)  # already one-hot: unchanged


@pytest.mark.parametrize(
    "labels, message",
    [
        ([10], "whole numbers from 0 to 9"),
        ([-1], "whole numbers from 0 to 9"),
        ([2.5], "whole numbers from 0 to 9"),
        (["3"], "whole numbers from 0 to 9"),
        (np.zeros((2, 3)), r"shape \(n,\) or one-hot rows"),
        (np.full((2, 10), 0.1), "a single 1 per row"),
    ],
)
def test_one_hot_refuses_what_is_not_a_digit(labels, message):
    with pytest.raises(ValueError, match=message):
        labkit.one_hot(labels)
