"""TensorFlow and Keras, imported once and quietly, and the kit's one seeding call.

TensorFlow prints start-up notices (oneDNN, CUDA probing) from C++ straight to file descriptor
2, before its own log settings apply, so ``TF_CPP_MIN_LOG_LEVEL`` alone cannot hide them. In
Jupyter they land in every notebook's first cell as red stderr, and nbval then compares them.
:func:`_import_quietly` mutes descriptor 2 only while TensorFlow starts, so later warnings and
errors still reach the student.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import random
import sys
from collections.abc import Iterator

__all__ = ["keras", "runtime_summary", "seed_everything", "tf", "usable_cpu_count"]


@contextlib.contextmanager
def _stderr_muted() -> Iterator[None]:
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
    # A user's own setting wins. "3" also hides C++ ERROR lines: TF 2.21's tf.data logs a
    # harmless "NodeDef mentions attribute use_unbounded_threadpool" error on every fit() with
    # NumPy input; real failures still raise Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_muted():
        import keras
        import tensorflow

        # Device discovery prints the CUDA probe's result; do it now, while muted.
        tensorflow.config.list_physical_devices()
    return tensorflow, keras


tf, keras = _import_quietly()


class _NoRetracingNotice(logging.Filter):
    """Drops TensorFlow's "N out of the last M calls ... triggered tf.function retracing".

    Every Keras model traces its own training and evaluation functions, so a notebook that
    trains and evaluates several models (notebooks 05 and 06) trips this notice although
    nothing is traced twice for the same model; it would land in the notebook as stderr.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_NoRetracingNotice())


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras, so that the same seed gives the same numbers.

    Call it once, at the top of a notebook, before building models or drawing random numbers.
    Afterwards the same seed gives the same weights, batches, samples and losses on the same
    machine (different hardware or library versions may still differ in the last digits).

    On a machine with a GPU it also turns on TensorFlow's op determinism, since some GPU kernels
    add in a varying order. On a CPU-only machine it does not: the CPU kernels and XLA's CPU
    code are already deterministic (``tests/test_models.py`` trains twice and compares), and
    Keras turns XLA off whenever op determinism is on, which would make every epoch about
    twice as slow.

    Args:
        seed: A non-negative integer.

    Raises:
        ValueError: ``seed`` is not a non-negative integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer. Received: seed={seed!r}.")
    random.seed(seed)
    keras.utils.set_random_seed(seed)  # also seeds Python's and NumPy's global generators
    # keras.random draws without a seed come from Keras's global SeedGenerator, made from the
    # seed on first use. Keras 3.13+ forgets it in set_random_seed; 3.12 (the newest Keras for
    # Python 3.10) does not, so forget it here too, or the same seed gives other draws.
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("global_seed_generator", None)
    if tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()


def usable_cpu_count() -> int:
    """How many CPU cores this process may run on, on every platform.

    ``os.process_cpu_count()`` (Python 3.13+) and ``os.sched_getaffinity`` (Linux only) respect
    a container's or a job scheduler's CPU limit; macOS and Windows before 3.13 have neither, so
    the machine's count is the best there is.
    """
    if hasattr(os, "process_cpu_count"):
        count = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count()
    return count or 1


def runtime_summary() -> dict[str, str]:
    """Versions and devices, for the setup cell of each notebook and ``labkit check``."""
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
