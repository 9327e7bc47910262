"""The project's own files agree: pyproject.toml, constraints.txt, environment.yml, installs.

pyproject.toml says which versions the kit works with (ranges); constraints.txt pins one version
of every package for each supported Python and platform (so a whole course, CI and Binder install
the same thing); environment.yml installs through those pins. Drift between any two, or between
the pins and the running environment, fails here.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

import labkit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = REPO_ROOT / "constraints.txt"
# TensorFlow 2.21 publishes wheels for these CPython versions, and no others.
SUPPORTED_PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
# The platforms TensorFlow 2.21 publishes wheels for, as PEP 508 markers see them.
PLATFORMS = {
    "linux-x86_64": ("linux", "Linux", "posix", "x86_64"),
    "linux-aarch64": ("linux", "Linux", "posix", "aarch64"),
    "macos-arm64": ("darwin", "Darwin", "posix", "arm64"),
    "windows-amd64": ("win32", "Windows", "nt", "AMD64"),
}


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _environment_yml() -> dict:
    return yaml.safe_load((REPO_ROOT / "environment.yml").read_text(encoding="utf-8"))


def _marker_environment(python: str, platform: str) -> dict[str, str]:
    """PEP 508 marker values for CPython ``python`` (e.g. "3.12") on ``platform``."""
    sys_platform, platform_system, os_name, platform_machine = PLATFORMS[platform]
    return {
        "sys_platform": sys_platform,
        "platform_system": platform_system,
        "os_name": os_name,
        "platform_machine": platform_machine,
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }


def _applies(requirement: Requirement, environment: dict[str, str] | None) -> bool:
    return requirement.marker is None or requirement.marker.evaluate(environment)


def _direct_requirements(*extras: str) -> list[Requirement]:
    """pyproject.toml's ``dependencies`` and the named optional-dependencies, parsed; an extra
    that names the kit's own extras (``vae-lab-kit[instructor]``) brings in theirs."""
    project = _pyproject()["project"]
    lines = [*project["dependencies"]]
    extras = list(extras)
    while extras:
        for line in project["optional-dependencies"][extras.pop()]:
            requirement = Requirement(line)
            if requirement.name == project["name"]:
                extras += requirement.extras
            else:
                lines.append(line)
    return [Requirement(line) for line in lines]


def test_the_three_installs_are_nested_and_the_student_one_is_lean():
    # `pip install .` (a student), `.[instructor]`, `.[test]`: each adds to the one before, and
    # a student's install brings no grading or test tool (nbgrader's menus, pytest, ...).
    base = {r.name for r in _direct_requirements()}
    instructor = {r.name for r in _direct_requirements("instructor")}
    test = {r.name for r in _direct_requirements("test")}
    assert base < instructor < test
    assert "nbgrader" in instructor - base
    assert {"pytest", "nbval", "ruff", "playwright"} <= test - instructor
    assert not {"nbgrader", "pytest", "nbval", "ruff", "playwright", "papermill"} & base


def _pins(environment: dict[str, str] | None) -> dict[str, Version]:
    """constraints.txt's pins that apply in ``environment`` (None: this interpreter)."""
    pins: dict[str, Version] = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"constraints.txt: {line!r} is not an exact pin"
        if _applies(requirement, environment):
            name = canonicalize_name(requirement.name)
            assert name not in pins, f"constraints.txt pins {name} twice for {environment}"
            pins[name] = Version(specifier.version)
    return pins


def _unpinned_or_out_of_range(
    requirements: list[Requirement], environment: dict[str, str] | None
) -> list[str]:
    pins = _pins(environment)
    problems = []
    for requirement in requirements:
        if not _applies(requirement, environment):
            continue
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement.name}: not pinned")
        elif pin not in requirement.specifier:
            problems.append(f"{requirement.name}=={pin}: outside {requirement.specifier}")
    return problems


def test_requires_python_and_classifiers_name_the_supported_versions():
    project = _pyproject()["project"]
    requires_python = SpecifierSet(project["requires-python"])
    assert [python for python in SUPPORTED_PYTHONS if python in requires_python] == (
        SUPPORTED_PYTHONS
    )
    assert "3.9" not in requires_python and "3.14" not in requires_python
    prefix = "Programming Language :: Python :: "
    listed = [
        classifier.removeprefix(prefix)
        for classifier in project["classifiers"]
        if re.fullmatch(re.escape(prefix) + r"3\.\d+", classifier)
    ]
    assert listed == SUPPORTED_PYTHONS


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@pytest.mark.parametrize("python", SUPPORTED_PYTHONS)
def test_constraints_pin_every_dependency_inside_its_range(python, platform):
    environment = _marker_environment(python, platform)
    requirements = _direct_requirements("test", "gpu")
    assert _unpinned_or_out_of_range(requirements, environment) == []


def test_constraints_were_compiled_from_pyproject_with_every_extra():
    # The header is uv's, and says how to refresh the file (`make constraints` runs the same).
    header = CONSTRAINTS.read_text(encoding="utf-8").splitlines()[:2]
    extras = "".join(
        f" --extra {extra}" for extra in _pyproject()["project"]["optional-dependencies"]
    )
    command = (
        f"uv pip compile pyproject.toml{extras} --universal "
        f"--python-version {SUPPORTED_PYTHONS[0]} -o constraints.txt"
    )
    assert header == [
        "# This file was autogenerated by uv via the following command:",
        f"#    {command}",
    ]


def test_environment_yml_names_one_supported_python_that_the_constraints_cover():
    conda_packages = [
        entry for entry in _environment_yml()["dependencies"] if isinstance(entry, str)
    ]
    pythons = [entry for entry in conda_packages if entry.startswith("python")]
    assert len(pythons) == 1 and re.fullmatch(r"python=3\.\d+", pythons[0]), pythons
    python = pythons[0].removeprefix("python=")
    assert python in SpecifierSet(_pyproject()["project"]["requires-python"])
    environment = _marker_environment(python, "linux-x86_64")  # Binder builds on Linux
    assert _unpinned_or_out_of_range(_direct_requirements("test"), environment) == []


def test_environment_yml_installs_everything_else_through_the_constraints():
    dependencies = _environment_yml()["dependencies"]
    conda_packages = {entry.split("=")[0] for entry in dependencies if isinstance(entry, str)}
    # A package conda installed would not be held to the pins (and pip would replace it).
    assert conda_packages == {"python", "pip"}
    (pip_lines,) = [entry["pip"] for entry in dependencies if isinstance(entry, dict)]
    assert pip_lines == ["-c constraints.txt", "-e ."]


def test_this_environment_has_the_pinned_versions():
    # pip honours markers in constraints files, so the pins that apply here are the ones that
    # `pip install -c constraints.txt -e '.[test]'` installed. Refresh a stale environment with
    # `make setup` (or that pip command); refresh the pins with `make constraints`.
    requirements = _direct_requirements("test")
    assert _unpinned_or_out_of_range(requirements, None) == []
    pins = _pins(None)
    drifted = []
    for requirement in requirements:
        if not _applies(requirement, None):
            continue
        installed = Version(importlib.metadata.version(requirement.name))
        pinned = pins[canonicalize_name(requirement.name)]
        if installed != pinned:
            drifted.append(f"{requirement.name}: {installed} installed, {pinned} pinned")
    assert drifted == [], f"Python {default_environment()['python_full_version']}"


def test_version_is_single_sourced():
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"]["attr"] == "labkit.__version__"
    assert labkit.__version__.count(".") == 2


def test_the_public_names_are_few_and_each_used_by_a_notebook():
    code = ""
    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code += "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert len(labkit.__all__) <= 40
    for name in labkit.__all__:
        assert hasattr(labkit, name), name
        assert re.search(rf"\blabkit\.{name}\b", code), f"no notebook uses labkit.{name}"
