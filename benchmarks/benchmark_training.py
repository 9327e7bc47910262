"""Training speed and quality: the lab's own Keras VAE against the kit's, side by side.

Both models are the lab's 784-512-2 VAE trained on the full MNIST training set (60,000 images)
with batch size 256, in one process. Their epochs alternate (reference, kit; then kit,
reference; ...), so both see the same machine load. It prints the median seconds per epoch of
each (the first epoch, which traces and compiles, is shown apart), their ratio, and each model's
test negative ELBO after the last epoch, computed by one function with the same noise.

With ``--startup`` it also measures, each in fresh processes: the import time of ``labkit``
against ``import keras`` alone, the time to build the models, and the peak memory (maximum
resident set size) of a training run of each model.

Usage (MNIST located as for the notebooks; in PowerShell, set the folder first with
``$env:LABKIT_DATA_DIR = "../shared/data/mnist"``, then run the command without its prefix):

    LABKIT_DATA_DIR=../shared/data/mnist python benchmarks/benchmark_training.py --startup

Peak memory is measured on Linux (VmHWM, reset once the data is loaded) and macOS (the process's
maximum resident set size, which cannot be reset, so it includes loading the data); on Windows
only where ``psutil`` happens to be installed (its peak working set, also not reset).

The reference below is the lab's code written plainly, as the lab wrote it, in Keras 3 (the
Keras VAE example's structure with the lab's dense layers), except for one line: its sampling
uses exp(0.5 * z_log_var), not the lab's exp(z_log_var), so that both models optimise the
same objective and their ELBOs can be compared.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import NamedTuple

import numpy as np

import labkit
from labkit.backend import keras, tf

BATCH_SIZE = 256  # the lab's batch size: the benchmark's definition of an epoch
EVALUATION_NOISE_SEED = 2024
REPO_ROOT = Path(__file__).resolve().parent.parent
# Linux only: the process's memory high-water mark, and the file that resets it.
PROC_STATUS = Path("/proc/self/status")
PROC_CLEAR_REFS = Path("/proc/self/clear_refs")
BYTES_PER_MIB = 2**20
KIB_PER_MIB = 1024
NOT_MEASURED = "not measured on this platform"


# --- The lab's code, written plainly ---------------------------------------------------------


class ReferenceSampling(keras.layers.Layer):
    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(shape=tf.shape(z_mean))
        return z_mean + tf.exp(0.5 * z_log_var) * epsilon


class ReferenceVAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = tf.reduce_mean(
                tf.reduce_sum(keras.ops.binary_crossentropy(data, reconstruction), axis=-1)
            )
            kl_loss = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
            kl_loss = tf.reduce_mean(tf.reduce_sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        self.total_loss_tracker.update_state(total_loss)
        return {"loss": self.total_loss_tracker.result()}


def build_reference_vae(latent_dim=2):
    encoder_inputs = keras.Input(shape=(784,))
    x = keras.layers.Dense(512, activation="relu")(encoder_inputs)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
    z = ReferenceSampling()([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")
    latent_inputs = keras.Input(shape=(latent_dim,))
    x = keras.layers.Dense(512, activation="relu")(latent_inputs)
    decoder_outputs = keras.layers.Dense(784, activation="sigmoid")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")
    vae = ReferenceVAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam())
    return vae


# --- The kit's VAE, trained with the kit's recipe ----------------------------------------------


def build_kit_vae(x_train: np.ndarray, num_epochs: int, batch_size: int) -> labkit.VAE:
    vae = labkit.build_vae(pixel_means=x_train.mean(axis=0))
    settings = labkit.load_settings({}, num_epochs=num_epochs, batch_size=batch_size)
    labkit.compile_for_data(vae, types.SimpleNamespace(x_train=x_train), settings)
    return vae


# --- Measuring ---------------------------------------------------------------------------------


def test_negative_elbo(model, images: np.ndarray) -> float:
    """One-sample negative ELBO in nats per image, with the same noise for every model."""
    z_mean, z_log_var, _ = (np.asarray(part) for part in model.encoder.predict(images, verbose=0))
    noise = np.random.default_rng(EVALUATION_NOISE_SEED).standard_normal(z_mean.shape)
    z = z_mean + np.exp(0.5 * z_log_var) * noise
    probabilities = model.decoder.predict(z, verbose=0)
    cross_entropy = labkit.evaluation.reconstruction_errors(images, probabilities)[
        "reconstruction_bce"
    ]
    kl = keras.ops.convert_to_numpy(labkit.kl_divergence(z_mean, z_log_var))
    return cross_entropy + float(np.mean(kl))


def train_side_by_side(x_train, x_test, num_epochs: int, batch_size: int) -> dict:
    seed = labkit.load_settings().seed
    labkit.seed_everything(seed)
    models = {
        "reference": build_reference_vae(),
        "kit": build_kit_vae(x_train, num_epochs, batch_size),
    }
    # The lab fits on the NumPy array; the kit on its tf.data pipeline.
    inputs = {
        "reference": {"x": x_train, "batch_size": batch_size},
        "kit": {
            "x": labkit.image_batches(x_train, batch_size, shuffle_seed=seed),
            "shuffle": False,
        },
    }
    seconds = {name: [] for name in models}
    for epoch in range(num_epochs):
        order = list(models) if epoch % 2 == 0 else list(models)[::-1]
        for name in order:
            started = time.perf_counter()
            models[name].fit(**inputs[name], epochs=epoch + 1, initial_epoch=epoch, verbose=0)
            seconds[name].append(time.perf_counter() - started)
        print(
            f"  epoch {epoch + 1:>2}: "
            + ", ".join(f"{name} {seconds[name][-1]:.2f} s" for name in models),
            flush=True,
        )
    return {
        name: {
            "first_epoch_seconds": seconds[name][0],
            "median_epoch_seconds": statistics.median(seconds[name][1:] or seconds[name]),
            "fastest_epoch_seconds": min(seconds[name][1:] or seconds[name]),
            "slowest_epoch_seconds": max(seconds[name][1:] or seconds[name]),
            "test_negative_elbo": test_negative_elbo(model, x_test),
        }
        for name, model in models.items()
    }


def _python(code: str) -> str:
    # From the checkout's root, wherever this script is run from: the code imports `benchmarks`.
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    return done.stdout.strip().splitlines()[-1]


def measure_startup(repeats: int) -> dict:
    """Import and build times (medians over fresh processes), and peak memory of training."""
    timer = "import time; started = time.perf_counter(); {}; print(time.perf_counter() - started)"
    # labkit imports its modules, and TensorFlow, when a notebook first uses one of its names.
    kit = "import labkit; labkit.load_settings"
    results = {"import keras (s)": [], "import labkit, first name (s)": []}
    for _ in range(repeats):  # alternate, so both see the same load
        results["import keras (s)"].append(float(_python(timer.format("import keras"))))
        results["import labkit, first name (s)"].append(float(_python(timer.format(kit))))
    build = (
        "import time, labkit, benchmarks.benchmark_training as b; times = []\n"
        "for _ in range(5):\n"
        "    started = time.perf_counter(); {}; times.append(time.perf_counter() - started)\n"
        "print(sorted(times)[2])"
    )
    results["build reference VAE (s)"] = [
        float(_python(build.format("b.build_reference_vae()"))) for _ in range(repeats)
    ]
    results["build kit VAE (s)"] = [
        float(_python(build.format("labkit.build_vae()"))) for _ in range(repeats)
    ]
    summary = {name: statistics.median(values) for name, values in results.items()}
    for name in ("reference", "kit"):
        peak = PeakMemory(
            *json.loads(
                _python(
                    "import json, benchmarks.benchmark_training as b; "
                    f"print(json.dumps(b.peak_memory_of_training({name!r})))"
                )
            )
        )
        label, value = peak_memory_row(name, peak)
        summary[label] = value
    return summary


class PeakMemory(NamedTuple):
    """A process's peak resident memory, and what the number covers."""

    mib: float | None  # None where this platform gives no way to measure it
    caveat: str | None  # None when it is exactly the peak while training


def reset_peak_memory() -> bool:
    """Reset this process's peak-memory mark to its current size; False where that is impossible.

    Only Linux can (writing 5 to /proc/self/clear_refs resets VmHWM); macOS and Windows keep the
    peak of the process's whole life.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        PROC_CLEAR_REFS.write_text("5", encoding="ascii")
    except OSError:  # /proc not mounted, or not writable in this container
        return False
    return True


def _linux_peak_kib() -> int | None:
    try:
        status = PROC_STATUS.read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])  # "VmHWM:   123456 kB"
    return None


def _whole_process(reason: str) -> str:
    return f"whole process, loading the data included: {reason}"


def peak_memory(was_reset: bool) -> PeakMemory:
    """This process's peak resident memory in MiB (2**20 bytes), measured as the platform allows.

    Linux: VmHWM from /proc/self/status, the peak since ``reset_peak_memory`` if ``was_reset``.
    macOS (and Linux without /proc): ``resource``'s ru_maxrss, in bytes on macOS and KiB on
    Linux, the peak of the whole process. Windows has no ``resource`` module: psutil's peak
    working set where psutil happens to be installed (it is not a dependency), else no number.
    """
    if sys.platform.startswith("linux"):
        kib = _linux_peak_kib()
        if kib is not None:
            caveat = None if was_reset else _whole_process("/proc/self/clear_refs did not reset it")
            return PeakMemory(kib / KIB_PER_MIB, caveat)
    try:
        import resource  # POSIX only
    except ImportError:
        return _windows_peak_memory()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":
        return PeakMemory(max_rss / BYTES_PER_MIB, _whole_process("macOS cannot reset the peak"))
    return PeakMemory(max_rss / KIB_PER_MIB, _whole_process("ru_maxrss cannot be reset"))


def _windows_peak_memory() -> PeakMemory:
    try:
        import psutil  # not a dependency: used where it happens to be installed
    except ImportError:
        return PeakMemory(None, f"{NOT_MEASURED} (no resource module, and psutil not installed)")
    peak_bytes = getattr(psutil.Process().memory_info(), "peak_wset", None)  # Windows only
    if peak_bytes is None:
        return PeakMemory(None, f"{NOT_MEASURED} (no resource module, and no peak from psutil)")
    return PeakMemory(peak_bytes / BYTES_PER_MIB, _whole_process("Windows cannot reset the peak"))


def peak_memory_row(name: str, peak: PeakMemory) -> tuple[str, float | str]:
    """The printed table's row: label and value, with what the number covers when not exact."""
    if peak.mib is None:
        return f"peak memory while training, {name}", peak.caveat
    if peak.caveat is None:
        return f"peak memory while training, {name} (MiB)", peak.mib
    return f"peak memory of a training process, {name} (MiB; {peak.caveat})", peak.mib


def peak_memory_of_training(name: str) -> PeakMemory:
    """Peak resident memory of a process while it trains one model for one epoch (all of MNIST).

    Loading MNIST (decompressing and converting it) briefly needs more memory than training, so
    the peak is reset once the data is loaded where the platform allows it (Linux): the number is
    then the peak while training, the data included. Elsewhere it is the whole process's peak,
    and its caveat says so.
    """
    (x_train, _), _ = labkit.load_mnist()
    labkit.seed_everything(labkit.load_settings().seed)
    gc.collect()
    was_reset = reset_peak_memory()
    if name == "reference":
        build_reference_vae().fit(x_train, epochs=1, batch_size=BATCH_SIZE, verbose=0)
    else:
        # The kit's default training: its own batch size
        batches = labkit.image_batches(x_train, labkit.config.BATCH_SIZE, shuffle_seed=0)
        vae = build_kit_vae(x_train, 1, labkit.config.BATCH_SIZE)
        vae.fit(batches, epochs=1, shuffle=False, verbose=0)
    return peak_memory(was_reset)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs per model (default 10)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument(
        "--startup", action="store_true", help="also measure import and build times and peak memory"
    )
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per startup time")
    parser.add_argument("--json", help="also write the numbers to this file")
    arguments = parser.parse_args(argv)

    print("Machine:", json.dumps(labkit.runtime_summary()))
    (x_train, _), (x_test, _) = labkit.load_mnist()
    print(
        f"Training both VAEs for {arguments.epochs} epochs on {len(x_train)} images, "
        f"batch size {arguments.batch_size}, alternating:"
    )
    results = train_side_by_side(x_train, x_test, arguments.epochs, arguments.batch_size)
    reference, kit = results["reference"], results["kit"]
    rows = [
        ["first epoch (s)", reference["first_epoch_seconds"], kit["first_epoch_seconds"]],
        ["median epoch (s)", reference["median_epoch_seconds"], kit["median_epoch_seconds"]],
        ["fastest epoch (s)", reference["fastest_epoch_seconds"], kit["fastest_epoch_seconds"]],
        ["slowest epoch (s)", reference["slowest_epoch_seconds"], kit["slowest_epoch_seconds"]],
        ["test negative ELBO (nats)", reference["test_negative_elbo"], kit["test_negative_elbo"]],
    ]
    print(labkit.format_table(["", "lab reference", "kit"], rows))
    speedup = reference["median_epoch_seconds"] / kit["median_epoch_seconds"]
    print(f"speed-up of the kit's epoch: {speedup:.2f}x")
    results["speedup"] = speedup
    if arguments.startup:
        startup = measure_startup(arguments.repeats)
        print(labkit.format_table(["measure", "median"], list(startup.items())))
        results["startup"] = startup
    if arguments.json:
        with open(arguments.json, "w", encoding="utf-8") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
