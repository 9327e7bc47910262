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


# The suite's four parts, by file (pytest -m PART runs one, -m "not e2e" the others): "unit"
# (labkit, its checks, the packaging), "notebook" (the notebooks as students open them, and
# re-executed by nbval), "instructor" (grading and release, on a tiny lab of the tests' own
# where they can), "e2e" (a browser, an installed wheel, nbgrader, the Gradescope and GitHub
# Classroom runs). Every file not named here is "unit".
SUITE_PARTS = {
    "notebook": {"test_notebooks.py"},
    "instructor": {
        "test_cli.py",
        "test_grading.py",
        "test_grading_safety.py",
        "test_release.py",
        "test_runner.py",
        "test_sandbox.py",
        "test_submissions.py",
        "test_verdicts.py",
    },
    "e2e": {"test_autograder.py", "test_browser.py", "test_install.py", "test_nbgrader.py"},
}


def _part(item) -> str:
    name = item.path.name
    if item.path.suffix == ".ipynb":
        return "notebook"
    return next((part for part, files in SUITE_PARTS.items() if name in files), "unit")


def pytest_collection_modifyitems(config, items) -> None:
    parts = {item: _part(item) for item in items}
    for item, part in parts.items():
        item.add_marker(part)
    # The long files first, the many short unit tests last: pytest-xdist's two workers then
    # finish together instead of one running the last long file alone. (A stable sort: each
    # file's tests, and each notebook's cells, keep their order.)
    order = ["e2e", "notebook", "instructor", "unit"]
    items.sort(key=lambda item: order.index(parts[item]))


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
        except labkit.data.MnistDataError as err:
            pytest.exit(
                f"The tests need MNIST and found none: {err} Set LABKIT_DATA_DIR to a folder "
                "holding the four MNIST IDX files, or run once online so that Keras caches it.",
                returncode=4,
            )
