"""benchmarks/: the training benchmark runs end to end on a small subset (its numbers are not
asserted: speed goals belong in the benchmark's own output, not in timed tests)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "benchmark_training.py"


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
