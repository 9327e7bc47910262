"""Time to quality: seconds until the kit's VAE is as good as the lab's finished one.

What a student waits for is not an epoch but a good model. This benchmark trains the lab's own
Keras code (written plainly, as in ``benchmark_training.py``: batch 256, Adam at 1e-3, 10 epochs)
and the kit's default training (``labkit.build_vae``, ``labkit.compile_for_data``'s recipe,
batch size and epochs from ``labkit.load_settings()``) in one process, alternating their epochs
so that both see the same machine load. After every epoch it measures each model's test
negative ELBO on the first 5,000 test images (not timed), with the same noise for both.

The figure of merit, per repeat:

    ratio = (the lab's training seconds for its 10 epochs)
            / (the kit's training seconds until its test negative ELBO is at most
               the lab's final one)

The kit's time is counted at the end of the first epoch that reaches the target (no
interpolation inside an epoch). The script repeats the whole comparison (``--repeats``, 3 by
default, a fresh pair of models each time), and prints each repeat's per-epoch seconds (wall
and CPU), the qualities, the ratio, the kit's seconds to reach 152 nats (its own target), and
the medians. Wall time on a shared machine stalls; CPU seconds are printed beside it.

Usage (MNIST located as for the notebooks):

    LABKIT_DATA_DIR=../shared/data/mnist python benchmarks/benchmark_time_to_quality.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import labkit

# The lab's code lives in the training benchmark beside this file; make it importable however
# this script is started (python benchmarks/benchmark_time_to_quality.py, or python -m ...).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.benchmark_training import BATCH_SIZE as LAB_BATCH_SIZE
from benchmarks.benchmark_training import build_kit_vae, build_reference_vae, test_negative_elbo

LAB_EPOCHS = 10
TEST_IMAGES = 5_000
KIT_TARGET_NATS = 152.0  # the kit's quality target, 2-D VAE (docs/performance.md)


def build_kit(x_train: np.ndarray, settings: labkit.config.LabSettings):
    """The kit's default training: the model, and the dataset ``labkit.train_or_load`` fits."""
    vae = build_kit_vae(x_train, settings.num_epochs, settings.batch_size)
    batches = labkit.image_batches(x_train, settings.batch_size, shuffle_seed=settings.seed)
    return vae, {"x": batches, "shuffle": False}


def seconds_to_reach(target: float, qualities: list[float], seconds: list[float]) -> float | None:
    """Cumulative seconds at the end of the first epoch whose quality is at most ``target``."""
    elapsed = 0.0
    for quality, epoch_seconds in zip(qualities, seconds, strict=True):
        elapsed += epoch_seconds
        if quality <= target:
            return elapsed
    return None


def one_repeat(
    x_train, x_test, settings: labkit.config.LabSettings, seed: int, lab_epochs: int = LAB_EPOCHS
) -> dict:
    """Train a fresh pair of models side by side; their per-epoch records and the ratios."""
    labkit.seed_everything(seed)
    lab = build_reference_vae()
    lab_inputs = {"x": x_train, "batch_size": LAB_BATCH_SIZE}
    kit, kit_inputs = build_kit(x_train, settings)
    runs = {"lab": (lab, lab_inputs, lab_epochs), "kit": (kit, kit_inputs, settings.num_epochs)}
    record = {name: {"wall": [], "cpu": [], "quality": []} for name in runs}
    for epoch in range(max(lab_epochs, settings.num_epochs)):
        order = list(runs) if epoch % 2 == 0 else list(runs)[::-1]
        for name in order:
            model, inputs, num_epochs = runs[name]
            if epoch >= num_epochs:
                continue
            wall, cpu = time.perf_counter(), time.process_time()
            model.fit(**inputs, epochs=epoch + 1, initial_epoch=epoch, verbose=0)
            record[name]["wall"].append(time.perf_counter() - wall)
            record[name]["cpu"].append(time.process_time() - cpu)
            record[name]["quality"].append(test_negative_elbo(model, x_test))
        print(
            f"    epoch {epoch + 1:>2}: "
            + "; ".join(
                f"{name} {r['wall'][-1]:.2f} s wall, {r['cpu'][-1]:.2f} s CPU, "
                f"{r['quality'][-1]:.2f} nats"
                for name, r in record.items()
                if len(r["wall"]) == epoch + 1
            ),
            flush=True,
        )
    lab_target = record["lab"]["quality"][-1]
    summary = {"lab_final_nats": lab_target, "kit_final_nats": record["kit"]["quality"][-1]}
    for clock in ("wall", "cpu"):
        lab_seconds = sum(record["lab"][clock])
        kit_seconds = seconds_to_reach(lab_target, record["kit"]["quality"], record["kit"][clock])
        summary[f"lab_all_epochs_{clock}_s"] = lab_seconds
        summary[f"kit_to_lab_quality_{clock}_s"] = kit_seconds
        summary[f"ratio_{clock}"] = lab_seconds / kit_seconds if kit_seconds else None
        summary[f"kit_to_{KIT_TARGET_NATS:g}_{clock}_s"] = seconds_to_reach(
            KIT_TARGET_NATS, record["kit"]["quality"], record["kit"][clock]
        )
    summary["epochs"] = record
    return summary


def _number(value) -> str:
    return "not reached" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh pairs of models (default 3)")
    parser.add_argument("--json", help="also write the numbers to this file")
    arguments = parser.parse_args(argv)

    settings = labkit.load_settings()
    print("Machine:", json.dumps(labkit.runtime_summary()))
    (x_train, _), (x_test, _) = labkit.load_mnist()
    x_test = x_test[:TEST_IMAGES]
    print(
        f"The lab's code ({LAB_EPOCHS} epochs, batch {LAB_BATCH_SIZE}) against the kit's default "
        f"training ({settings.describe()}), {len(x_train)} training images, test negative ELBO "
        f"on {len(x_test)} test images after every epoch; {arguments.repeats} repeat(s)."
    )
    repeats = []
    for repeat in range(arguments.repeats):
        print(f"  repeat {repeat + 1} (seed {settings.seed + repeat}):", flush=True)
        repeats.append(one_repeat(x_train, x_test, settings, settings.seed + repeat))
    names = [
        "lab_final_nats",
        "kit_final_nats",
        "lab_all_epochs_wall_s",
        "kit_to_lab_quality_wall_s",
        "ratio_wall",
        "lab_all_epochs_cpu_s",
        "kit_to_lab_quality_cpu_s",
        "ratio_cpu",
        f"kit_to_{KIT_TARGET_NATS:g}_wall_s",
        f"kit_to_{KIT_TARGET_NATS:g}_cpu_s",
    ]
    rows = []
    for name in names:
        values = [r[name] for r in repeats]
        known = [v for v in values if v is not None]
        median = statistics.median(known) if len(known) == len(values) else None
        rows.append([name, *[_number(v) for v in values], _number(median)])
    header = ["", *[f"repeat {i + 1}" for i in range(len(repeats))], "median"]
    print(labkit.format_table(header, rows))
    ratios = [r["ratio_wall"] for r in repeats]
    if all(ratio is not None for ratio in ratios):
        print(f"median time-to-quality ratio (wall): {statistics.median(ratios):.2f}x")
    else:
        print("the kit did not reach the lab's final quality in every repeat")
    results = {"settings": settings.describe(), "repeats": repeats}
    if arguments.json:
        with open(arguments.json, "w", encoding="utf-8") as file:
            json.dump(results, file, indent=2)
    return results


if __name__ == "__main__":
    main()
