"""Trained models kept in ``.labkit_cache`` so that later labs load them instead of training.

A cached model is loaded only when its key matches: a SHA-256 of the initial weights and noise
seeds, the training recipe and settings, the training and validation data, the code of
``labkit/models.py`` and ``labkit/training.py`` (docstrings aside) and the versions of labkit,
Keras and TensorFlow. Code written in a notebook is not in the key, so the file also keeps the
untrained model's loss on 100 validation images, which must match too.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from labkit import models as models_module
from labkit import training as training_module
from labkit.backend import keras, tf
from labkit.config import LabSettings
from labkit.data import LabData, one_hot
from labkit.training import compile_for_data, fit_on_data

_TRAINING_CODE = (models_module, training_module)

CACHE_FORMAT = 5  # bump when the files' layout or the fingerprint changes
PROBE_IMAGES = 100  # validation images whose untrained loss is stored beside the weights
PROBE_TOLERANCE = 1e-4  # relative; the same model computes it the same to about 1e-6
_HISTORY_KEY = "history_json"
_ABOUT_KEY = "about_json"
_WEIGHT_PREFIX = "weight_"


def _code_without_docstrings(module) -> bytes:
    """The module's syntax tree without docstrings (and so without comments or layout)."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(getattr(first.value, "value", None), str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree).encode("utf-8")


def model_fingerprint(
    model: keras.Model, data: LabData, settings: LabSettings, labels: bool = False
) -> str:
    """The SHA-256 hex key of a compiled, untrained ``model`` (see the module docstring)."""
    from labkit import __version__

    if getattr(model, "optimizer", None) is None:
        raise ValueError(
            f"model {model.name!r} is not compiled; compile it first, as training will "
            "(labkit.compile_for_data), then take its fingerprint."
        )
    own_loss = type(model).train_step is not keras.Model.train_step  # a VAE's
    optimizer = keras.saving.serialize_keras_object(model.optimizer)
    optimizer["config"].pop("name", None)  # "adam", "adam_1", ...: numbered per process
    loss = getattr(model.loss, "__name__", model.loss)  # a function by its name
    recipe = {
        "format": CACHE_FORMAT,
        "labkit": __version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "trains_on": "its own train_step" if own_loss else loss,
        "beta": float(getattr(model, "beta", 1.0)) if own_loss else None,
        "optimizer": optimizer,
        "jit_compile": bool(model.jit_compile),
        "steps_per_execution": int(model.steps_per_execution),
        "epochs": settings.num_epochs,
        "batch_size": settings.batch_size,
        "seed": settings.seed,
        "mode": settings.mode,
        "labels": labels,
    }
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode("utf-8"))
    for module in _TRAINING_CODE:  # a change to the kit's model or training code retrains
        digest.update(_code_without_docstrings(module))
    # The model's variables are its weights and its Sampling layers' noise seeds.
    arrays = [keras.ops.convert_to_numpy(variable) for variable in model.variables]
    arrays += [data.x_train, data.x_val, *((data.y_train, data.y_val) if labels else ())]
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _probe_loss(model: keras.Model, data: LabData, labels: bool = False) -> float:
    """The model's loss on the first validation images: a VAE's ``compute_losses``, else MSE."""
    images = data.x_val[:PROBE_IMAGES]
    if hasattr(model, "compute_losses"):
        if labels:  # as tensors: a Keras call may not mix tensors and arrays
            pair = (images, one_hot(data.y_val[:PROBE_IMAGES]))
            images = tuple(keras.ops.convert_to_tensor(array) for array in pair)
        return float(model.compute_losses(images, training=False)["loss"])
    outputs = keras.ops.convert_to_numpy(model(images, training=False))
    return float(np.mean((outputs - images) ** 2))


def cached_model_path(model: keras.Model, fingerprint: str, settings: LabSettings) -> Path:
    """The cache file of ``model`` with this fingerprint, such as ``vae-3f2a9c01d4e5b6a7.npz``."""
    return Path(settings.cache_dir) / f"{type(model).__name__.lower()}-{fingerprint[:16]}.npz"


def _load(path: Path, model: keras.Model) -> tuple[dict[str, list[float]], dict]:
    with np.load(path, allow_pickle=False) as stored:
        count = len([key for key in stored.files if key.startswith(_WEIGHT_PREFIX)])
        weights = [stored[f"{_WEIGHT_PREFIX}{index}"] for index in range(count)]
        history = json.loads(str(stored[_HISTORY_KEY]))
        about = json.loads(str(stored[_ABOUT_KEY]))
    expected = [tuple(weight.shape) for weight in model.get_weights()]
    if [tuple(weight.shape) for weight in weights] != expected:
        raise ValueError(f"its weights do not fit this model ({len(weights)} arrays)")
    return history, {"weights": weights, **about}


def _save(path: Path, model, history: dict[str, list[float]], about: dict, label: str) -> bool:
    arrays = {f"{_WEIGHT_PREFIX}{i}": weight for i, weight in enumerate(model.get_weights())}
    arrays[_HISTORY_KEY] = np.array(json.dumps(history))
    arrays[_ABOUT_KEY] = np.array(json.dumps(about))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A file of its own: two notebooks may save the same model at once.
        handle, partial = tempfile.mkstemp(suffix=".partial.npz", dir=path.parent)
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
        os.replace(partial, path)  # a reader never sees a half-written file
    except OSError as error:  # a read-only folder: the notebook goes on, without a cache
        warnings.warn(f"{label}: could not save the trained model to {path}: {error}", stacklevel=3)
        return False
    return True


class SaveForLaterLabs(keras.callbacks.Callback):
    """A ``fit`` callback that saves the trained model for :func:`train_or_load` in later labs.

    ``fit`` must train on ``data.x_train`` for ``settings``' epochs and batch size; otherwise it
    saves nothing and says why. ``trained_in`` ("Lab 03") is named when a later lab loads it.
    """

    def __init__(self, data: LabData, settings: LabSettings, trained_in: str) -> None:
        super().__init__()
        self.data = data
        self.settings = settings
        self.trained_in = trained_in
        self._fingerprint: str | None = None
        self._probe: float | None = None
        self._mismatch = ""

    def on_train_begin(self, logs=None) -> None:
        expected = {
            "epochs": self.settings.num_epochs,
            "steps": math.ceil(len(self.data.x_train) / self.settings.batch_size),
        }
        found = {key: self.params.get(key) for key in expected}
        self._mismatch = ", ".join(
            f"{key} {found[key]} where the settings give {value}"
            for key, value in expected.items()
            if found[key] != value
        )
        self._fingerprint = model_fingerprint(self.model, self.data, self.settings)
        self._probe = _probe_loss(self.model, self.data)

    def on_train_end(self, logs=None) -> None:
        label = self.model.name
        history = dict(self.model.history.history)
        epochs_run = len(history.get("loss", []))
        if not self._mismatch and epochs_run != self.settings.num_epochs:
            self._mismatch = f"it stopped after {epochs_run} of {self.settings.num_epochs} epochs"
        if self._mismatch:
            print(f"{label}: not saved for later labs: {self._mismatch}", flush=True)
            return
        path = cached_model_path(self.model, self._fingerprint, self.settings)
        about = {"trained_in": self.trained_in, "probe_loss": self._probe}
        if _save(path, self.model, history, about, label):
            print(f"{label}: saved for later labs in {path}", flush=True)


def train_or_load(
    model: keras.Model,
    data: LabData,
    settings: LabSettings,
    *,
    loss="mse",
    log_name: str | None = "",
    trained_in: str = "",
    jit_compile: bool = True,
    labels: bool = False,
) -> dict[str, list[float]]:
    """Compile a new ``model`` with the kit's recipe and train it, or load the weights the same
    training gave before; returns the history dict either way.

    ``loss`` and ``jit_compile`` are :func:`labkit.compile_for_data`'s, ``log_name`` is printed
    before each line (``None``: no epoch lines), ``trained_in`` names the lab for later loads;
    ``labels=True`` trains a conditional VAE on the images with their digits.
    """
    compile_for_data(model, data, settings, loss=loss, jit_compile=jit_compile)
    fingerprint = model_fingerprint(model, data, settings, labels)
    path = cached_model_path(model, fingerprint, settings)
    label = log_name or model.name
    probe = _probe_loss(model, data, labels)
    if path.exists() and not settings.retrain:
        try:
            history, stored = _load(path, model)
        except Exception as error:
            warnings.warn(
                f"{label}: could not use the cached model {path} ({error}); training it again.",
                stacklevel=2,
            )
        else:
            if math.isclose(stored["probe_loss"], probe, rel_tol=PROBE_TOLERANCE):
                model.set_weights(stored["weights"])
                by = f" trained in {stored['trained_in']}" if stored["trained_in"] else ""
                print(
                    f"{label}: loaded the model{by} from {path} (same model, data and "
                    "settings; delete the file, or set LABKIT_RETRAIN=1, to train it again)",
                    flush=True,
                )
                return history
            print(
                f"{label}: {path} holds a model that computes another loss (untrained, on "
                f"{PROBE_IMAGES} validation images: {stored['probe_loss']:.4f}, here "
                f"{probe:.4f}); training this one",
                flush=True,
            )
    history = fit_on_data(model, data, settings, labels=labels, log_name=log_name)
    _save(path, model, history, {"trained_in": trained_in, "probe_loss": probe}, label)
    return history
