"""labkit.backend: seeding gives the same numbers; the runtime summary works on every platform."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

import labkit
from labkit.backend import keras, tf, usable_cpu_count
from labkit_instructor.cli import main


def _draws() -> dict[str, np.ndarray]:
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    return {
        "python": np.array([random.random() for _ in range(3)]),
        "numpy": np.random.rand(3),
        "keras": keras.ops.convert_to_numpy(keras.random.normal((3,))),
        "tensorflow": tf.random.uniform((3,)).numpy(),
        "initializer": keras.ops.convert_to_numpy(layer.kernel),
        "dropout": keras.ops.convert_to_numpy(
            keras.layers.Dropout(0.5)(np.ones((1, 64)), training=True)
        ),
    }


def test_same_seed_same_draws_and_another_seed_other_draws():
    labkit.seed_everything(7)
    first = _draws()
    labkit.seed_everything(7)
    second = _draws()
    labkit.seed_everything(8)
    other = _draws()
    for source in first:
        np.testing.assert_array_equal(first[source], second[source], err_msg=source)
        assert not np.array_equal(first[source], other[source]), source


@pytest.mark.parametrize("seed", [-1, 1.5, "42", True])
def test_bad_seed_is_rejected(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        labkit.seed_everything(seed)


def test_runtime_summary():
    summary = labkit.runtime_summary()
    assert summary["tensorflow"] == tf.__version__
    assert summary["keras"].startswith("3.")
    assert summary["devices"]


# --- Portability: os.sched_getaffinity exists on Linux only --------------------------------


def test_cpu_count_without_sched_getaffinity(monkeypatch):
    # macOS and Windows before Python 3.13: neither process_cpu_count nor sched_getaffinity.
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert usable_cpu_count() == 6
    assert labkit.runtime_summary()["devices"] == "CPU only (6 cores)"


@pytest.mark.parametrize(
    "process_cpu_count, sched_getaffinity, cpu_count, expected",
    [
        (lambda: 3, lambda pid: set(range(5)), lambda: 64, 3),  # Python 3.13+: preferred
        (None, lambda pid: {0, 1, 5}, lambda: 64, 3),  # Linux before 3.13
        (None, None, lambda: None, 1),  # "undetermined", as the docs allow: at least one
    ],
)
def test_cpu_count_is_what_this_process_may_use(
    monkeypatch, process_cpu_count, sched_getaffinity, cpu_count, expected
):
    for name, function in [
        ("process_cpu_count", process_cpu_count),
        ("sched_getaffinity", sched_getaffinity),
    ]:
        if function is None:
            monkeypatch.delattr(os, name, raising=False)
        else:
            monkeypatch.setattr(os, name, function, raising=False)
    monkeypatch.setattr(os, "cpu_count", cpu_count)
    assert usable_cpu_count() == expected


def test_labkit_check_without_sched_getaffinity(mnist_dir, monkeypatch, capsys):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setenv("LABKIT_DATA_DIR", str(mnist_dir))
    monkeypatch.setenv("LABKIT_QUICK", "1")
    assert main(["check"]) == 0
    assert f"CPU only ({os.cpu_count()} cores)" in capsys.readouterr().out


def test_tensorflows_retracing_notice_is_dropped_and_other_warnings_are_not(caplog):
    logger = tf.get_logger()
    with caplog.at_level("WARNING", logger=logger.name):
        logger.warning("5 out of the last 9 calls to <function f> triggered tf.function retracing.")
        logger.warning("something else went wrong")
    assert [record.getMessage() for record in caplog.records] == ["something else went wrong"]
