"""The project's own files: environment.yml and pyproject.toml list the same packages."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

import labkit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parent.parent

# Conda-only entries of environment.yml that pyproject.toml has no reason to list.
CONDA_ONLY = {"pip"}


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _conda_requirements() -> tuple[dict[str, SpecifierSet], list[str]]:
    """environment.yml's packages as {name: specifier}, and its raw pip lines."""
    environment = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    packages: dict[str, SpecifierSet] = {}
    pip_lines: list[str] = []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            pip_lines.extend(entry["pip"])
            continue
        requirement = Requirement(entry.replace(" ", ""))
        packages[canonicalize_name(requirement.name)] = requirement.specifier
    for line in pip_lines:
        if not line.startswith("-e"):
            requirement = Requirement(line)
            packages[canonicalize_name(requirement.name)] = requirement.specifier
    return packages, pip_lines


def test_environment_yml_matches_pyproject_dependencies():
    conda_packages, _ = _conda_requirements()
    project = _pyproject()["project"]
    expected = {
        canonicalize_name(Requirement(line).name): Requirement(line).specifier
        for line in project["dependencies"]
    }
    expected["python"] = SpecifierSet(project["requires-python"])
    listed = {name: spec for name, spec in conda_packages.items() if name not in CONDA_ONLY}
    assert listed == expected


def test_environment_yml_installs_the_kit_with_its_test_extra():
    _, pip_lines = _conda_requirements()
    assert "-e .[test]" in pip_lines


def test_version_is_single_sourced():
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"]["attr"] == "labkit.__version__"
    assert labkit.__version__.count(".") == 2


def test_public_api_is_exported():
    for name in labkit.__all__:
        assert hasattr(labkit, name), name
