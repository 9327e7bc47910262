"""TensorFlow and Keras, imported once with their start-up notices muted, and the kit's seeding."""

from __future__ import annotations

import contextlib
import os
import platform
import random
import sys
from collections.abc import Iterator

from labkit.config import _check_integer


@contextlib.contextmanager
def _stderr_muted() -> Iterator[None]:
    # TensorFlow's C++ start-up notices go straight to descriptor 2, before its log settings apply.
    sys.stderr.flush()
    saved_fd = os.dup(2)
    devnull_fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull_fd, 2)
    try:
        yield
    finally:
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        os.close(devnull_fd)


def _import_quietly() -> tuple:
    # A user's own setting wins. "3" also hides a harmless C++ ERROR line of tf.data on every fit.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_muted():
        import keras
        import tensorflow

        tensorflow.config.list_physical_devices()  # prints the CUDA probe's result: while muted
    return tensorflow, keras


tf, keras = _import_quietly()


# TensorFlow's "triggered tf.function retracing" notice: each new model traces anew, as it should.
tf.get_logger().addFilter(
    lambda record: "triggered tf.function retracing" not in record.getMessage()
)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras: the same seed gives the same numbers.

    Raises ValueError unless ``seed`` is a non-negative integer.
    """
    _check_integer("seed", seed, 0)
    random.seed(seed)
    keras.utils.set_random_seed(seed)  # also seeds Python's and NumPy's global generators
    # Keras 3.12 (the newest for Python 3.10) keeps its global SeedGenerator; 3.13+ forgets it.
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("global_seed_generator", None)
    # Only GPU kernels need it; on a CPU it would turn XLA off, for no gain in determinism.
    if tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()


def usable_cpu_count() -> int:
    """The CPU cores this process may use (a container's limit where the platform tells it)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        count = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):  # Linux
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count()
    return count or 1


def runtime_summary() -> dict[str, str]:
    """Versions and devices, as ``{component: description}``."""
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras backend": keras.backend.backend(),
        "devices": ", ".join(device.name for device in gpus)
        or f"CPU only ({usable_cpu_count()} cores)",
    }
