"""The kit's training recipe: Adam with a warm-up and cosine decay, compiled with XLA.

Notebooks 02 and 03 write their models out and apply this recipe in one labelled cell
(:func:`labkit.set_output_bias_to_mean_image`, :func:`learning_rate_schedule`,
:func:`image_batches`, XLA and ``steps_per_execution`` in ``compile``); notebooks 04 and 05
train several models on the same footing with :func:`train`, through
:func:`labkit.train_or_load`, which keeps trained models for the next notebook.

Why this recipe (measured in ``benchmarks/``, numbers in the README):

* The learning rate rises from a tenth of its peak to the peak over the first epoch (large
  steps on an untrained network can blow up), then follows a half cosine down to zero at the
  last step. In the lab's 10 epochs this reaches a lower test loss than Adam's constant default
  of 1e-3, which is still far from converged when training stops.
* ``jit_compile=True`` compiles each training step with XLA, which fuses the many small
  element-wise operations (sigmoid, cross-entropy, KL, Adam's updates) into a few loops and
  runs the step as one program instead of scheduling each operation on TensorFlow's threads.
  It computes the same functions.
* ``steps_per_execution`` runs several batches per call from Python into TensorFlow, and
  :func:`image_batches` feeds the batches from a ``tf.data`` pipeline that shuffles indices
  and gathers whole batches, instead of Keras's general NumPy adapter. Each saves about a
  tenth of an epoch on 2 cores; neither changes a number.
"""

from __future__ import annotations

import math
import time

import numpy as np

from labkit.backend import keras, tf
from labkit.config import LabSettings
from labkit.data import LabData
from labkit.models import VAE, EncoderDecoderModel

__all__ = [
    "PEAK_LEARNING_RATE",
    "STEPS_PER_EXECUTION",
    "WARMUP_EPOCHS",
    "EpochLog",
    "compile_for_data",
    "compile_for_training",
    "image_batches",
    "learning_rate_schedule",
    "train",
]

PEAK_LEARNING_RATE = 6e-3
WARMUP_EPOCHS = 1
WARMUP_START_FRACTION = 0.1  # the warm-up starts at a tenth of the peak
STEPS_PER_EXECUTION = 16  # batches per call into TensorFlow


class EpochLog(keras.callbacks.Callback):
    """One short line per epoch: epoch, training loss, validation loss, seconds.

    Keras's own log (``verbose=2``) prints every metric and a per-step time; this prints what a
    student watches, for example ``VAE  epoch  3/10  loss 159.4  val_loss 159.6  2.4 s``. Pass
    it to ``fit(..., callbacks=[labkit.EpochLog("VAE")], verbose=0)``; :func:`train` uses it.

    Args:
        name: Printed before each line, to tell several models apart ("" for none).
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
                parts.append(f"  {key} {_short_number(float(logs[key]))}")
        parts.append(f"  {seconds:.1f} s")
        print("".join(parts), flush=True)


def _short_number(value: float) -> str:
    # 4 significant digits: 159.4 nats, 0.006383 MSE
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.1f}"


def image_batches(
    images: np.ndarray,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    with_targets: bool = False,
) -> tf.data.Dataset:
    """Batches of ``images`` for ``fit`` or ``evaluate``, reshuffled every epoch when seeded.

    Each epoch shuffles the image *indices* (with ``shuffle_seed``, so the same seed gives the
    same batches) and gathers each batch in one operation, ahead of the model.

    Args:
        images: ``(num_images, num_pixels)`` float32 array.
        batch_size: Images per batch; the last batch may be smaller.
        shuffle_seed: Seed of the order; ``None`` keeps the images in order (validation).
        with_targets: Yield ``(images, images)`` pairs, for an autoencoder trained on MSE.

    Returns:
        A ``tf.data.Dataset`` of float32 batches (or pairs of them).

    Raises:
        ValueError: ``images`` is not a non-empty 2-D array, or ``batch_size`` is not positive.
    """
    images = np.asarray(images)
    if images.ndim != 2 or len(images) == 0:
        raise ValueError(
            f"images must be a non-empty array of shape (num_images, num_pixels). Received "
            f"shape {images.shape}; flatten 28x28 images with images.reshape(len(images), -1)."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: {batch_size!r}.")
    all_images = tf.data.Dataset.from_tensors(tf.convert_to_tensor(images, tf.float32)).repeat()
    indices = tf.data.Dataset.range(len(images))
    if shuffle_seed is not None:
        indices = indices.shuffle(len(images), seed=shuffle_seed, reshuffle_each_iteration=True)
    batches = tf.data.Dataset.zip(indices.batch(batch_size), all_images).map(
        lambda batch_indices, source: tf.gather(source, batch_indices)
    )
    if with_targets:
        batches = batches.map(lambda batch: (batch, batch))
    return batches.prefetch(tf.data.AUTOTUNE)


def learning_rate_schedule(
    num_epochs: int, steps_per_epoch: int, peak_learning_rate: float = PEAK_LEARNING_RATE
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Warm-up over the first epoch to ``peak_learning_rate``, then cosine decay to zero.

    Args:
        num_epochs: Epochs the model will train for; the decay ends with the last of them.
        steps_per_epoch: Batches per epoch, ``ceil(num_images / batch_size)``.
        peak_learning_rate: The largest learning rate, reached at the end of the warm-up.

    Returns:
        A Keras schedule: pass it to an optimizer as ``learning_rate``.

    Raises:
        ValueError: A count is not a positive integer, or the rate is not positive.
    """
    for name, value in [("num_epochs", num_epochs), ("steps_per_epoch", steps_per_epoch)]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}.")
    if not peak_learning_rate > 0:
        raise ValueError(f"peak_learning_rate must be positive. Received: {peak_learning_rate!r}.")
    warmup_steps = min(WARMUP_EPOCHS, num_epochs - 1) * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak_learning_rate * WARMUP_START_FRACTION,
        warmup_target=peak_learning_rate,
        warmup_steps=warmup_steps,
        decay_steps=num_epochs * steps_per_epoch - warmup_steps,
    )


def compile_for_training(
    model: EncoderDecoderModel,
    *,
    num_epochs: int,
    steps_per_epoch: int,
    peak_learning_rate: float = PEAK_LEARNING_RATE,
    loss="mse",
) -> None:
    """Compile ``model`` with the kit's recipe: Adam on :func:`learning_rate_schedule`, XLA.

    A VAE trains on its own loss (negative ELBO, nats per image) and ``loss`` is ignored; an
    autoencoder on ``loss``: the mean squared error by default, as the lab does, or
    :func:`labkit.summed_binary_crossentropy` to train it on the VAE's reconstruction term.
    """
    schedule = learning_rate_schedule(num_epochs, steps_per_epoch, peak_learning_rate)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss=None if isinstance(model, VAE) else loss,
        jit_compile=True,
        steps_per_execution=STEPS_PER_EXECUTION,
    )


def compile_for_data(
    model: EncoderDecoderModel,
    data: LabData,
    settings: LabSettings,
    *,
    peak_learning_rate: float = PEAK_LEARNING_RATE,
    loss="mse",
) -> None:
    """Compile ``model`` as :func:`train` does for ``data.x_train`` and ``settings``.

    The schedule spans ``settings.num_epochs`` epochs of ``ceil(len(x_train) / batch_size)``
    steps (:func:`compile_for_training`).
    """
    compile_for_training(
        model,
        num_epochs=settings.num_epochs,
        steps_per_epoch=math.ceil(len(data.x_train) / settings.batch_size),
        peak_learning_rate=peak_learning_rate,
        loss=loss,
    )


def train(
    model: EncoderDecoderModel,
    data: LabData,
    settings: LabSettings,
    *,
    peak_learning_rate: float = PEAK_LEARNING_RATE,
    loss="mse",
    log_name: str | None = "",
) -> dict[str, list[float]]:
    """Compile ``model`` (:func:`compile_for_training`) and train it on ``data.x_train``.

    It validates on ``data.x_val`` after every epoch. Epochs and batch size come from
    ``settings``; ``loss`` is an autoencoder's (a VAE ignores it). Each epoch prints one
    :class:`EpochLog` line, starting with ``log_name``; ``log_name=None`` prints nothing.

    Returns:
        The Keras history dict: ``loss`` and ``val_loss`` per epoch, and for a VAE also
        ``reconstruction_loss``, ``kl_loss`` and their ``val_`` versions.
    """
    compile_for_data(model, data, settings, peak_learning_rate=peak_learning_rate, loss=loss)
    autoencoder = not isinstance(model, VAE)
    history = model.fit(
        image_batches(
            data.x_train, settings.batch_size, shuffle_seed=settings.seed, with_targets=autoencoder
        ),
        validation_data=image_batches(data.x_val, settings.batch_size, with_targets=autoencoder),
        epochs=settings.num_epochs,
        shuffle=False,  # image_batches reshuffles every epoch itself
        callbacks=[] if log_name is None else [EpochLog(log_name)],
        verbose=0,
    )
    return history.history
