"""The kit's training recipe: Adam with a warm-up and cosine decay, XLA, batches fed from NumPy.

Why this recipe, and what it measured: docs/performance.md.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping

import numpy as np

from labkit.backend import keras, tf
from labkit.config import LabSettings, _check_integer
from labkit.data import LabData, one_hot
from labkit.models import VAE, EncoderDecoderModel
from labkit.reporting import _format_value

PEAK_LEARNING_RATE = 1e-2
WARMUP_EPOCHS = 0.25  # a quarter of the first epoch
WARMUP_START_FRACTION = 0.1  # the warm-up starts at a tenth of the peak
STEPS_PER_EXECUTION = 16  # batches per call into TensorFlow
BATCHES_PER_BLOCK = 16  # batches image_batches gathers per call into Python


class EpochLog(keras.callbacks.Callback):
    """Print one line per epoch, e.g. ``VAE  epoch  3/10  loss 159.4  val_loss 159.6  2.4 s``.

    Use with ``fit(..., callbacks=[labkit.EpochLog("VAE")], verbose=0)``; ``name`` tells models
    apart ("" for none).
    """

    def __init__(self, name: str = "") -> None:
        super().__init__()
        self.name = name
        self._started = 0.0
        self._num_epochs = 0

    def on_train_begin(self, logs=None) -> None:
        self._num_epochs = int(self.params.get("epochs") or 0)

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        seconds = time.perf_counter() - self._started
        width = len(str(self._num_epochs))
        parts = [f"{self.name}  " if self.name else "", f"epoch {epoch + 1:>{width}}"]
        parts.append(f"/{self._num_epochs}" if self._num_epochs else "")
        for key in ("loss", "val_loss"):
            if key in logs:
                parts.append(f"  {key} {_format_value(float(logs[key]), decimals=1)}")
        parts.append(f"  {seconds:.1f} s")
        print("".join(parts), flush=True)


def image_batches(
    images: np.ndarray,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    with_targets: bool = False,
    labels: np.ndarray | None = None,
) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of batches of ``(num_images, num_pixels)`` ``images`` for ``fit``.

    Seeded, each epoch is a new order drawn from ``shuffle_seed``; ``None`` keeps the order.
    ``with_targets`` yields ``(images, images)`` pairs (an autoencoder); ``labels`` (digits)
    yields ``((images, one_hot_labels),)`` (a conditional VAE). The last batch may be smaller.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 2 or len(images) == 0:
        raise ValueError(
            f"images must be a non-empty array of shape (num_images, num_pixels). Received "
            f"shape {images.shape}; flatten 28x28 images with images.reshape(len(images), -1)."
        )
    _check_integer("batch_size", batch_size)
    if labels is not None:
        if with_targets:
            raise ValueError(
                "pass labels (a conditional VAE) or with_targets (an autoencoder), not both."
            )
        labels = one_hot(labels)
        if len(labels) != len(images):
            raise ValueError(
                f"labels must give one digit per image: {len(images)} images, {len(labels)} labels."
            )
    # Gathered from the NumPy array in blocks of batches: TensorFlow holds no copy of the images.
    num_images = len(images)
    order = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
    num_batches = math.ceil(num_images / batch_size)

    arrays = [images] if labels is None else [images, labels]

    def blocks(rows):
        # rows is (batches, batch_size): one (batches, batch_size, columns) block per array.
        gathered = tuple(array[rows] for array in arrays)
        return gathered if labels is not None else gathered[0]

    def gather():
        # Several batches per Python call, as one block per array.
        indices = np.arange(num_images) if order is None else order.permutation(num_images)
        full = (num_images // batch_size) * batch_size
        for start in range(0, full, BATCHES_PER_BLOCK * batch_size):
            block = indices[start : min(start + BATCHES_PER_BLOCK * batch_size, full)]
            yield blocks(block.reshape(-1, batch_size))
        if full < num_images:  # the smaller last batch
            yield blocks(indices[full:][np.newaxis])

    specs = tuple(tf.TensorSpec((None, None, array.shape[1]), tf.float32) for array in arrays)
    batches = (
        tf.data.Dataset.from_generator(
            gather, output_signature=specs if labels is not None else specs[0]
        )
        .unbatch()
        .apply(tf.data.experimental.assert_cardinality(num_batches))
    )
    if labels is not None:
        batches = batches.map(lambda batch, digits: ((batch, digits),))
    elif with_targets:
        batches = batches.map(lambda batch: (batch, batch))
    return batches.prefetch(tf.data.AUTOTUNE)


def learning_rate_schedule(
    num_epochs: int, steps_per_epoch: int, peak_learning_rate: float = PEAK_LEARNING_RATE
) -> keras.optimizers.schedules.LearningRateSchedule:
    """A rise from a tenth of ``peak_learning_rate`` to it over a quarter epoch, then a cosine
    decay to zero at the last of ``num_epochs * steps_per_epoch`` steps (a Keras schedule)."""
    _check_integer("num_epochs", num_epochs)
    _check_integer("steps_per_epoch", steps_per_epoch)
    if not peak_learning_rate > 0:
        raise ValueError(f"peak_learning_rate must be positive. Received: {peak_learning_rate!r}.")
    warmup_steps = round(min(WARMUP_EPOCHS, num_epochs - 1) * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak_learning_rate * WARMUP_START_FRACTION,
        warmup_target=peak_learning_rate,
        warmup_steps=warmup_steps,
        decay_steps=num_epochs * steps_per_epoch - warmup_steps,
    )


def compile_for_data(
    model: EncoderDecoderModel,
    data: LabData,
    settings: LabSettings,
    *,
    peak_learning_rate: float = PEAK_LEARNING_RATE,
    loss="mse",
    jit_compile: bool = True,
) -> None:
    """Compile ``model`` with Adam on :func:`learning_rate_schedule` for ``settings.num_epochs``
    epochs over ``data.x_train``, and XLA (``jit_compile``). A VAE trains on its own loss; an
    autoencoder on ``loss`` (MSE by default)."""
    steps_per_epoch = math.ceil(len(data.x_train) / settings.batch_size)
    schedule = learning_rate_schedule(settings.num_epochs, steps_per_epoch, peak_learning_rate)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss=None if isinstance(model, VAE) else loss,
        jit_compile=jit_compile,
        steps_per_execution=STEPS_PER_EXECUTION,
    )


def fit_on_data(
    model: EncoderDecoderModel,
    data: LabData,
    settings: LabSettings,
    *,
    labels: bool = False,
    log_name: str | None = "",
) -> dict[str, list[float]]:
    """Fit the compiled ``model`` on ``data.x_train`` (with their digits if ``labels``, for a
    conditional VAE), validating on ``data.x_val``; one :class:`EpochLog` line per epoch (none
    when ``log_name`` is None). Returns the history dict."""
    autoencoder = not isinstance(model, VAE)

    def batches(images, digits, shuffle_seed=None):
        return image_batches(
            images,
            settings.batch_size,
            shuffle_seed=shuffle_seed,
            with_targets=autoencoder,
            labels=digits if labels else None,
        )

    history = model.fit(
        batches(data.x_train, data.y_train, settings.seed),
        validation_data=batches(data.x_val, data.y_val),
        epochs=settings.num_epochs,
        shuffle=False,  # image_batches reshuffles every epoch itself
        callbacks=[] if log_name is None else [EpochLog(log_name)],
        verbose=0,
    )
    return history.history


def seconds_per_epoch(
    models: Mapping[str, EncoderDecoderModel],
    images: np.ndarray,
    *,
    epoch_images: int,
    batch_size: int,
    rounds: int = 3,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Seconds per epoch of ``epoch_images`` images of compiled ``models``, timed side by side.

    Each of ``rounds`` rounds trains every model in turn for one pass over ``images`` (so a
    stall slows all alike), after an untimed first pass that compiles. Returns
    ``{name: {"wall_seconds": median, "cpu_seconds": median}}``. It trains the models: time copies.
    """
    if not models:
        raise ValueError("models is empty: pass at least one model, e.g. {'VAE': vae}.")
    for name, model in models.items():
        if not model.compiled:
            raise ValueError(
                f"{name!r} is not compiled: compile it as for training first "
                "(labkit.compile_for_data(model, data, settings))."
            )
    _check_integer("rounds", rounds)
    scale = epoch_images / len(images)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    for round_index in range(rounds + 1):  # round 0 traces and compiles
        for name, model in models.items():
            autoencoder = not isinstance(model, VAE)
            batches = image_batches(
                images, batch_size, shuffle_seed=seed + round_index, with_targets=autoencoder
            )
            wall, cpu = time.perf_counter(), time.process_time()
            model.fit(batches, epochs=1, shuffle=False, verbose=0)
            if round_index:
                times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {
        name: {
            "wall_seconds": scale * statistics.median(wall for wall, _ in measured),
            "cpu_seconds": scale * statistics.median(cpu for _, cpu in measured),
        }
        for name, measured in times.items()
    }
