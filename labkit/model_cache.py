"""Trained models kept between notebooks, so that a model is trained once, not in every lab.

Lab 04 trains a VAE and an autoencoder that Lab 05 needs again, built the same way from the same
seed. :func:`train_or_load` trains a model with :func:`labkit.train` and keeps its weights and
history in a cache folder (``.labkit_cache`` beside the notebooks, ignored by git); a later call
with the same model gets them back instead of training again, and says so in one line.

"The same model" is decided by a fingerprint of everything training depends on: the model's
configuration (layers, sizes, beta, the output bias), its initial weights (so the seed), the
loss, the settings (epochs, batch size, seed, quick or full mode), the training and validation
images themselves, the kit's recipe (peak learning rate and its schedule), the source of the
code that builds and trains it (``labkit/models.py`` and ``labkit/training.py``) and the
versions of labkit, Keras and TensorFlow. Anything else trains again. A cache file that cannot
be read, or does not fit the model, is trained over with a warning; nothing here stops a
notebook.
``LABKIT_RETRAIN=1`` trains every model again, and refreshes the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from labkit import models as models_module
from labkit import training as training_module
from labkit.backend import keras, tf
from labkit.config import LabSettings
from labkit.data import LabData
from labkit.models import VAE
from labkit.training import (
    PEAK_LEARNING_RATE,
    STEPS_PER_EXECUTION,
    WARMUP_EPOCHS,
    compile_for_data,
    train,
)

__all__ = ["cached_model_path", "model_fingerprint", "train_or_load"]

_TRAINING_CODE = (models_module, training_module)

CACHE_FORMAT = 1  # bump when the files' layout changes
_HISTORY_KEY = "history_json"
_WEIGHT_PREFIX = "weight_"


def _loss_name(loss) -> str:
    return loss if isinstance(loss, str) or loss is None else getattr(loss, "__name__", repr(loss))


def model_fingerprint(model: keras.Model, data: LabData, settings: LabSettings, loss="mse") -> str:
    """A SHA-256 hex digest of everything that decides what training ``model`` gives.

    Call it on the freshly built model, before training: its initial weights are part of it.
    """
    from labkit import __version__

    if isinstance(model, VAE):
        loss = None  # a VAE trains on its own loss, whatever is passed
    digest = hashlib.sha256()
    recipe = {
        "format": CACHE_FORMAT,
        "labkit": __version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "class": type(model).__qualname__,
        "config": keras.saving.serialize_keras_object(model),
        "loss": _loss_name(loss),
        "epochs": settings.num_epochs,
        "batch_size": settings.batch_size,
        "seed": settings.seed,
        "mode": settings.mode,
        "peak_learning_rate": PEAK_LEARNING_RATE,
        "warmup_epochs": WARMUP_EPOCHS,
        "steps_per_execution": STEPS_PER_EXECUTION,
    }
    digest.update(json.dumps(recipe, sort_keys=True, default=str).encode("utf-8"))
    for module in _TRAINING_CODE:  # a change to the model or training code retrains
        digest.update(Path(module.__file__).read_bytes())
    for weights in model.get_weights():
        digest.update(np.ascontiguousarray(weights).tobytes())
    for images in (data.x_train, data.x_val):
        digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()


def cached_model_path(model: keras.Model, fingerprint: str, settings: LabSettings) -> Path:
    """The cache file of ``model`` with this fingerprint, such as ``vae-3f2a9c01d4e5b6a7.npz``."""
    return Path(settings.cache_dir) / f"{type(model).__name__.lower()}-{fingerprint[:16]}.npz"


def _load(path: Path, model: keras.Model) -> dict[str, list[float]]:
    with np.load(path, allow_pickle=False) as stored:
        count = len([key for key in stored.files if key.startswith(_WEIGHT_PREFIX)])
        weights = [stored[f"{_WEIGHT_PREFIX}{index}"] for index in range(count)]
        history = json.loads(str(stored[_HISTORY_KEY]))
    expected = [tuple(weight.shape) for weight in model.get_weights()]
    if [tuple(weight.shape) for weight in weights] != expected:
        raise ValueError(f"its weights do not fit this model ({len(weights)} arrays)")
    model.set_weights(weights)
    return history


def _save(path: Path, model: keras.Model, history: dict[str, list[float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"{_WEIGHT_PREFIX}{i}": weight for i, weight in enumerate(model.get_weights())}
    arrays[_HISTORY_KEY] = np.array(json.dumps(history))
    partial = path.with_name(f"{path.stem}.partial.npz")
    np.savez(partial, **arrays)
    os.replace(partial, path)  # a reader never sees a half-written file


def train_or_load(
    model: keras.Model,
    data: LabData,
    settings: LabSettings,
    *,
    loss="mse",
    log_name: str | None = "",
) -> dict[str, list[float]]:
    """Train ``model`` as :func:`labkit.train` does, or load what the same training gave before.

    Args:
        model: A freshly built model (its initial weights are part of the fingerprint).
        data: The lab's data; training uses ``x_train`` and ``x_val``.
        settings: Epochs, batch size, seed and mode; ``settings.cache_dir`` is the cache folder
            and ``settings.retrain`` skips loading.
        loss: An autoencoder's loss (see :func:`labkit.train`).
        log_name: Printed before each epoch line, and before the line that says the model was
            loaded; ``None`` prints nothing while training.

    Returns:
        The Keras history dict, as :func:`labkit.train` returns it: recorded when the model was
        trained, read back when it is loaded. Either way ``model`` ends compiled with the kit's
        recipe, holding the trained weights.
    """
    fingerprint = model_fingerprint(model, data, settings, loss)
    path = cached_model_path(model, fingerprint, settings)
    label = log_name or model.name
    if path.exists() and not settings.retrain:
        try:
            history = _load(path, model)
        except Exception as error:
            warnings.warn(
                f"{label}: could not use the cached model {path} ({error}); training it again.",
                stacklevel=2,
            )
        else:
            # Compiled as training leaves it, so that evaluate() works on it the same way.
            compile_for_data(model, data, settings, loss=loss)
            print(
                f"{label}: loaded from {path}, trained earlier with the same model, data and "
                "settings (delete the file, or set LABKIT_RETRAIN=1, to train it again)",
                flush=True,
            )
            return history
    history = train(model, data, settings, loss=loss, log_name=log_name)
    try:
        _save(path, model, history)
    except OSError as error:  # a read-only folder: the notebook goes on, without a cache
        warnings.warn(f"{label}: could not save the trained model to {path}: {error}", stacklevel=2)
    return history
