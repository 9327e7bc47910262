"""The kit installed from its wheel, not only run from the checkout.

Builds the wheel from a copy of the checkout, installs it (without dependencies) into a folder of
its own, and runs the ``labkit`` command from another folder with that install first on
``PYTHONPATH`` and this environment's other packages (TensorFlow, Jupyter) behind it. What only
the checkout has (the rubrics beside the code, ``notebooks/`` in the current folder) cannot leak
in: every command must work, and say so, from the installed copy.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from packaging.version import Version

import labkit_instructor

REPO_ROOT = Path(__file__).resolve().parent.parent
# Not copied for the build: version control, environments, caches and outputs.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "executed", "test-artifacts", "*.egg-info", "__pycache__"
)
SECONDS_PER_COMMAND = 300


def _ignore(folder: str, names: list[str]) -> set[str]:
    ignored = set(NOT_SOURCES(folder, names))
    # Hidden caches, and any virtual environment whatever its name.
    ignored |= {name for name in names if name.startswith(".") and name.endswith("cache")}
    ignored |= {name for name in names if Path(folder, name, "pyvenv.cfg").is_file()}
    return ignored


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """The wheel built from a copy of the checkout, and the folder it is installed into."""
    setuptools_version = Version(importlib.metadata.version("setuptools"))
    if setuptools_version < Version("77"):
        pytest.fail(
            f"setuptools {setuptools_version} cannot build the wheel (pyproject.toml needs 77 or "
            "later); refresh the environment: pip install -c constraints.txt -e '.[test]'"
        )
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    shutil.copytree(REPO_ROOT, source, ignore=_ignore)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*build, "--quiet", "-w", str(root / "dist"), str(source)],
        check=True,
        timeout=SECONDS_PER_COMMAND,
    )
    (wheel,) = (root / "dist").glob("vae_lab_kit-*.whl")
    site = root / "site"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    subprocess.run(
        [*install, "--target", str(site), str(wheel)],
        check=True,
        timeout=SECONDS_PER_COMMAND,
    )
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return {"wheel": wheel, "site": site, "elsewhere": elsewhere}


def _run_installed(installed, mnist_dir: Path, *arguments: str) -> str:
    """``python ARGUMENTS`` in a folder outside the checkout, with the installed kit first."""
    path = os.pathsep.join(filter(None, [str(installed["site"]), os.environ.get("PYTHONPATH")]))
    environment = {
        **os.environ,
        "PYTHONPATH": path,
        "LABKIT_QUICK": "1",
        "LABKIT_DATA_DIR": str(mnist_dir),
        "PYTHONIOENCODING": "utf-8",
    }
    result = subprocess.run(
        [sys.executable, *arguments],
        cwd=installed["elsewhere"],
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=SECONDS_PER_COMMAND,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_wheel_holds_the_package_its_data_and_the_command(installed):
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        names = wheel.namelist()
        (entry_points_name,) = [
            name for name in names if name.endswith(".dist-info/entry_points.txt")
        ]
        entry_points = configparser.ConfigParser()
        entry_points.read_string(wheel.read(entry_points_name).decode("utf-8"))
    assert {"labkit/__init__.py", "labkit/py.typed", "labkit_instructor/rubrics.json"} <= set(names)
    assert "labkit_instructor/py.typed" in names
    top_level = {name.split("/")[0] for name in names}
    packages = {folder for folder in top_level if not folder.endswith(".dist-info")}
    assert packages == {"labkit", "labkit_instructor"}
    assert dict(entry_points["console_scripts"]) == {"labkit": "labkit_instructor.cli:main"}


def test_installed_kit_is_imported_from_the_install(installed, mnist_dir):
    printed = _run_installed(installed, mnist_dir, "-c", "import labkit; print(labkit.__file__)")
    imported = Path(printed.strip()).resolve()
    assert imported.is_relative_to(installed["site"].resolve()), imported
    assert not imported.is_relative_to(REPO_ROOT), imported


def test_installed_command_checks_the_environment(installed, mnist_dir):
    printed = _run_installed(installed, mnist_dir, "-m", "labkit", "check")
    assert "MNIST (checksums verified)" in printed
    assert "quick" in printed


def test_installed_command_grades_with_the_packaged_rubrics(installed, mnist_dir):
    submission = installed["elsewhere"] / "03_vae.ipynb"
    shutil.copyfile(REPO_ROOT / "notebooks" / "03_vae.ipynb", submission)
    source = str(REPO_ROOT / "notebooks")  # the instructor's notebooks: not in the wheel
    printed = _run_installed(
        installed, mnist_dir, "-m", "labkit", "grade", submission.name, "--source", source
    )
    points = f"{labkit_instructor.load_rubrics()['03_vae'].max_points:g}"
    assert f"{points}/{points}" in printed


def test_installed_command_runs_a_folder_of_notebooks_anywhere(installed, mnist_dir):
    folder = installed["elsewhere"] / "my labs"
    folder.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import labkit\nprint(labkit.__file__)")]
    nbformat.write(notebook, folder / "01_where.ipynb")
    output = installed["elsewhere"] / "executed"

    printed = _run_installed(
        installed, mnist_dir, "-m", "labkit", "run", str(folder), "--output", str(output)
    )

    assert "01_where.ipynb" in printed
    executed = nbformat.read(output / "01_where.ipynb", as_version=4)
    (stream,) = executed.cells[0].outputs
    imported = Path(stream["text"].strip()).resolve()
    assert imported.is_relative_to(installed["site"].resolve()), imported
