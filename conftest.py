"""pytest's settings for the whole checkout, the unit tests and the notebooks nbval re-executes.

Here rather than in a Makefile, so that a bare ``python -m pytest`` (Windows, macOS, no
``make``) runs the tests exactly as ``make test`` and CI do:

- quick mode (``LABKIT_QUICK=1``): a 6,000-image subset and 2 epochs. The tests' expectations
  (and nbval's timings) are for quick mode, so it is set whatever the shell says;
- MNIST from ``../shared/data/mnist`` beside the checkout when ``LABKIT_DATA_DIR`` is unset and
  that folder exists (the offline checkouts this kit is developed in); otherwise the kit's usual
  sources apply (see ``labkit.load_mnist``). Without MNIST the run stops at once with one
  message that says what to do, not a failure for every test that needs it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_MNIST = Path(__file__).resolve().parent.parent / "shared" / "data" / "mnist"


def pytest_configure(config) -> None:
    os.environ["LABKIT_QUICK"] = "1"
    if not os.environ.get("LABKIT_DATA_DIR", "").strip() and SHARED_MNIST.is_dir():
        os.environ["LABKIT_DATA_DIR"] = str(SHARED_MNIST)


def pytest_sessionstart(session) -> None:
    named = os.environ.get("LABKIT_DATA_DIR", "").strip()
    if named and not Path(named).expanduser().exists():
        pytest.exit(
            f"The tests need MNIST: LABKIT_DATA_DIR={named!r} does not exist. Point it at a "
            "folder holding the four MNIST IDX files (or Keras's mnist.npz), or unset it to use "
            "Keras's cache or download.",
            returncode=4,
        )
    if not named:
        import labkit

        try:
            labkit.load_mnist(limit=1)
        except labkit.MnistDataError as err:
            pytest.exit(
                f"The tests need MNIST and found none: {err} Set LABKIT_DATA_DIR to a folder "
                "holding the four MNIST IDX files, or run once online so that Keras caches it.",
                returncode=4,
            )
