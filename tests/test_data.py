"""labkit.data: the MNIST loader on the real files, and each error path on damaged copies."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import re
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest

import labkit
from labkit import data as labkit_data
from labkit.data import MNIST_FILES, MnistDataError, MnistFileNotFoundError, one_hot

# Published class counts of MNIST (digits 0 to 9).
TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return labkit.load_mnist(mnist_dir)


@pytest.fixture(scope="module")
def mnist_uint8(mnist_dir) -> dict[str, np.ndarray]:
    """The four MNIST arrays as the files store them (uint8), keyed as in Keras's mnist.npz."""
    (x_train, y_train), (x_test, y_test) = labkit.load_mnist(mnist_dir, flatten=False)
    images = {"x_train": x_train, "x_test": x_test}
    pixels = {key: np.rint(array * 255).astype(np.uint8) for key, array in images.items()}
    return {**pixels, "y_train": y_train, "y_test": y_test}


@pytest.fixture(scope="module")
def raw_mnist_dir(mnist_dir, tmp_path_factory) -> Path:
    """An uncompressed copy of the four files."""
    folder = tmp_path_factory.mktemp("mnist_raw")
    for spec in MNIST_FILES.values():
        with gzip.open(mnist_dir / f"{spec.name}.gz") as source:
            (folder / spec.name).write_bytes(source.read())
    return folder


@pytest.fixture(scope="module")
def user_npz(mnist_uint8, tmp_path_factory) -> Path:
    """An mnist.npz of the real arrays made by a user (not byte-identical to Keras's file)."""
    return _write_npz(tmp_path_factory.mktemp("npz") / "mnist.npz", mnist_uint8)


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def _assert_same_mnist(loaded, expected) -> None:
    pairs = zip((*loaded[0], *loaded[1]), (*expected[0], *expected[1]), strict=True)
    for array, expected_array in pairs:
        np.testing.assert_array_equal(array, expected_array)
        assert array.dtype == expected_array.dtype


def test_real_files_shapes_dtypes_range_and_labels(mnist, mnist_dir):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60_000, 784) and x_test.shape == (10_000, 784)
    assert y_train.shape == (60_000,) and y_test.shape == (10_000,)
    assert x_train.dtype == np.float32 and y_train.dtype == np.uint8
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    np.testing.assert_array_equal(x_train[0] * 255, np.round(x_train[0] * 255))  # k / 255 only
    assert np.bincount(y_train, minlength=10).tolist() == TRAIN_LABEL_COUNTS
    assert np.bincount(y_test, minlength=10).tolist() == TEST_LABEL_COUNTS
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]  # the famous first five training digits
    (x_train, _), (x_test, _) = labkit.load_mnist(mnist_dir, flatten=False, limit=50)
    assert x_train.shape == (50, 28, 28) and x_test.shape == (50, 28, 28)


@pytest.mark.parametrize(
    ("source", "named_by"),
    [
        ("raw folder", "argument"),
        ("npz", "LABKIT_DATA_DIR"),
        ("folder holding npz", "LABKIT_DATA_DIR"),
        ("folder with both", "argument"),
    ],
)
def test_every_source_gives_the_same_arrays(
    source, named_by, raw_mnist_dir, user_npz, mnist, tmp_path, monkeypatch
):
    path = {"raw folder": raw_mnist_dir, "npz": user_npz, "folder holding npz": user_npz.parent}
    if source == "folder with both":
        path[source] = shutil.copytree(raw_mnist_dir, tmp_path / "both")
        (path[source] / "mnist.npz").write_text(
            "not read: IDX files come first\n", encoding="utf-8"
        )
    if named_by == "argument":
        _assert_same_mnist(labkit.load_mnist(path[source]), mnist)
    else:
        monkeypatch.setenv("LABKIT_DATA_DIR", str(path[source]))
        _assert_same_mnist(labkit.load_mnist(), mnist)


def test_limit_is_a_fixed_subset_of_real_rows(mnist_dir, mnist):
    first, second = labkit.load_mnist(mnist_dir, limit=500), labkit.load_mnist(mnist_dir, limit=500)
    _assert_same_mnist(first, second)
    (x_train, y_train), (x_test, _) = first
    assert x_train.shape == (500, 784) and x_test.shape == (500, 784)
    (full_x, full_y), _ = mnist
    full_rows = {row.tobytes() for row in full_x}
    assert all(row.tobytes() in full_rows for row in x_train)
    assert not np.array_equal(y_train, full_y[:500])  # spread over the file, not its first rows
    assert set(np.unique(y_train)) == set(range(10))


@pytest.mark.parametrize("limit", [0, -3, 2.5, True, "100"])
def test_bad_limit_is_rejected(mnist_dir, limit):
    with pytest.raises(ValueError, match="limit must be a positive integer or None"):
        labkit.load_mnist(mnist_dir, limit=limit)


# --- damaged or incomplete folders --------------------------------------------------------------


def _flip_pixel(content: bytes, raw_dir: Path) -> bytes:
    changed = bytearray(content)
    changed[16 + 28 * 14 + 14] ^= 0xFF  # a pixel in the middle of the first digit
    return bytes(changed)


@pytest.mark.parametrize(
    ("name", "damage", "fragments"),
    [
        (
            "train-images-idx3-ubyte",
            _flip_pixel,
            ["fails its checksum", MNIST_FILES["x_train"].sha256],
        ),
        (
            "train-images-idx3-ubyte",
            lambda content, raw_dir: content[:3] + b"\x01" + content[4:],  # a label file's
            ["magic number 0x00000801", "train-images-idx3-ubyte's (0x00000803"],
        ),
        (
            "t10k-images-idx3-ubyte",
            lambda content, raw_dir: content[:-784],
            ["7839232 bytes", "7840016 bytes"],
        ),
        (
            "t10k-labels-idx1-ubyte",
            lambda content, raw_dir: b"\x00\x00",
            ["(0,), 2 bytes)", "(10000,), 10008 bytes)"],
        ),
        (
            "t10k-labels-idx1-ubyte",  # the training labels under the test labels' name
            lambda content, raw_dir: (raw_dir / "train-labels-idx1-ubyte").read_bytes(),
            ["dimensions (60000,)", "(10000,)"],
        ),
    ],
    ids=["checksum", "magic_number", "truncated", "shorter_than_header", "wrong_dimensions"],
)
def test_a_damaged_idx_file_is_named_with_the_fix(raw_mnist_dir, tmp_path, name, damage, fragments):
    folder = shutil.copytree(raw_mnist_dir, tmp_path / "mnist")
    path = folder / name
    path.write_bytes(damage(path.read_bytes(), raw_mnist_dir))
    with pytest.raises(MnistDataError) as caught:
        labkit.load_mnist(folder)
    message = str(caught.value)
    assert f"{path} is not the published MNIST" in message
    assert all(fragment in message for fragment in fragments), message
    assert "Replace it with a fresh copy" in message and "set data_dir to a folder" in message


@pytest.mark.parametrize("cut", ["truncated", "flipped_byte"])
def test_a_damaged_gzip_file_is_reported(mnist_dir, tmp_path, cut):
    folder = shutil.copytree(mnist_dir, tmp_path / "mnist")
    path = folder / "t10k-images-idx3-ubyte.gz"
    content = bytearray(path.read_bytes())
    if cut == "truncated":
        content = content[:100_000]
    else:
        content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))
    with pytest.raises(MnistDataError, match=r"truncated or corrupt|fails its checksum") as caught:
        labkit.load_mnist(folder)
    assert str(path) in str(caught.value)


def test_missing_paths_and_files_are_named(mnist_dir, tmp_path, monkeypatch):
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("LABKIT_DATA_DIR", str(missing))
    with pytest.raises(MnistFileNotFoundError, match="MNIST not found") as caught:
        labkit.load_mnist()
    assert isinstance(caught.value, FileNotFoundError)
    assert f"{missing} does not exist. Set LABKIT_DATA_DIR to a folder" in str(caught.value)
    with pytest.raises(MnistFileNotFoundError, match="Set data_dir to a folder"):
        labkit.load_mnist(tmp_path / "mnist.npz")  # an argument, not the variable: named so

    folder = shutil.copytree(mnist_dir, tmp_path / "mnist")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MnistFileNotFoundError) as caught:
        labkit.load_mnist(folder)
    assert f"{folder} has no t10k-labels-idx1-ubyte[.gz] (it holds: " in str(caught.value)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MnistFileNotFoundError) as caught:
        labkit.load_mnist(empty)
    assert "nor mnist.npz (it holds: nothing)" in str(caught.value)
    assert all(spec.name in str(caught.value) for spec in MNIST_FILES.values())


@pytest.mark.parametrize("form", ["by name", "gz by magic number", "raw by magic number"])
def test_one_idx_file_named_as_the_source_asks_for_its_folder(
    mnist_dir, raw_mnist_dir, tmp_path, monkeypatch, form
):
    original = (raw_mnist_dir if form.startswith("raw") else mnist_dir) / (
        "t10k-labels-idx1-ubyte" + ("" if form.startswith("raw") else ".gz")
    )
    given = tmp_path / (original.name if form == "by name" else "my-digits.bin")
    shutil.copyfile(original, given)
    monkeypatch.setenv("LABKIT_DATA_DIR", str(given))
    with pytest.raises(MnistDataError) as caught:
        labkit.load_mnist(limit=10)
    message = str(caught.value)
    assert f"{given} is one MNIST IDX file, not a folder: set LABKIT_DATA_DIR to the" in message
    assert message.endswith(f"holds the four IDX files, {tmp_path}.")
    assert "delete" not in message.lower()  # genuine MNIST: never told to delete it
    assert given.read_bytes() == original.read_bytes()  # left as it was


# --- Keras's mnist.npz, named by the student ------------------------------------------------


def _one_pixel_changed(arrays):
    x_train = arrays["x_train"].copy()
    x_train[0, 14, 14] ^= 0x01
    return {**arrays, "x_train": x_train}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (_one_pixel_changed, "(array x_train) is not the published MNIST: it fails its checksum"),
        (
            lambda arrays: {key: arrays[key] for key in ("x_train", "y_train", "x_test")},
            "array y_test is missing (it holds: x_train, y_train, x_test)",
        ),
        (
            lambda arrays: {**arrays, "y_test": arrays["y_test"].astype(np.int32)},
            "(array y_test) is not the published MNIST: it holds int32 (10000,), not uint8",
        ),
        (
            lambda arrays: {**arrays, "x_test": arrays["x_test"].reshape(10_000, 784)},
            "(array x_test) is not the published MNIST: it holds uint8 (10000, 784), not uint8 "
            "(10000, 28, 28)",
        ),
        (
            lambda arrays: {**arrays, "y_test": arrays["y_test"].astype(object)},
            "Object arrays cannot be loaded when allow_pickle=False",
        ),
        (None, "it is not a zip archive"),  # truncated
        (str, "it is not a zip archive"),  # a text file named mnist.npz (an HTML error page)
    ],
    ids=["one_pixel", "array_missing", "dtype", "shape", "object_array", "truncated", "text"],
)
def test_an_npz_that_is_not_mnist_is_rejected(mnist_uint8, user_npz, tmp_path, change, fragment):
    path = tmp_path / "mnist.npz"
    if change is None:
        path.write_bytes(user_npz.read_bytes()[:5_000_000])
    elif change is str:
        path.write_text("404: Not Found\n", encoding="utf-8")
    else:
        _write_npz(path, change(mnist_uint8))
    with pytest.raises(MnistDataError) as caught:
        labkit.load_mnist(tmp_path)
    message = str(caught.value)
    assert fragment in message and message.startswith(str(path))
    assert "delete" not in message.lower()  # it may be the user's own file
    assert change is not str or "pickle" not in message  # nor numpy's advice to unpickle it


# --- Keras's cache and download (keras.utils.get_file, offline) ------------------------------


def test_keras_origin_and_hash_are_those_of_the_installed_keras():
    # Read as text: finding them must not need TensorFlow.
    keras_root = Path(importlib.util.find_spec("keras").origin).parent
    source = (keras_root / "src" / "datasets" / "mnist.py").read_text(encoding="utf-8")
    assert re.findall(r'"([0-9a-f]{64})"', source) == [labkit_data.KERAS_MNIST_SHA256]
    folder = re.search(r'origin_folder = \(?\s*"([^"]+)"', source).group(1)
    assert f"{folder}mnist.npz" == labkit_data.KERAS_MNIST_ORIGIN


@pytest.fixture
def keras_cache(tmp_path, monkeypatch) -> Path:
    """An empty Keras home for get_file, which must not reach the network."""
    import keras
    from keras.src.backend import config as keras_config
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.delenv("LABKIT_DATA_DIR", raising=False)
    (tmp_path / "keras").mkdir()  # get_file would use /tmp/.keras for a folder that is absent
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras"))  # read at import
    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    assert keras.utils.get_file is file_utils.get_file
    return tmp_path / "keras" / "datasets" / "mnist.npz"


def test_keras_cache_is_read_through_get_file_offline(keras_cache, user_npz, mnist, monkeypatch):
    keras_cache.parent.mkdir()
    shutil.copyfile(user_npz, keras_cache)
    digest = hashlib.sha256(user_npz.read_bytes()).hexdigest()
    monkeypatch.setattr(labkit_data, "KERAS_MNIST_SHA256", digest)  # stands in for Keras's file
    assert labkit_data.keras_mnist_file() == keras_cache
    _assert_same_mnist(labkit.load_mnist(), mnist)


@pytest.mark.parametrize("cache", ["empty", "damaged"])
def test_without_a_valid_cache_offline_the_error_names_the_variable(
    keras_cache, user_npz, capsys, cache
):
    if cache == "damaged":
        keras_cache.parent.mkdir()
        keras_cache.write_bytes(user_npz.read_bytes()[:-1_000])
    with pytest.raises(MnistDataError, match=r"keras\.datasets\.mnist") as caught:
        labkit.load_mnist()
    assert "LABKIT_DATA_DIR" in str(caught.value) and "name resolution" in str(caught.value)
    if cache == "damaged":  # Keras says so before it tries to download the file again
        assert "so we will re-download the data" in capsys.readouterr().out


def test_what_get_file_returns_is_checked_too(mnist_uint8, tmp_path, monkeypatch):
    import keras

    path = _write_npz(tmp_path / "mnist.npz", _one_pixel_changed(mnist_uint8))
    calls = []
    monkeypatch.delenv("LABKIT_DATA_DIR", raising=False)
    monkeypatch.setattr(keras.utils, "get_file", lambda *a, **k: calls.append((a, k)) or path)
    with pytest.raises(MnistDataError, match="fails its checksum"):
        labkit.load_mnist()
    assert calls == [
        (
            ("mnist.npz", labkit_data.KERAS_MNIST_ORIGIN),
            {"file_hash": labkit_data.KERAS_MNIST_SHA256},
        )
    ]


def test_the_tests_write_mnist_from_keras_when_no_folder_is_named(
    keras_cache, user_npz, mnist, tmp_path, monkeypatch, make_idx_folder_from_the_kit
):
    # What the mnist_dir fixture does on a laptop where only Keras has MNIST: the IDX files it
    # writes must pass the published checksums.
    keras_cache.parent.mkdir()
    shutil.copyfile(user_npz, keras_cache)
    digest = hashlib.sha256(user_npz.read_bytes()).hexdigest()
    monkeypatch.setattr(labkit_data, "KERAS_MNIST_SHA256", digest)
    folder = make_idx_folder_from_the_kit(tmp_path / "written")
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        f"{spec.name}.gz" for spec in MNIST_FILES.values()
    )
    _assert_same_mnist(labkit.load_mnist(folder), mnist)


# --- the validation split, and one_hot ---------------------------------------------------------


def test_train_validation_split_is_seeded_disjoint_and_in_order():
    images = np.arange(100, dtype=np.float32).reshape(50, 2)
    labels = np.arange(50) % 10
    split = labkit_data.train_validation_split
    (x_train, _), (x_val, y_val) = split(images, labels, validation_size=10, seed=3)
    assert x_train.shape == (40, 2) and x_val.shape == (10, 2)
    assert sorted(np.concatenate([x_train[:, 0], x_val[:, 0]]).tolist()) == images[:, 0].tolist()
    assert (np.diff(x_train[:, 0]) > 0).all() and (np.diff(x_val[:, 0]) > 0).all()
    np.testing.assert_array_equal(y_val, (x_val[:, 0] / 2).astype(int) % 10)
    (_, _), (again, _) = split(images, labels, validation_size=10, seed=3)
    (_, _), (other, _) = split(images, labels, validation_size=10, seed=4)
    np.testing.assert_array_equal(x_val, again)
    assert not np.array_equal(x_val, other)


@pytest.mark.parametrize(("size", "num_images"), [(0, 50), (50, 50), (51, 50), (5, 40)])
def test_train_validation_split_rejects_bad_sizes(size, num_images):
    with pytest.raises(ValueError, match=f"Received: {num_images} images, 50 labels and "):
        labkit_data.train_validation_split(
            np.zeros((num_images, 2)), np.zeros(50), validation_size=size, seed=0
        )


def test_one_hot_puts_a_single_one_at_each_digit():
    rows = one_hot(np.array([3, 0, 9], dtype=np.uint8))
    assert rows.dtype == np.float32 and rows.shape == (3, 10)
    np.testing.assert_array_equal(np.argmax(rows, axis=1), [3, 0, 9])
    np.testing.assert_array_equal(rows.sum(axis=1), [1, 1, 1])
    np.testing.assert_array_equal(one_hot([2.0]), one_hot([2]))  # whole floats
    np.testing.assert_array_equal(one_hot(rows), rows)  # already one-hot: unchanged


@pytest.mark.parametrize(
    ("labels", "received"),
    [
        ([10, 3], "values such as [10]"),
        ([-1], "values such as [-1]"),
        ([2.5], "values such as [2.5]"),
        (["3"], "<U1 of shape (1,)"),
        (np.zeros((2, 3)), "float64 of shape (2, 3)"),
        (np.full((2, 10), 0.1), "rows of shape (n, 10) that do not hold a single 1"),
    ],
)
def test_one_hot_refuses_what_is_not_a_digit(labels, received):
    with pytest.raises(ValueError, match="labels must be digits") as caught:
        one_hot(labels)
    assert f"Received: {received}" in str(caught.value)
