"""Loading MNIST: the original IDX files, Keras's ``mnist.npz``, or ``keras.datasets.mnist``.

Introduced in notebook 01 (setup and data). The IDX reader checks each file's magic number,
sizes and SHA-256 against the published MNIST files, so a truncated download or a flipped byte
stops the lab with a message that says which file is wrong and how to fix it, instead of
training on damaged data. Keras's ``mnist.npz`` (named by the student, or found in Keras's cache)
is checked too: against Keras's own SHA-256 of the file, else array by array against the same
published MNIST checksums. Nothing here ever substitutes random or synthetic data.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labkit.config import (
    DATA_DIR_ENV,
    IMAGE_SHAPE,
    NUM_CLASSES,
    NUM_PIXELS,
    LabSettings,
    data_dir_from_env,
)

__all__ = [
    "KERAS_MNIST_NPZ_SHA256",
    "MNIST_FILES",
    "LabData",
    "MnistDataError",
    "MnistFileNotFoundError",
    "idx_content",
    "keras_cache_file",
    "load_lab_data",
    "load_mnist",
    "one_hot",
    "read_idx",
    "read_mnist_npz",
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

KERAS_MNIST_NPZ_NAME = "mnist.npz"
# SHA-256 of the mnist.npz that keras.datasets.mnist downloads and caches: the `file_hash`
# argument of `get_file` in `load_data`, keras/src/datasets/mnist.py (Keras 3.15.1).
KERAS_MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
# Keras's name for each array in mnist.npz, and the MNIST file (key of MNIST_FILES) it holds.
NPZ_ARRAY_KEYS = {
    "x_train": "train_images",
    "y_train": "train_labels",
    "x_test": "test_images",
    "y_test": "test_labels",
}
KERAS_HOME_ENV = "KERAS_HOME"  # Keras's variable for its home folder (default ~/.keras)
_HASH_CHUNK_BYTES = 1 << 20
_ZIP_MAGIC = b"PK\x03\x04"  # the first bytes of an .npz, which is a zip archive


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


def _file_sha256(path: Path) -> str:
    """The SHA-256 of the file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _npz_error(path: Path, digest: str, problem: str) -> MnistDataError:
    """The error for an ``mnist.npz`` that is damaged or not MNIST, with the fix."""
    return MnistDataError(
        f"{path} is not a valid MNIST mnist.npz: {problem}. Its SHA-256 is {digest}; Keras's "
        f"mnist.npz has {KERAS_MNIST_NPZ_SHA256}, and any other copy must hold the four "
        f"published MNIST arrays (x_train, y_train, x_test, y_test; checksums in "
        f"labkit.MNIST_FILES). If it is a copy of Keras's file, move it aside and "
        f"keras.datasets.mnist downloads it again; or point {DATA_DIR_ENV} at Keras's mnist.npz "
        f"or at a folder holding the four MNIST IDX files."
    )


def _check_npz_array(path: Path, digest: str, name: str, array: np.ndarray) -> None:
    """Raise unless ``array`` has the shape and dtype (uint8) of its MNIST file."""
    spec = MNIST_FILES[NPZ_ARRAY_KEYS[name]]
    if array.shape != spec.shape:
        problem = f"array {name} has shape {array.shape}, expected {spec.shape}"
        raise _npz_error(path, digest, problem)
    if array.dtype != np.uint8:
        raise _npz_error(path, digest, f"array {name} has dtype {array.dtype}, expected uint8")


def _read_npz_arrays(path: Path, digest: str) -> dict[str, np.ndarray]:
    """The four arrays of an ``.npz`` file, keyed by Keras's names; never unpickles anything."""
    with path.open("rb") as stream:
        starts_like_npz = stream.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC
    # Checked here, not left to np.load: on a non-zip file it would try (and refuse) pickle.
    if not (starts_like_npz and zipfile.is_zipfile(path)):
        problem = "it is not a zip archive (an .npz file is one), so it is truncated or not an npz"
        raise _npz_error(path, digest, problem)
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for name in NPZ_ARRAY_KEYS:
                if name not in npz.files:
                    problem = f"array {name} is missing (it holds: {', '.join(npz.files)})"
                    raise _npz_error(path, digest, problem)
                arrays[name] = npz[name]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        problem = f"it could not be read as an npz of plain arrays ({err})"
        raise _npz_error(path, digest, problem) from err
    return arrays


def idx_content(array: np.ndarray, spec: IdxFile) -> bytes:
    """``array`` as the content of an (uncompressed) IDX file of kind ``spec``.

    The IDX format: the magic number, then each dimension, as 4-byte big-endian integers, then
    the ``uint8`` values in C order. The published checksums in :data:`MNIST_FILES` are of this.
    """
    header = spec.magic.to_bytes(4, "big")
    header += b"".join(size.to_bytes(4, "big") for size in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def read_mnist_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Read Keras's ``mnist.npz`` (or a copy made by the student) and check it is MNIST.

    A file whose SHA-256 equals Keras's (:data:`KERAS_MNIST_NPZ_SHA256`) is Keras's own; any
    other file is accepted only when each array, written out as its IDX file, has the published
    SHA-256 of that file (:data:`MNIST_FILES`). Pickled (object) arrays are never loaded.

    Args:
        path: The ``.npz`` file, holding ``x_train`` ``(60000, 28, 28)``, ``y_train``
            ``(60000,)``, ``x_test`` ``(10000, 28, 28)`` and ``y_test`` ``(10000,)``, all uint8.

    Returns:
        The four ``uint8`` arrays keyed as :data:`MNIST_FILES` (``"train_images"``, ...):
        images with values 0 to 255, labels 0 to 9.

    Raises:
        MnistFileNotFoundError: The file does not exist.
        MnistDataError: The file is truncated, not an npz, lacks an array, has an array of the
            wrong shape or dtype or an object array, or its content is not the published MNIST.
    """
    path = Path(path)
    if not path.is_file():
        raise MnistFileNotFoundError(f"MNIST file not found: {path}.")
    digest = _file_sha256(path)
    arrays = _read_npz_arrays(path, digest)
    for name, array in arrays.items():
        _check_npz_array(path, digest, name, array)
    if digest != KERAS_MNIST_NPZ_SHA256:
        for name, array in arrays.items():
            spec = MNIST_FILES[NPZ_ARRAY_KEYS[name]]
            if hashlib.sha256(idx_content(array, spec)).hexdigest() != spec.sha256:
                problem = f"array {name} differs from the published MNIST {spec.name}"
                raise _npz_error(path, digest, problem)
    return {NPZ_ARRAY_KEYS[name]: array for name, array in arrays.items()}


# The names the four MNIST IDX files go by, raw or gzipped.
_IDX_FILE_NAMES = {name for spec in MNIST_FILES.values() for name in (spec.name, f"{spec.name}.gz")}


def _has_idx_files(folder: Path) -> bool:
    """Whether the folder holds any of the four MNIST IDX files (raw or ``.gz``)."""
    return any((folder / name).is_file() for name in _IDX_FILE_NAMES)


def _is_idx_file(path: Path) -> bool:
    """Whether ``path`` is an MNIST IDX file: by its name, or by its gzip or IDX magic number."""
    if path.name in _IDX_FILE_NAMES:
        return True
    with path.open("rb") as stream:
        head = stream.read(4)
    magics = {spec.magic for spec in MNIST_FILES.values()}
    return head[:2] == b"\x1f\x8b" or (len(head) == 4 and int.from_bytes(head, "big") in magics)


def _load_named_source(source: Path) -> dict[str, np.ndarray]:
    """MNIST from ``data_dir`` or ``LABKIT_DATA_DIR``: an npz file, or a folder (IDX first)."""
    if source.is_file() and _is_idx_file(source):
        raise MnistDataError(
            f"{source} is one MNIST IDX file, not a folder: name the folder that holds the four "
            f"IDX files, {source.parent} (the data_dir argument, labkit run --data-dir, or "
            f"{DATA_DIR_ENV})."
        )
    if source.is_file():
        return read_mnist_npz(source)
    if source.suffix == ".npz" and not source.exists():
        raise MnistFileNotFoundError(
            f"MNIST file not found: {source} (from the data_dir argument or {DATA_DIR_ENV}). "
            f"Point {DATA_DIR_ENV} at Keras's mnist.npz or at a folder holding the four MNIST "
            f"IDX files, or unset it to load MNIST through keras.datasets.mnist."
        )
    if source.is_dir() and not _has_idx_files(source):
        if (source / KERAS_MNIST_NPZ_NAME).is_file():
            return read_mnist_npz(source / KERAS_MNIST_NPZ_NAME)
        present = sorted(path.name for path in source.iterdir())
        raise MnistFileNotFoundError(
            f"MNIST files missing: {source} holds neither the four MNIST IDX files "
            f"({', '.join(spec.name + '[.gz]' for spec in MNIST_FILES.values())}) nor "
            f"{KERAS_MNIST_NPZ_NAME} (it holds: {', '.join(present) or 'nothing'}). Copy them "
            f"there, or point {DATA_DIR_ENV} at the folder that has them."
        )
    return _load_idx_folder(source)


def _keras_can_write(folder: Path) -> bool:
    """Whether Keras could create or write ``folder`` (else it caches under a temp folder)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return os.access(existing, os.W_OK)


def _keras_temp_folder() -> Path:
    """Keras's fallback base folder: ``/tmp`` where it exists, else the system temp folder."""
    return Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())


def keras_cache_file(environ: Mapping[str, str] | None = None) -> Path:
    """Where ``keras.datasets.mnist`` caches MNIST: ``<keras home>/datasets/mnist.npz``.

    Follows Keras 3.15: keras home is ``$KERAS_HOME`` when that variable is set (``~``
    expanded), else ``~/.keras`` (``keras/src/backend/config.py``); ``get_file`` stores files
    in its ``datasets`` subfolder, and uses ``/tmp/.keras`` instead when keras home is not
    writable (``keras/src/utils/file_utils.py``). Nothing is created, and keras is not imported.

    Args:
        environ: Where to read ``KERAS_HOME`` (``os.environ`` unless given). The home folder
            ``~`` comes from :meth:`pathlib.Path.home` (``HOME``, or ``USERPROFILE`` on Windows).

    Returns:
        The path of the cached ``mnist.npz``, which may not exist.
    """
    environ = os.environ if environ is None else environ
    if KERAS_HOME_ENV in environ:
        keras_home = os.path.expanduser(environ[KERAS_HOME_ENV])
    else:
        user_home = Path.home()
        base = user_home if os.access(user_home, os.W_OK) else _keras_temp_folder()
        keras_home = str(base / ".keras")
    # As get_file does: an empty or unwritable keras home means a .keras folder under /tmp.
    if not keras_home or not _keras_can_write(Path(keras_home)):
        keras_home = str(_keras_temp_folder() / ".keras")
    return Path(keras_home) / "datasets" / KERAS_MNIST_NPZ_NAME


def _load_keras_mnist(cache_file: Path) -> dict[str, np.ndarray]:
    """MNIST through ``keras.datasets.mnist`` (a download when ``cache_file`` is absent)."""
    import keras  # only on this path: reading files needs no TensorFlow

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as err:  # keras raises bare Exception on a failed download
        raise MnistDataError(
            f"Could not load MNIST through keras.datasets.mnist (no cache at {cache_file}, and "
            f"its download failed): {err}. If this machine is offline, copy the four MNIST IDX "
            f"files (or Keras's mnist.npz) into a folder and set {DATA_DIR_ENV} to that folder."
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
                f"{MNIST_FILES[key].shape}. Delete {cache_file} to download it again."
            )
    return arrays


def _load_default_source() -> dict[str, np.ndarray]:
    """MNIST with no folder named: Keras's cached mnist.npz, verified, else Keras's download."""
    cache_file = keras_cache_file()
    if cache_file.is_file():
        return read_mnist_npz(cache_file)
    return _load_keras_mnist(cache_file)


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

    Sources, in order:

    1. ``data_dir``, else the path in the environment variable ``LABKIT_DATA_DIR``: a folder of
       the four original IDX files (``train-images-idx3-ubyte`` and so on, raw or ``.gz``);
       Keras's ``mnist.npz`` itself; or a folder holding ``mnist.npz`` and no IDX file (a
       folder with both is read through its IDX files).
    2. Else Keras's cache, ``<keras home>/datasets/mnist.npz`` (keras home is ``$KERAS_HOME``,
       else ``~/.keras``; see :func:`keras_cache_file`), read here: offline, without Keras.
    3. Only when that file is absent, ``keras.datasets.mnist.load_data()``, which downloads it.

    Every file is verified: IDX files against the published MNIST checksums, an ``mnist.npz``
    against Keras's SHA-256 or, array by array, against the same published checksums (see
    :func:`read_mnist_npz`). A damaged file is an error, never a silent re-download.

    Args:
        data_dir: Folder of MNIST IDX files, ``mnist.npz`` or a folder holding it; ``None`` to
            use ``LABKIT_DATA_DIR``, else Keras's cache or download.
        flatten: Return images as 784-long vectors (``True``) or 28x28 arrays.
        limit: Take at most this many images from each split: a fixed random subset (the same
            on every call and machine), kept in file order. ``None`` takes all of them.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: images ``float32`` of shape ``(n, 784)`` or
        ``(n, 28, 28)`` with pixel values in [0, 1]; labels ``uint8`` of shape ``(n,)``, digits
        0 to 9. In full, n is 60,000 for training and 10,000 for test.

    Raises:
        MnistFileNotFoundError: The folder, the npz file or one of the IDX files is missing.
        MnistDataError: A file is corrupt, truncated or fails its checksum (the cached
            ``mnist.npz`` included), or the Keras download fails (for example offline with no
            cache).
        ValueError: ``limit`` is not a positive integer.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_mnist("../shared/data/mnist", limit=100)
        >>> x_train.shape, x_train.dtype, y_test.shape
        ((100, 784), dtype('float32'), (100,))
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None. Received: limit={limit!r}.")
    source = Path(data_dir).expanduser() if data_dir is not None else data_dir_from_env()
    arrays = _load_named_source(source) if source is not None else _load_default_source()

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


def one_hot(labels) -> np.ndarray:
    """Digits as one-hot rows: ``3`` becomes ``[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]`` (float32).

    The conditional VAE of notebook 07 gives these rows to its encoder and decoder. Rows that
    are already one-hot, shape ``(n, 10)``, are returned as float32 unchanged.

    Args:
        labels: Digits 0 to 9, shape ``(n,)`` (integers, or whole floats), or one-hot rows.

    Raises:
        ValueError: A label is not a whole number from 0 to 9, or the rows are not one-hot.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == NUM_CLASSES:
        if not np.all((labels == 0) | (labels == 1)) or not np.all(labels.sum(axis=1) == 1):
            raise ValueError(
                "one-hot labels must hold a single 1 per row and 0 elsewhere. Pass the digits "
                "themselves (shape (n,)) to have them encoded."
            )
        return labels.astype(np.float32)
    if labels.ndim != 1:
        raise ValueError(
            f"labels must be digits of shape (n,) or one-hot rows of shape (n, {NUM_CLASSES}). "
            f"Received: shape {labels.shape}."
        )
    whole = np.issubdtype(labels.dtype, np.number) and np.all(np.mod(labels, 1) == 0)
    if not whole or np.any((labels < 0) | (labels >= NUM_CLASSES)):
        bad = labels[~((labels >= 0) & (labels < NUM_CLASSES))] if whole else labels
        raise ValueError(
            f"labels must be whole numbers from 0 to {NUM_CLASSES - 1}. Received, for example: "
            f"{bad.ravel()[:3].tolist()}."
        )
    return np.eye(NUM_CLASSES, dtype=np.float32)[labels.astype(np.int64)]


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
