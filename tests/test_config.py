"""labkit.config: the one place that reads the kit's environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.config import (
    FULL_NUM_EPOCHS,
    QUICK_LIMIT,
    QUICK_NUM_EPOCHS,
    load_settings,
    parse_flag,
)


def test_full_settings_by_default():
    settings = load_settings({})
    assert not settings.quick and settings.mode == "full"
    assert settings.num_epochs == FULL_NUM_EPOCHS == 10
    assert settings.limit is None and settings.data_dir is None


def test_quick_mode():
    settings = load_settings({"LABKIT_QUICK": "1"})
    assert settings.quick and settings.mode == "quick"
    assert settings.num_epochs == QUICK_NUM_EPOCHS < FULL_NUM_EPOCHS
    assert settings.limit == QUICK_LIMIT


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
