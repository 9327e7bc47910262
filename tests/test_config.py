"""labkit.config: the one place that reads the kit's environment variables."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.config import (
    FULL_NUM_EPOCHS,
    QUICK_LIMIT,
    QUICK_NUM_EPOCHS,
    load_settings,
    parse_flag,
)


def test_full_settings_by_default_and_quick_mode_on_request():
    settings = load_settings({})
    assert not settings.quick and settings.mode == "full"
    assert settings.num_epochs == FULL_NUM_EPOCHS == 10
    assert settings.limit is None and settings.data_dir is None
    quick = load_settings({"LABKIT_QUICK": "1"})
    assert quick.quick and quick.mode == "quick"
    assert quick.num_epochs == QUICK_NUM_EPOCHS < FULL_NUM_EPOCHS
    assert quick.limit == QUICK_LIMIT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("", False),
        ("false", False),
        ("No", False),
    ],
)
def test_parse_flag(value, expected):
    assert parse_flag("LABKIT_QUICK", value) is expected


def test_parse_flag_rejects_other_words():
    with pytest.raises(ValueError, match=r"Received: LABKIT_QUICK='quik'"):
        load_settings({"LABKIT_QUICK": "quik"})


def test_data_dir(tmp_path):
    assert load_settings({"LABKIT_DATA_DIR": str(tmp_path)}).data_dir == tmp_path
    assert load_settings({"LABKIT_DATA_DIR": "  "}).data_dir is None
    assert load_settings({"LABKIT_DATA_DIR": "~/mnist"}).data_dir == Path.home() / "mnist"


def test_notebook_parameters_win_over_the_mode_and_none_keeps_it():
    settings = load_settings({"LABKIT_QUICK": "1"}, num_epochs=1, seed=7, batch_size=64)
    assert (settings.num_epochs, settings.seed, settings.batch_size) == (1, 7, 64)
    assert settings.quick and settings.limit == QUICK_LIMIT  # the subset still follows the mode
    settings = load_settings({}, num_epochs=None, seed=0)  # seed 0 is allowed
    assert settings.num_epochs == FULL_NUM_EPOCHS and settings.seed == 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"num_epochs": 0}, "num_epochs must be a positive integer. Received: num_epochs=0."),
        ({"num_epochs": 2.5}, "Received: num_epochs=2.5"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"batch_size": True}, "batch_size must be a positive integer"),
        ({"seed": "7"}, "Received: seed='7'. Pass None for the kit's setting; in a notebook, set"),
    ],
)
def test_bad_parameters_are_refused(overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        load_settings({}, **overrides)


def test_describe_names_what_a_notebook_runs_with():
    settings = load_settings({"LABKIT_QUICK": "1"}, num_epochs=1, seed=7)
    assert settings.describe() == "quick mode: 1 epoch, seed 7, batch size 250"
    assert load_settings({}).describe() == "full mode: 10 epochs, seed 42, batch size 250"


def test_the_tests_stop_at_once_with_one_message_without_mnist(tmp_path):
    """A missing MNIST folder stops the whole run before any test, with one message."""
    env = {**os.environ, "LABKIT_DATA_DIR": str(tmp_path / "no-such-folder")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_config.py"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 4, run.stdout[-2000:] + run.stderr[-2000:]
    assert "The tests need MNIST" in run.stdout + run.stderr
    assert "passed" not in run.stdout and "failed" not in run.stdout


def test_the_settings_data_reports_and_checks_import_without_tensorflow():
    # The grader imports these alone; the first public name a notebook uses starts TensorFlow.
    code = (
        "import sys, labkit, labkit.config, labkit.data, labkit.reporting, labkit.checks\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'labkit.backend') if m in sys.modules))\n"
        "labkit.load_settings\n"
        "print('tensorflow' in sys.modules, 'labkit.widgets' in sys.modules)\n"
    )
    printed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert printed.split("\n")[:2] == ["[]", "True True"]
