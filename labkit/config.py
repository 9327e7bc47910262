"""The lab's constants, and its run settings read from the environment in one place.

Variables: ``LABKIT_QUICK=1`` (quick mode), ``LABKIT_RETRAIN=1`` (train again instead of loading),
``LABKIT_CACHE_DIR`` (trained models) and ``LABKIT_DATA_DIR`` (MNIST; unset: Keras's cache).
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
# Not the lab's 256: 250 divides every split, so XLA compiles one batch shape, not two.
BATCH_SIZE = 250
VALIDATION_SIZE = 5_000  # images held out of the 60,000 training images

FULL_NUM_EPOCHS = 10  # the lab's epochs
QUICK_NUM_EPOCHS = 2
QUICK_LIMIT = 6_000  # images taken from each MNIST split in quick mode
QUICK_VALIDATION_SIZE = 1_000

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
_PARAMETER_HINT = (
    "Pass None for the kit's setting; in a notebook, set it in the cell tagged 'parameters' "
    "(or with papermill's -p)."
)


def _check_integer(name: str, value: object, minimum: int = 1, *, hint: str = "") -> None:
    """Raise ValueError unless ``value`` is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        expected = {0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer of at least {minimum}"
        )
        raise ValueError(
            f"{name} must be {expected}. Received: {name}={value!r}." + (f" {hint}" if hint else "")
        )


@dataclass(frozen=True)
class LabSettings:
    """How a notebook runs (quick or full mode) and where its data and trained models are.

    ``limit`` is the number of images taken from each MNIST split (``None``: all of them).
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
        """``"quick"`` or ``"full"``."""
        return "quick" if self.quick else "full"

    def describe(self) -> str:
        """The setup cell's line, such as ``full mode: 10 epochs, seed 42, batch size 250``."""
        epochs = f"{self.num_epochs} epoch{'' if self.num_epochs == 1 else 's'}"
        return f"{self.mode} mode: {epochs}, seed {self.seed}, batch size {self.batch_size}"


def parse_flag(name: str, value: str) -> bool:
    """Read an on/off variable: 1/0, true/false, yes/no or on/off (any case); else ValueError."""
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
    """The path in ``LABKIT_DATA_DIR``, or ``None`` when it is unset or empty."""
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
    """The run settings from ``environ`` (default ``os.environ``).

    A keyword argument that is not ``None`` (a notebook's parameter) replaces the mode's value.
    Raises ValueError for a flag that is not on/off, or an override that is not a positive
    integer (the seed may be 0).
    """
    environ = os.environ if environ is None else environ
    quick = parse_flag(QUICK_ENV, environ.get(QUICK_ENV, ""))
    overrides = {"num_epochs": num_epochs, "seed": seed, "batch_size": batch_size}
    for name, value in overrides.items():
        if value is not None:
            _check_integer(name, value, 0 if name == "seed" else 1, hint=_PARAMETER_HINT)
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
