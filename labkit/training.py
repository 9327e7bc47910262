"""The kit's training recipe: Adam with a warm-up and cosine decay, compiled with XLA.

Notebooks 02 and 03 write their models out and apply this recipe in one labelled cell
(:func:`labkit.set_output_bias_to_mean_image`, :func:`learning_rate_schedule`,
:func:`image_batches`, XLA and ``steps_per_execution`` in ``compile``); notebooks 04 and 05
train several models on the same footing with :func:`train`, through
:func:`labkit.train_or_load`, which keeps trained models for the next notebook.

Why this recipe (measured in ``benchmarks/``, numbers in the README):

* The learning rate rises from a tenth of its peak (1e-2) to the peak over the first quarter
  epoch (large steps on an untrained network can blow up), then follows a half cosine down to
  zero at the last step. In the lab's 10 epochs this reaches a lower test loss than Adam's
  constant default of 1e-3, which is still far from converged when training stops.
* Batches of 250 images (:data:`labkit.BATCH_SIZE`), which divide every split evenly: XLA
  compiles one step for one batch shape, and an epoch has fewer, fuller steps than at 128.
* ``jit_compile=True`` compiles each training step with XLA, which fuses the many small
  element-wise operations (sigmoid, cross-entropy, KL, Adam's updates) into a few loops and
  runs the step as one program instead of scheduling each operation on TensorFlow's threads.
  It computes the same functions.
* ``steps_per_execution`` runs several batches per call from Python into TensorFlow; it saves
  about a tenth of an epoch on 2 cores and changes no number. :func:`image_batches` feeds
  the batches through ``tf.data`` from the NumPy array without copying it, so training
  needs less memory than the lab's ``fit(x_train, ...)``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping

import numpy as np

from labkit.backend import keras, tf
from labkit.config import LabSettings
from labkit.data import LabData, one_hot
from labkit.models import VAE, EncoderDecoderModel

__all__ = [
    "PEAK_LEARNING_RATE",
    "STEPS_PER_EXECUTION",
    "WARMUP_EPOCHS",
    "EpochLog",
    "compile_for_data",
    "compile_for_training",
    "fit_on_data",
    "image_batches",
    "learning_rate_schedule",
    "seconds_per_epoch",
    "train",
]

PEAK_LEARNING_RATE = 1e-2
WARMUP_EPOCHS = 0.25  # a quarter of the first epoch
WARMUP_START_FRACTION = 0.1  # the warm-up starts at a tenth of the peak
STEPS_PER_EXECUTION = 16  # batches per call into TensorFlow
BATCHES_PER_BLOCK = 16  # batches image_batches gathers per call into Python


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
    labels: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Batches of ``images`` for ``fit`` or ``evaluate``, reshuffled every epoch when seeded.

    Each epoch draws a new order of the images from a NumPy generator seeded with
    ``shuffle_seed`` (so the same seed gives the same batches) and gathers each batch from
    ``images`` ahead of the model, without copying the whole array into TensorFlow.

    Args:
        images: ``(num_images, num_pixels)`` float32 array.
        batch_size: Images per batch; the last batch may be smaller.
        shuffle_seed: Seed of the order; ``None`` keeps the images in order (validation).
        with_targets: Yield ``(images, images)`` pairs, for an autoencoder trained on MSE.
        labels: The images' digits ``(num_images,)``, for a conditional model (notebook 06):
            each batch is then ``((images, one_hot),)``, so the model's input ``x`` is the pair
            of the images and their :func:`labkit.one_hot` labels, gathered in the same order.

    Returns:
        A ``tf.data.Dataset`` of float32 batches (or pairs of them).

    Raises:
        ValueError: ``images`` is not a non-empty 2-D array, ``batch_size`` is not positive,
            ``labels`` do not match the images, or ``with_targets`` and ``labels`` are both given.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 2 or len(images) == 0:
        raise ValueError(
            f"images must be a non-empty array of shape (num_images, num_pixels). Received "
            f"shape {images.shape}; flatten 28x28 images with images.reshape(len(images), -1)."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: {batch_size!r}.")
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
    # The batches are gathered from the NumPy array itself, in the pipeline's thread, so
    # TensorFlow holds no copy of the images. A dataset made from a tensor of them holds one
    # copy, and a second once it runs (188 MB each for MNIST's training images). Gathering a
    # block of batches per call into Python costs no more CPU than gathering in TensorFlow;
    # one batch per call cost 4 to 12% more per epoch on 2 cores.
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
    """Warm-up over a quarter epoch to ``peak_learning_rate``, then cosine decay to zero.

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
    warmup_steps = round(min(WARMUP_EPOCHS, num_epochs - 1) * steps_per_epoch)
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
    jit_compile: bool = True,
) -> None:
    """Compile ``model`` with the kit's recipe: Adam on :func:`learning_rate_schedule`, XLA.

    A VAE trains on its own loss (negative ELBO, nats per image) and ``loss`` is ignored; an
    autoencoder on ``loss``: the mean squared error by default, as the lab does, or
    :func:`labkit.summed_binary_crossentropy` to train it on the VAE's reconstruction term.
    ``jit_compile=False`` leaves XLA out: on a CPU, TensorFlow's own (oneDNN) convolutions are
    faster than XLA's, so notebook 06 trains its convolutional VAEs without it.
    """
    schedule = learning_rate_schedule(num_epochs, steps_per_epoch, peak_learning_rate)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss=None if isinstance(model, VAE) else loss,
        jit_compile=jit_compile,
        steps_per_execution=STEPS_PER_EXECUTION,
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
        jit_compile=jit_compile,
    )


def fit_on_data(
    model: EncoderDecoderModel,
    data: LabData,
    settings: LabSettings,
    *,
    log_name: str | None = "",
) -> dict[str, list[float]]:
    """Fit the compiled ``model`` on ``data.x_train``, validating on ``data.x_val``, as
    :func:`train` does after compiling.

    Returns:
        The Keras history dict (see :func:`train`).
    """
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


def train(
    model: EncoderDecoderModel,
    data: LabData,
    settings: LabSettings,
    *,
    peak_learning_rate: float = PEAK_LEARNING_RATE,
    loss="mse",
    log_name: str | None = "",
    jit_compile: bool = True,
) -> dict[str, list[float]]:
    """Compile ``model`` (:func:`compile_for_training`) and train it on ``data.x_train``.

    It validates on ``data.x_val`` after every epoch. Epochs and batch size come from
    ``settings``; ``loss`` is an autoencoder's (a VAE ignores it). Each epoch prints one
    :class:`EpochLog` line, starting with ``log_name``; ``log_name=None`` prints nothing.
    ``jit_compile=False`` trains without XLA (see :func:`compile_for_training`).

    Returns:
        The Keras history dict: ``loss`` and ``val_loss`` per epoch, and for a VAE also
        ``reconstruction_loss``, ``kl_loss`` and their ``val_`` versions.
    """
    compile_for_data(
        model,
        data,
        settings,
        peak_learning_rate=peak_learning_rate,
        loss=loss,
        jit_compile=jit_compile,
    )
    return fit_on_data(model, data, settings, log_name=log_name)


def seconds_per_epoch(
    models: Mapping[str, EncoderDecoderModel],
    images: np.ndarray,
    *,
    epoch_images: int,
    batch_size: int,
    rounds: int = 3,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Seconds per training epoch of several compiled models, measured side by side.

    Each round trains every model, in turn, for one pass over ``images``, so that a stall of
    the machine slows all of them alike; a first pass of each (tracing and compiling the
    training step) is not counted. A pass's time is scaled to an epoch of ``epoch_images``
    images (the time per step does not depend on which images a batch holds). This trains the
    models: time fresh copies, not the models you keep.

    Args:
        models: ``{name: model}``, each compiled (for example by :func:`compile_for_data`).
        images: The images of one timed pass, ``(n, 784)``: a slice of the training images.
        epoch_images: How many images an epoch has (``len(data.x_train)``).
        batch_size: Images per batch, as in training.
        rounds: Timed passes per model; the medians are returned.
        seed: Seed of the batches' order.

    Returns:
        ``{name: {"wall_seconds": median, "cpu_seconds": median}}`` per epoch. CPU-seconds are
        the process's, summed over its threads (``time.process_time``): they count the work,
        whatever else the machine is doing, while wall time also counts the waits.

    Raises:
        ValueError: No models, a model that is not compiled, or ``rounds`` below 1.
    """
    if not models:
        raise ValueError("models is empty: pass at least one model, e.g. {'VAE': vae}.")
    for name, model in models.items():
        if not model.compiled:
            raise ValueError(
                f"{name!r} is not compiled: compile it as for training first "
                "(labkit.compile_for_data(model, data, settings))."
            )
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive integer. Received: {rounds!r}.")
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
