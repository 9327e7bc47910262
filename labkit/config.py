"""The lab's constants and run settings, read from the environment in one place.

Every number the notebooks share (image size, batch size, epochs, the validation split) is a
named constant here, and :func:`load_settings` is the only code that reads the kit's environment
variables. Notebooks call it once in their setup cell and pass the values on explicitly.

Environment variables:

``LABKIT_QUICK``
    ``1`` selects quick mode (a small subset of MNIST and few epochs), used by CI and by
    ``make test``; ``0`` or unset selects the full lab settings.
``LABKIT_RETRAIN``
    ``1`` trains every model again instead of loading it from the cache of trained models
    (:func:`labkit.train_or_load`); ``0`` or unset uses the cache.
``LABKIT_CACHE_DIR``
    Where trained models are kept between notebooks; unset, ``.labkit_cache`` in the folder the
    notebook runs in (git ignores it).
``LABKIT_DATA_DIR``
    Where MNIST is: a folder holding the four original MNIST IDX files (raw or ``.gz``);
    Keras's ``mnist.npz`` itself; or a folder holding ``mnist.npz`` (a folder with both is read
    through its IDX files). Every file is checked against the published checksums. Unset, the
    kit reads Keras's cached ``mnist.npz`` (``$KERAS_HOME/datasets``, else
    ``~/.keras/datasets``) offline and checked the same way; only when that file is absent does
    it call ``keras.datasets.mnist.load_data()``, which downloads it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

QUICK_ENV = "LABKIT_QUICK"
DATA_DIR_ENV = "LABKIT_DATA_DIR"
RETRAIN_ENV = "LABKIT_RETRAIN"
CACHE_DIR_ENV = "LABKIT_CACHE_DIR"
DEFAULT_CACHE_DIR = Path(".labkit_cache")

IMAGE_SHAPE = (28, 28)
NUM_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]  # 784
NUM_CLASSES = 10

DEFAULT_SEED = 42
# The lab used 256. 250 divides every split the kit trains and validates on (55,000, 60,000,
# 5,000, 10,000, and quick mode's 5,000 and 1,000), so every batch of an epoch has the same
# shape: XLA compiles the training step once, not a second time for a smaller last batch
# (about 1.7 CPU-seconds of the first epoch with 128). See the README's performance section.
BATCH_SIZE = 250
VALIDATION_SIZE = 5_000  # images held out of the 60,000 training images

FULL_NUM_EPOCHS = 10  # the lab's epochs
QUICK_NUM_EPOCHS = 2
QUICK_LIMIT = 6_000  # images taken from each MNIST split in quick mode
QUICK_VALIDATION_SIZE = 1_000

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True)
class LabSettings:
    """How a notebook or script runs: quick (CI) or full (the lab), and where the data is.

    Attributes:
        quick: True in quick mode (``LABKIT_QUICK=1``).
        num_epochs: Training epochs for the main models.
        limit: Images taken from each MNIST split (``None`` for all of them).
        validation_size: Training images held out for validation.
        batch_size: Mini-batch size, in images.
        seed: The seed passed to :func:`labkit.seed_everything`.
        data_dir: MNIST named by ``LABKIT_DATA_DIR`` (a folder of IDX files, ``mnist.npz``, or a
            folder holding it), or ``None`` for Keras's cache, then its download.
        cache_dir: Where :func:`labkit.train_or_load` keeps trained models
            (``LABKIT_CACHE_DIR``, else ``.labkit_cache``).
        retrain: True when ``LABKIT_RETRAIN=1``: train again instead of loading.
    """

    quick: bool
    num_epochs: int
    limit: int | None
    validation_size: int
    batch_size: int = BATCH_SIZE
    seed: int = DEFAULT_SEED
    data_dir: Path | None = None
    cache_dir: Path = DEFAULT_CACHE_DIR
    retrain: bool = False

    @property
    def mode(self) -> str:
        """``"quick"`` or ``"full"``, for printing."""
        return "quick" if self.quick else "full"

    def describe(self) -> str:
        """The setup cell's line, such as ``full mode: 10 epochs, seed 42, batch size 250``."""
        epochs = f"{self.num_epochs} epoch{'' if self.num_epochs == 1 else 's'}"
        return f"{self.mode} mode: {epochs}, seed {self.seed}, batch size {self.batch_size}"


def parse_flag(name: str, value: str) -> bool:
    """Read an on/off environment variable such as ``LABKIT_QUICK``.

    Raises:
        ValueError: ``value`` is not one of 1/0, true/false, yes/no, on/off (any case).
    """
    word = value.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(
        f"{name} must be 1 or 0 (also true/false, yes/no, on/off). Received: {name}={value!r}. "
        f"Use {name}=1 to turn it on, or unset it."
    )


def data_dir_from_env(environ: Mapping[str, str] | None = None) -> Path | None:
    """The folder named by ``LABKIT_DATA_DIR``, or ``None`` when it is unset or empty."""
    environ = os.environ if environ is None else environ
    value = environ.get(DATA_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    num_epochs: int | None = None,
    seed: int | None = None,
    batch_size: int | None = None,
) -> LabSettings:
    """Read the run settings from the environment (``os.environ`` unless given).

    A notebook's parameters (its cell tagged ``parameters``, which papermill overrides) come in
    as keyword arguments; ``None`` keeps the mode's own value. So ``papermill ... -p EPOCHS 1``
    trains one epoch whatever ``LABKIT_QUICK`` says, while the subset of images still follows
    the mode.

    Args:
        environ: Where to read ``LABKIT_QUICK`` and ``LABKIT_DATA_DIR``.
        num_epochs: Epochs to train instead of the mode's (10 full, 2 quick).
        seed: Seed instead of :data:`DEFAULT_SEED`.
        batch_size: Images per batch instead of :data:`BATCH_SIZE`.

    Raises:
        ValueError: ``LABKIT_QUICK`` is not an on/off word, or an override is not an integer
            (positive; the seed may be 0).

    Example:
        >>> settings = load_settings({"LABKIT_QUICK": "1"})
        >>> settings.mode, settings.num_epochs, settings.limit
        ('quick', 2, 6000)
        >>> load_settings({}, num_epochs=1, seed=7).num_epochs
        1
    """
    environ = os.environ if environ is None else environ
    quick = parse_flag(QUICK_ENV, environ.get(QUICK_ENV, ""))
    overrides = {"num_epochs": num_epochs, "seed": seed, "batch_size": batch_size}
    for name, value in overrides.items():
        smallest = 0 if name == "seed" else 1
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < smallest
        ):
            raise ValueError(
                f"{name} must be an integer of at least {smallest}, or None for the kit's "
                f"setting. Received: {name}={value!r}. In a notebook, set it in the cell "
                f"tagged 'parameters' (or with papermill's -p)."
            )
    settings = LabSettings(
        quick=quick,
        num_epochs=QUICK_NUM_EPOCHS if quick else FULL_NUM_EPOCHS,
        limit=QUICK_LIMIT if quick else None,
        validation_size=QUICK_VALIDATION_SIZE if quick else VALIDATION_SIZE,
        data_dir=data_dir_from_env(environ),
        cache_dir=Path(environ.get(CACHE_DIR_ENV, "").strip() or DEFAULT_CACHE_DIR).expanduser(),
        retrain=parse_flag(RETRAIN_ENV, environ.get(RETRAIN_ENV, "")),
    )
    return replace(settings, **{name: v for name, v in overrides.items() if v is not None})
