"""benchmarks/: the training benchmark runs end to end on a small subset (its numbers are not
asserted: speed goals belong in the benchmark's own output, not in timed tests), and its peak
memory is measured, or said to be unmeasured, on Linux, macOS and Windows, simulated here."""

from __future__ import annotations

import importlib.util
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import labkit

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "benchmark_training.py"
TWO_GIB = 2 * 2**30


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("benchmark_training", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_side_by_side_training_reports_times_and_elbos(mnist_subset):
    benchmark = _load_benchmark()
    results = benchmark.train_side_by_side(
        mnist_subset["x_train"][:1024], mnist_subset["x_test"][:256], num_epochs=2, batch_size=256
    )
    assert set(results) == {"reference", "kit"}
    for numbers in results.values():
        assert numbers["fastest_epoch_seconds"] <= numbers["median_epoch_seconds"]
        assert numbers["median_epoch_seconds"] <= numbers["slowest_epoch_seconds"]
        # Two epochs on 1,024 images: far from trained, but a real, finite ELBO.
        assert 150 < numbers["test_negative_elbo"] < 600


def test_the_reference_is_the_labs_network(mnist_subset):
    reference = _load_benchmark().build_reference_vae()
    assert reference.encoder.count_params() == 403_972
    assert reference.decoder.count_params() == 403_728
    images = mnist_subset["x_val"][:64]
    z_mean, z_log_var, z = (np.asarray(part) for part in reference.encoder(images))
    assert z_mean.shape == z_log_var.shape == z.shape == (64, 2)
    assert math.isfinite(_load_benchmark().test_negative_elbo(reference, images))


# --- Time to quality -----------------------------------------------------------------------------


def _load_time_to_quality():
    path = BENCHMARK.parent / "benchmark_time_to_quality.py"
    spec = importlib.util.spec_from_file_location("benchmark_time_to_quality", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seconds_to_reach_counts_whole_epochs_up_to_the_first_good_one():
    seconds_to_reach = _load_time_to_quality().seconds_to_reach
    qualities, seconds = [170.0, 158.0, 155.0, 156.0], [6.0, 2.0, 3.0, 2.5]
    assert seconds_to_reach(158.0, qualities, seconds) == 8.0  # at most the target counts
    assert seconds_to_reach(155.5, qualities, seconds) == 11.0
    assert seconds_to_reach(150.0, qualities, seconds) is None  # never reached


def test_time_to_quality_alternates_the_two_and_computes_the_ratio(mnist_subset):
    benchmark = _load_time_to_quality()
    settings = labkit.load_settings({"LABKIT_QUICK": "1"})  # 2 epochs for the kit
    summary = benchmark.one_repeat(
        mnist_subset["x_train"][:1024], mnist_subset["x_test"][:256], settings, 0, lab_epochs=3
    )
    lab, kit = summary["epochs"]["lab"], summary["epochs"]["kit"]
    assert [len(lab[k]) for k in ("wall", "cpu", "quality")] == [3, 3, 3]
    assert [len(kit[k]) for k in ("wall", "cpu", "quality")] == [2, 2, 2]
    assert summary["lab_final_nats"] == lab["quality"][-1]
    assert summary["lab_all_epochs_wall_s"] == pytest.approx(sum(lab["wall"]))
    reached = benchmark.seconds_to_reach(summary["lab_final_nats"], kit["quality"], kit["wall"])
    assert summary["kit_to_lab_quality_wall_s"] == reached
    if reached is not None:
        assert summary["ratio_wall"] == pytest.approx(sum(lab["wall"]) / reached)


# --- Peak memory on each platform ---------------------------------------------------------------


@pytest.fixture
def benchmark(monkeypatch, tmp_path):
    """The benchmark module, with /proc files in a temporary folder (absent until written)."""
    module = _load_benchmark()
    monkeypatch.setattr(module, "PROC_STATUS", tmp_path / "proc" / "status")
    monkeypatch.setattr(module, "PROC_CLEAR_REFS", tmp_path / "proc" / "clear_refs")
    return module


def _fake_proc(benchmark, vm_hwm_kib: int) -> None:
    benchmark.PROC_STATUS.parent.mkdir()
    benchmark.PROC_STATUS.write_text(
        f"Name:\tpython\nVmPeak:\t 9999999 kB\nVmHWM:\t {vm_hwm_kib} kB\nVmRSS:\t 1024 kB\n",
        encoding="ascii",
    )


def _fake_resource(max_rss: int) -> types.ModuleType:
    module = types.ModuleType("resource")
    module.RUSAGE_SELF = 0
    module.getrusage = lambda who: types.SimpleNamespace(ru_maxrss=max_rss)
    return module


def _fake_psutil(peak_working_set_bytes: int) -> types.ModuleType:
    module = types.ModuleType("psutil")
    memory = types.SimpleNamespace(peak_wset=peak_working_set_bytes)
    module.Process = lambda: types.SimpleNamespace(memory_info=lambda: memory)
    return module


def test_the_benchmark_imports_without_the_resource_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "resource", None)  # as on Windows: import raises
    assert callable(_load_benchmark().peak_memory_of_training)


def test_on_linux_the_peak_is_vmhwm_since_the_reset(benchmark, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setitem(sys.modules, "resource", None)  # /proc alone must do
    _fake_proc(benchmark, vm_hwm_kib=2048 * 1024)
    assert benchmark.reset_peak_memory() is True
    assert benchmark.PROC_CLEAR_REFS.read_text(encoding="ascii") == "5"
    assert benchmark.peak_memory(was_reset=True) == (2048.0, None)
    assert benchmark.peak_memory_row("kit", benchmark.PeakMemory(2048.0, None)) == (
        "peak memory while training, kit (MiB)",
        2048.0,
    )
    not_reset = benchmark.peak_memory(was_reset=False)
    assert not_reset.mib == 2048.0
    assert not_reset.caveat == (
        "whole process, loading the data included: /proc/self/clear_refs did not reset it"
    )


def test_on_linux_without_proc_ru_maxrss_is_in_kib(benchmark, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setitem(sys.modules, "resource", _fake_resource(2048 * 1024))  # KiB on Linux
    assert benchmark.reset_peak_memory() is False  # no /proc/self/clear_refs to write
    assert benchmark.peak_memory(was_reset=False) == (
        2048.0,
        "whole process, loading the data included: ru_maxrss cannot be reset",
    )


def test_on_macos_ru_maxrss_is_in_bytes_and_cannot_be_reset(benchmark, monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setitem(sys.modules, "resource", _fake_resource(TWO_GIB))  # bytes on macOS
    _fake_proc(benchmark, vm_hwm_kib=1024)  # present or not, macOS has no /proc to read
    assert benchmark.reset_peak_memory() is False
    assert not benchmark.PROC_CLEAR_REFS.exists()
    peak = benchmark.peak_memory(was_reset=False)
    assert peak == (2048.0, "whole process, loading the data included: macOS cannot reset the peak")
    assert benchmark.peak_memory_row("kit", peak) == (
        "peak memory of a training process, kit (MiB; whole process, loading the data included: "
        "macOS cannot reset the peak)",
        2048.0,
    )


def test_on_windows_without_psutil_memory_is_not_measured(benchmark, monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setitem(sys.modules, "resource", None)
    monkeypatch.setitem(sys.modules, "psutil", None)
    assert benchmark.reset_peak_memory() is False
    peak = benchmark.peak_memory(was_reset=False)
    assert peak == (
        None,
        "not measured on this platform (no resource module, and psutil not installed)",
    )
    label, value = benchmark.peak_memory_row("reference", peak)
    assert label == "peak memory while training, reference"
    assert value.startswith("not measured on this platform")
    assert "not measured on this platform" in labkit.format_table(
        ["measure", "median"], [(label, value)]
    )


def test_on_windows_psutil_gives_the_peak_working_set(benchmark, monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setitem(sys.modules, "resource", None)
    monkeypatch.setitem(sys.modules, "psutil", _fake_psutil(TWO_GIB))
    assert benchmark.peak_memory(was_reset=False) == (
        2048.0,
        "whole process, loading the data included: Windows cannot reset the peak",
    )


BLOCK_MIB = 64


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads this machine's /proc")
def test_on_this_linux_machine_the_peak_follows_a_64_mib_block_and_the_reset():
    benchmark = _load_benchmark()
    was_reset = benchmark.reset_peak_memory()
    before = benchmark.peak_memory(was_reset)
    block = np.ones(BLOCK_MIB * 2**20 // 8)  # float64: every page written
    during = benchmark.peak_memory(was_reset)
    assert BLOCK_MIB - 4 <= during.mib - before.mib <= BLOCK_MIB + 16
    del block  # a block this large goes back to the system at once
    if not benchmark.reset_peak_memory():
        pytest.skip("this machine's /proc/self/clear_refs is not writable")
    assert benchmark.peak_memory(was_reset=True).mib < during.mib - (BLOCK_MIB - 4)
