"""Lint and format: the package, tests, benchmarks and notebooks are all code (ruff)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKED = ["labkit", "tests", "benchmarks", "notebooks", "conftest.py"]


@pytest.mark.parametrize(
    "command", [["check"], ["format", "--check"]], ids=["ruff check", "ruff format --check"]
)
def test_ruff_finds_nothing(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", *CHECKED],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert result.returncode == 0, (
        f"ruff {' '.join(command)} found problems; `ruff format` and `ruff check --fix` fix most:\n"
        + result.stdout
        + result.stderr
    )
