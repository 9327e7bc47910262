"""Loading MNIST: the original IDX files from a folder, or ``keras.datasets.mnist``.

Introduced in notebook 01 (setup and data). The IDX reader checks each file's magic number,
sizes and SHA-256 against the published MNIST files, so a truncated download or a flipped byte
stops the lab with a message that says which file is wrong and how to fix it, instead of
training on damaged data. Nothing here ever substitutes random or synthetic data.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labkit.config import DATA_DIR_ENV, IMAGE_SHAPE, NUM_PIXELS, LabSettings, data_dir_from_env

__all__ = [
    "MNIST_FILES",
    "LabData",
    "MnistDataError",
    "MnistFileNotFoundError",
    "load_lab_data",
    "load_mnist",
    "read_idx",
    "train_validation_split",
]

# A fixed seed for `limit` subsets, independent of the experiment's seed, so that every notebook
# and test that asks for `limit=N` sees the same N images.
SUBSET_SEED = 0

_IDX_IMAGES_MAGIC = 0x00000803  # uint8 data, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801  # uint8 data, 1 dimension
_FIX_HINT = (
    "Replace it with a fresh copy of the original MNIST file (the checksums are listed in "
    "labkit.MNIST_FILES), or unset LABKIT_DATA_DIR to load MNIST through keras.datasets.mnist."
)


class MnistDataError(RuntimeError):
    """MNIST could not be loaded: a file is corrupt, truncated or not the published one."""


class MnistFileNotFoundError(MnistDataError, FileNotFoundError):
    """The MNIST folder, or one of its four files, does not exist."""


@dataclass(frozen=True)
class IdxFile:
    """One of the four MNIST files: its name, IDX magic number, shape and published SHA-256."""

    name: str
    magic: int
    shape: tuple[int, ...]
    sha256: str

    @property
    def kind(self) -> str:
        return "image" if self.magic == _IDX_IMAGES_MAGIC else "label"


MNIST_FILES: dict[str, IdxFile] = {
    "train_images": IdxFile(
        "train-images-idx3-ubyte",
        _IDX_IMAGES_MAGIC,
        (60_000, *IMAGE_SHAPE),
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "train_labels": IdxFile(
        "train-labels-idx1-ubyte",
        _IDX_LABELS_MAGIC,
        (60_000,),
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "test_images": IdxFile(
        "t10k-images-idx3-ubyte",
        _IDX_IMAGES_MAGIC,
        (10_000, *IMAGE_SHAPE),
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "test_labels": IdxFile(
        "t10k-labels-idx1-ubyte",
        _IDX_LABELS_MAGIC,
        (10_000,),
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}

Split = tuple[np.ndarray, np.ndarray]


def _read_bytes(path: Path) -> bytes:
    """The file's uncompressed content (gunzipped when its name ends in ``.gz``)."""
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise MnistDataError(
            f"{path} is truncated or corrupt: it could not be decompressed ({err}). {_FIX_HINT}"
        ) from err


def read_idx(path: str | Path, expected: IdxFile) -> np.ndarray:
    """Read one IDX file (raw or ``.gz``) and check it against the published MNIST file.

    Args:
        path: The file to read.
        expected: Which MNIST file it should be, from :data:`MNIST_FILES`.

    Returns:
        A ``uint8`` array of shape ``expected.shape``: images ``(n, 28, 28)`` with values 0 to
        255, or labels ``(n,)`` with values 0 to 9.

    Raises:
        MnistFileNotFoundError: The file does not exist.
        MnistDataError: The file is not valid gzip, has the wrong magic number or sizes, is
            truncated, or its content's SHA-256 differs from the published one.
    """
    path = Path(path)
    if not path.is_file():
        raise MnistFileNotFoundError(f"MNIST file not found: {path}.")
    content = _read_bytes(path)

    header_size = 4 + 4 * len(expected.shape)
    if len(content) < header_size:
        raise MnistDataError(
            f"{path} is truncated: {len(content)} bytes, shorter than the {header_size}-byte "
            f"IDX header. {_FIX_HINT}"
        )
    magic = int.from_bytes(content[:4], "big")
    if magic != expected.magic:
        raise MnistDataError(
            f"{path} is not an IDX {expected.kind} file: its magic number is {magic:#010x}, "
            f"expected {expected.magic:#010x} for {expected.name}. The file is corrupt or a "
            f"different file under this name. {_FIX_HINT}"
        )
    dims = tuple(
        int.from_bytes(content[4 + 4 * axis : 8 + 4 * axis], "big")
        for axis in range(len(expected.shape))
    )
    if dims != expected.shape:
        raise MnistDataError(
            f"{path} has IDX dimensions {dims}, expected {expected.shape} for {expected.name}. "
            f"{_FIX_HINT}"
        )
    payload_size = int(np.prod(expected.shape))
    if len(content) != header_size + payload_size:
        raise MnistDataError(
            f"{path} is truncated or has extra bytes: {len(content) - header_size} data bytes, "
            f"expected {payload_size}. {_FIX_HINT}"
        )
    digest = hashlib.sha256(content).hexdigest()
    if digest != expected.sha256:
        raise MnistDataError(
            f"{path} fails its checksum: the SHA-256 of its content is {digest}, but the "
            f"published MNIST {expected.name} has {expected.sha256}. The file is corrupt or "
            f"modified. {_FIX_HINT}"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header_size).reshape(expected.shape)


def _find_idx_file(folder: Path, expected: IdxFile) -> Path:
    """The raw file if present, else its ``.gz``; a clear error when neither exists."""
    for candidate in (folder / expected.name, folder / f"{expected.name}.gz"):
        if candidate.is_file():
            return candidate
    present = sorted(path.name for path in folder.iterdir())
    raise MnistFileNotFoundError(
        f"MNIST file missing: neither {expected.name} nor {expected.name}.gz is in {folder} "
        f"(it holds: {', '.join(present) or 'nothing'}). The folder needs all four MNIST IDX "
        f"files: {', '.join(spec.name + '[.gz]' for spec in MNIST_FILES.values())}."
    )


def _load_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    if not folder.is_dir():
        raise MnistFileNotFoundError(
            f"MNIST folder not found: {folder} (from the data_dir argument or {DATA_DIR_ENV}). "
            f"Point {DATA_DIR_ENV} at a folder holding the four MNIST IDX files, or unset it to "
            f"load MNIST through keras.datasets.mnist."
        )
    return {key: read_idx(_find_idx_file(folder, spec), spec) for key, spec in MNIST_FILES.items()}


def _load_keras_mnist() -> dict[str, np.ndarray]:
    import keras  # only on this path: reading IDX files needs no TensorFlow

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as err:  # keras raises bare Exception on a failed download
        raise MnistDataError(
            f"Could not load MNIST through keras.datasets.mnist (its cache in "
            f"~/.keras/datasets, then its download): {err}. If this machine is offline, copy "
            f"the four MNIST IDX files into a folder and set {DATA_DIR_ENV} to that folder."
        ) from err
    arrays = {
        "train_images": x_train,
        "train_labels": y_train,
        "test_images": x_test,
        "test_labels": y_test,
    }
    for key, array in arrays.items():
        if array.shape != MNIST_FILES[key].shape:
            raise MnistDataError(
                f"keras.datasets.mnist returned {key} of shape {array.shape}, expected "
                f"{MNIST_FILES[key].shape}. Delete ~/.keras/datasets/mnist.npz to download it "
                f"again."
            )
    return arrays


def _subset_indices(size: int, limit: int | None) -> np.ndarray:
    if limit is None or limit >= size:
        return np.arange(size)
    rng = np.random.default_rng(SUBSET_SEED)
    return np.sort(rng.permutation(size)[:limit])


def load_mnist(
    data_dir: str | Path | None = None,
    *,
    flatten: bool = True,
    limit: int | None = None,
) -> tuple[Split, Split]:
    """Load MNIST as float32 images in [0, 1] and integer labels.

    Sources, in order: ``data_dir``; else the folder named by the environment variable
    ``LABKIT_DATA_DIR``; else ``keras.datasets.mnist`` (its cache, then its download). A folder
    must hold the four original IDX files (``train-images-idx3-ubyte`` and so on, raw or
    ``.gz``); each is checked against the published checksums.

    Args:
        data_dir: Folder of MNIST IDX files; ``None`` to use ``LABKIT_DATA_DIR`` or Keras.
        flatten: Return images as 784-long vectors (``True``) or 28x28 arrays.
        limit: Take at most this many images from each split: a fixed random subset (the same
            on every call and machine), kept in file order. ``None`` takes all of them.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: images ``float32`` of shape ``(n, 784)`` or
        ``(n, 28, 28)`` with pixel values in [0, 1]; labels ``uint8`` of shape ``(n,)``, digits
        0 to 9. In full, n is 60,000 for training and 10,000 for test.

    Raises:
        MnistFileNotFoundError: The folder or one of its files is missing.
        MnistDataError: A file is corrupt, truncated or fails its checksum, or the Keras
            download fails (for example offline with no cache).
        ValueError: ``limit`` is not a positive integer.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_mnist("../shared/data/mnist", limit=100)
        >>> x_train.shape, x_train.dtype, y_test.shape
        ((100, 784), dtype('float32'), (100,))
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None. Received: limit={limit!r}.")
    folder = Path(data_dir).expanduser() if data_dir is not None else data_dir_from_env()
    arrays = _load_idx_folder(folder) if folder is not None else _load_keras_mnist()

    splits = []
    for prefix in ("train", "test"):
        images, labels = arrays[f"{prefix}_images"], arrays[f"{prefix}_labels"]
        keep = _subset_indices(len(labels), limit)
        pixels = images[keep].astype(np.float32) / np.float32(255.0)
        if flatten:
            pixels = pixels.reshape(len(keep), NUM_PIXELS)
        splits.append((pixels, labels[keep].astype(np.uint8)))
    return splits[0], splits[1]


def train_validation_split(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    validation_size: int,
    seed: int,
) -> tuple[Split, Split]:
    """Hold out a random, reproducible validation set from the training data.

    The test set is never touched: it stays held out for the final numbers.

    Args:
        images: Training images, first axis the examples.
        labels: Their labels, shape ``(n,)``.
        validation_size: How many examples to hold out (1 to n - 1).
        seed: Seed of the shuffle; the same seed gives the same split.

    Returns:
        ``(x_train, y_train), (x_validation, y_validation)``.

    Raises:
        ValueError: Lengths differ, or ``validation_size`` is out of range.
    """
    if len(images) != len(labels):
        raise ValueError(
            f"images and labels must have the same length. Received: {len(images)} images and "
            f"{len(labels)} labels."
        )
    if not 0 < validation_size < len(labels):
        raise ValueError(
            f"validation_size must be between 1 and {len(labels) - 1} for {len(labels)} "
            f"examples. Received: validation_size={validation_size}."
        )
    order = np.random.default_rng(seed).permutation(len(labels))
    train, validation = np.sort(order[validation_size:]), np.sort(order[:validation_size])
    return (images[train], labels[train]), (images[validation], labels[validation])


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
        return "\n".join(
            f"{name:<10} {len(images):>6} images of {images.shape[1]} pixels"
            for name, images in [
                ("train", self.x_train),
                ("validation", self.x_val),
                ("test", self.x_test),
            ]
        )


def load_lab_data(settings: LabSettings) -> LabData:
    """MNIST for a notebook: loaded as ``settings`` says, with a validation split held out.

    Training and validation come from MNIST's 60,000 training images (``settings.limit`` of them
    in quick mode), split by ``settings.seed``; the test set stays held out for final numbers.
    """
    (x_train, y_train), (x_test, y_test) = load_mnist(settings.data_dir, limit=settings.limit)
    (x_train, y_train), (x_val, y_val) = train_validation_split(
        x_train, y_train, validation_size=settings.validation_size, seed=settings.seed
    )
    return LabData(x_train, y_train, x_val, y_val, x_test, y_test)
