"""MNIST for the labs, through Keras or from a folder, checked against the published files."""

from __future__ import annotations

import gzip
import hashlib
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labkit.config import DATA_DIR_ENV, IMAGE_SHAPE, NUM_CLASSES, LabSettings, data_dir_from_env

SUBSET_SEED = 0  # the seed of `limit` subsets: every notebook and test sees the same N images
# What keras.datasets.mnist.load_data gives keras.utils.get_file (keras/src/datasets/mnist.py).
KERAS_MNIST_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
NPZ_NAME = "mnist.npz"
Split = tuple[np.ndarray, np.ndarray]


class MnistDataError(RuntimeError):
    """MNIST could not be loaded: a file is damaged or not MNIST, or the download failed."""


class MnistFileNotFoundError(MnistDataError, FileNotFoundError):
    """The MNIST path, or one of its files, does not exist."""


@dataclass(frozen=True)
class IdxFile:
    """One MNIST IDX file: its name, array shape and the SHA-256 of its uncompressed bytes."""

    name: str
    shape: tuple[int, ...]
    sha256: str

    @property
    def magic(self) -> int:
        return 0x800 + len(self.shape)  # IDX: uint8 data (0x08), then the number of dimensions

    @property
    def header(self) -> bytes:
        """The file's IDX header: its magic number, then its sizes, big-endian."""
        return b"".join(size.to_bytes(4, "big") for size in (self.magic, *self.shape))


# The published MNIST files, keyed by Keras's names for the arrays of mnist.npz.
# fmt: off
MNIST_FILES = {
    "x_train": IdxFile("train-images-idx3-ubyte", (60_000, *IMAGE_SHAPE),
                       "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "y_train": IdxFile("train-labels-idx1-ubyte", (60_000,),
                       "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "x_test": IdxFile("t10k-images-idx3-ubyte", (10_000, *IMAGE_SHAPE),
                      "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "y_test": IdxFile("t10k-labels-idx1-ubyte", (10_000,),
                      "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
# fmt: on
IDX_NAMES = {name for spec in MNIST_FILES.values() for name in (spec.name, f"{spec.name}.gz")}
_SOURCES = "a folder holding the four MNIST IDX files (raw or .gz) or Keras's mnist.npz"


def _damaged(where: Path | str, problem: str, named: str) -> MnistDataError:
    return MnistDataError(
        f"{where} is not the published MNIST: {problem}. Replace it with a fresh copy of the "
        f"original file (checksums in labkit.data.MNIST_FILES), set {named} to {_SOURCES}, or "
        f"leave {named} out to load MNIST through keras.datasets.mnist."
    )


def _checked(array: np.ndarray, spec: IdxFile, where: Path | str, named: str) -> np.ndarray:
    """``array``, once its shape, dtype and SHA-256 are those of the published ``spec``."""
    if array.shape != spec.shape or array.dtype != np.uint8:
        problem = f"it holds {array.dtype} {array.shape}, not uint8 {spec.shape}"
    elif (digest := hashlib.sha256(spec.header + array.tobytes()).hexdigest()) != spec.sha256:
        problem = f"it fails its checksum (SHA-256 {digest}; {spec.name}: {spec.sha256})"
    else:
        return array
    raise _damaged(where, problem, named)


def _read_idx(path: Path, spec: IdxFile, named: str) -> np.ndarray:
    """One IDX file (raw or ``.gz``) as a uint8 array, checked against the published ``spec``."""
    content = path.read_bytes()
    if path.suffix == ".gz":
        try:
            content = gzip.decompress(content)
        except (EOFError, OSError, zlib.error) as err:
            raise _damaged(path, f"it is truncated or corrupt ({err})", named) from err
    header_size, size = len(spec.header), len(spec.header) + int(np.prod(spec.shape))
    magic, *shape = (int.from_bytes(content[at : at + 4], "big") for at in range(0, header_size, 4))
    if (magic, tuple(shape), len(content)) != (spec.magic, spec.shape, size):
        found = f"magic number {magic:#010x}, dimensions {tuple(shape)}, {len(content)} bytes"
        expected = f"{spec.magic:#010x}, {spec.shape}, {size} bytes"
        problem = f"its IDX header and length ({found}) are not {spec.name}'s ({expected})"
        raise _damaged(path, f"{problem}: it is truncated, or another file", named)
    array = np.frombuffer(content, np.uint8, offset=header_size).reshape(spec.shape)
    return _checked(array, spec, path, named)


def _read_npz(path: Path, named: str) -> dict[str, np.ndarray]:
    """The four checked arrays of an ``mnist.npz``; pickled objects are never loaded."""
    if not zipfile.is_zipfile(path):  # else numpy's error would suggest unpickling it
        raise _damaged(path, "it is not a zip archive, as an .npz is (truncated?)", named)
    try:
        with np.load(path, allow_pickle=False) as npz:
            if missing := [key for key in MNIST_FILES if key not in npz.files]:
                problem = f"array {missing[0]} is missing (it holds: {', '.join(npz.files)})"
                raise _damaged(path, problem, named)
            arrays = {key: npz[key] for key in MNIST_FILES}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise _damaged(path, f"it holds other than plain arrays ({err})", named) from err
    return {
        key: _checked(arrays[key], spec, f"{path} (array {key})", named)
        for key, spec in MNIST_FILES.items()
    }


def check_data_path(source: Path, named: str) -> None:
    """Raise the error a user should see when ``source`` (the value of ``named``) does not exist
    or is one IDX file rather than its folder; the grader's command calls it before TensorFlow."""
    if not source.exists():
        raise MnistFileNotFoundError(
            f"MNIST not found: {source} does not exist. Set {named} to {_SOURCES}, or leave "
            f"{named} out to load MNIST through keras.datasets.mnist."
        )
    if source.is_file():
        with source.open("rb") as stream:
            head = stream.read(4)  # gzip's magic number, or an IDX file's
        if source.name in IDX_NAMES or head[:2] == b"\x1f\x8b" or head[:3] == b"\0\0\x08":
            raise MnistDataError(
                f"{source} is one MNIST IDX file, not a folder: set {named} to the folder that "
                f"holds the four IDX files, {source.parent}."
            )


def _load_named(source: Path, named: str) -> dict[str, np.ndarray]:
    """MNIST from a folder of IDX files, a folder holding ``mnist.npz``, or that file."""
    check_data_path(source, named)
    if source.is_file():
        return _read_npz(source, named)
    found = {
        key: [path for path in (source / spec.name, source / f"{spec.name}.gz") if path.is_file()]
        for key, spec in MNIST_FILES.items()
    }
    if not any(found.values()) and (source / NPZ_NAME).is_file():
        return _read_npz(source / NPZ_NAME, named)
    if missing := [f"{MNIST_FILES[key].name}[.gz]" for key, paths in found.items() if not paths]:
        npz = "" if any(found.values()) else f" nor {NPZ_NAME}"
        holds = ", ".join(sorted(path.name for path in source.iterdir())) or "nothing"
        raise MnistFileNotFoundError(
            f"MNIST files missing: {source} has no {', '.join(missing)}{npz} (it holds: "
            f"{holds}). Copy them there, or set {named} to {_SOURCES}."
        )
    return {key: _read_idx(found[key][0], spec, named) for key, spec in MNIST_FILES.items()}


def keras_mnist_file() -> Path:
    """Keras's ``mnist.npz``, found in its cache or downloaded, and hash-checked, by
    ``keras.utils.get_file``. Raises MnistDataError when the download fails."""
    import keras  # here, not above: reading a folder needs no TensorFlow

    try:
        path = keras.utils.get_file(NPZ_NAME, KERAS_MNIST_ORIGIN, file_hash=KERAS_MNIST_SHA256)
    except Exception as err:  # Keras raises a bare Exception when the download fails
        raise MnistDataError(
            f"Could not load MNIST through keras.datasets.mnist: Keras's cache has no valid "
            f"{NPZ_NAME} and the download failed ({err}). If this machine is offline, copy "
            f"MNIST's four IDX files (or mnist.npz) into a folder and set {DATA_DIR_ENV} to it."
        ) from err
    return Path(path)


def load_mnist(
    data_dir: str | Path | None = None, *, flatten: bool = True, limit: int | None = None
) -> tuple[Split, Split]:
    """Load MNIST: float32 images in [0, 1], ``(n, 784)`` (``(n, 28, 28)`` unless ``flatten``),
    and uint8 labels 0 to 9, as ``(x_train, y_train), (x_test, y_test)``.

    From ``data_dir``, else ``LABKIT_DATA_DIR`` (a folder of the four IDX files, raw or ``.gz``,
    ``mnist.npz`` or a folder holding it), else :func:`keras_mnist_file`. ``limit`` keeps that
    many images of each split, the same ones every time. Raises MnistDataError or ValueError.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None. Received: limit={limit!r}.")
    source, named = data_dir_from_env(), DATA_DIR_ENV
    if data_dir is not None and Path(data_dir).expanduser() != source:
        source, named = Path(data_dir).expanduser(), "data_dir"
    arrays = _load_named(source, named) if source else _read_npz(keras_mnist_file(), DATA_DIR_ENV)
    splits = []
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        keep = np.arange(len(labels))
        if limit is not None and limit < len(labels):
            keep = np.sort(np.random.default_rng(SUBSET_SEED).permutation(len(labels))[:limit])
        pixels = images[keep].astype(np.float32) / np.float32(255.0)
        if flatten:
            pixels = pixels.reshape(len(keep), -1)  # 784 pixels
        splits.append((pixels, labels[keep].astype(np.uint8)))
    return splits[0], splits[1]


def train_validation_split(
    images: np.ndarray, labels: np.ndarray, *, validation_size: int, seed: int
) -> tuple[Split, Split]:
    """``(x_train, y_train), (x_validation, y_validation)``: ``validation_size`` examples
    chosen by ``seed`` held out, both parts in their order. Raises ValueError for bad sizes."""
    if len(images) != len(labels) or not 0 < validation_size < len(labels):
        raise ValueError(
            "images and labels must have the same length n, and validation_size must be from 1 "
            f"to n - 1. Received: {len(images)} images, {len(labels)} labels and "
            f"validation_size={validation_size}."
        )
    order = np.random.default_rng(seed).permutation(len(labels))
    train, validation = np.sort(order[validation_size:]), np.sort(order[:validation_size])
    return (images[train], labels[train]), (images[validation], labels[validation])


def one_hot(labels) -> np.ndarray:
    """Digits 0 to 9, shape ``(n,)``, as float32 one-hot rows ``(n, 10)``: 3 becomes
    ``[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]``. One-hot rows come back as they are, in float32.
    Raises ValueError for a label that is not a whole number 0 to 9, or rows not one-hot."""
    labels = np.asarray(labels)
    digits = range(NUM_CLASSES)
    if labels.ndim == 2 and labels.shape[1] == NUM_CLASSES:
        if np.isin(labels, (0, 1)).all() and (labels.sum(axis=1) == 1).all():
            return labels.astype(np.float32)
        problem = "rows of shape (n, 10) that do not hold a single 1 (and 0 elsewhere)"
    elif labels.ndim != 1 or not np.issubdtype(labels.dtype, np.number):
        problem = f"{labels.dtype} of shape {labels.shape}"
    elif not np.isin(labels, digits).all():
        problem = f"values such as {labels[~np.isin(labels, digits)][:3].tolist()}"
    else:
        return np.eye(NUM_CLASSES, dtype=np.float32)[labels.astype(np.int64)]
    raise ValueError(
        f"labels must be digits (whole numbers from 0 to {NUM_CLASSES - 1}) of shape (n,), or "
        f"one-hot rows of shape (n, {NUM_CLASSES}). Received: {problem}."
    )


@dataclass(frozen=True)
class LabData:
    """The three splits every notebook uses: images ``(n, 784)`` float32 in [0, 1], labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def describe(self) -> str:
        """One line per split: how many images, and their shape."""
        splits = {"train": self.x_train, "validation": self.x_val, "test": self.x_test}
        return "\n".join(
            f"{name:<10} {len(images):>6} images of {images.shape[1]} pixels"
            for name, images in splits.items()
        )


def load_lab_data(settings: LabSettings) -> LabData:
    """MNIST as ``settings`` say (source, quick mode's subset), with ``settings.validation_size``
    training images held out by ``settings.seed``; the test images stay apart."""
    (x_train, y_train), (x_test, y_test) = load_mnist(settings.data_dir, limit=settings.limit)
    (x_train, y_train), (x_val, y_val) = train_validation_split(
        x_train, y_train, validation_size=settings.validation_size, seed=settings.seed
    )
    return LabData(x_train, y_train, x_val, y_val, x_test, y_test)
