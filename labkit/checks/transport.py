"""How a grader checks an exercise without trusting the student's kernel with the verdict.

``labkit grade --execute`` draws a check's inputs in its own process, sends them to the
student's kernel as plain data, and the kernel answers with :func:`answer_for_grader`: the
exercise's ``run`` on those inputs, sent back as plain data (JSON, arrays as raw bytes; never a
pickle). The grader judges the answers in its own process, where the student's cells cannot
reach. ``encode`` and ``decode`` are the only formats on the way.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

import numpy as np

__all__ = ["ANSWERS_MIME_TYPE", "answer_for_grader", "decode", "encode", "models_for_grader"]

ANSWERS_MIME_TYPE = "application/vnd.labkit.answers+json"
# The array types a message may hold: numbers and truth values, nothing that runs code.
_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "float16", "float32", "float64"}  # fmt: skip
MAX_BYTES = 256 * 2**20  # of arrays in one message


def encode(value: object) -> object:
    """``value`` (dicts, lists, tuples, arrays, numbers, strings, None) as JSON-ready data."""
    if isinstance(value, Mapping):
        return {"dict": {str(key): encode(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return {"tuple" if isinstance(value, tuple) else "list": [encode(v) for v in value]}
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)  # a NumPy scalar becomes a 0-d array, and comes back a scalar
        if array.dtype.name not in _DTYPES:
            raise TypeError(f"cannot send an array of {array.dtype} to the grader")
        data = base64.b64encode(array.tobytes()).decode("ascii")
        return {"array": {"dtype": array.dtype.name, "shape": list(array.shape), "data": data}}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot send a {type(value).__name__} to the grader")


def decode(data: object, budget: list[int] | None = None) -> object:
    """The value :func:`encode` made, checked on the way; raises ValueError on anything else."""
    budget = [MAX_BYTES] if budget is None else budget
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError(f"not an encoded value: {str(data)[:80]}")
    ((kind, body),) = data.items()
    if kind == "dict" and isinstance(body, dict):
        return {key: decode(item, budget) for key, item in body.items()}
    if kind in ("list", "tuple") and isinstance(body, list):
        items = [decode(item, budget) for item in body]
        return tuple(items) if kind == "tuple" else items
    if kind == "array" and isinstance(body, dict):
        return _array(body, budget)
    raise ValueError(f"not an encoded value: {kind!r}")


def _array(body: dict, budget: list[int]) -> np.ndarray:
    dtype, shape, data = body.get("dtype"), body.get("shape"), body.get("data")
    if dtype not in _DTYPES or not isinstance(data, str) or not isinstance(shape, list):
        raise ValueError("an array of an unknown type")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ValueError(f"an array of shape {shape}")
    size = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    budget[0] -= size
    if budget[0] < 0 or len(data) > 4 * (size // 3 + 1):
        raise ValueError(f"arrays beyond the limit of {MAX_BYTES // 2**20} MiB")
    raw = base64.b64decode(data, validate=True)
    if len(raw) != size:
        raise ValueError(f"an array of shape {shape} with {len(raw)} bytes")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    return array[()] if array.ndim == 0 else array


def answer_for_grader(name: str, nonce: str, inputs: object, *answer: object) -> None:
    """Run exercise ``name`` on the grader's ``inputs``; display the answers for the grader."""
    from labkit.checks import EXERCISES, _raised, _random_state_kept

    try:
        with _random_state_kept():
            record = {"answers": encode(EXERCISES[name].run(decode(inputs), *answer))}
    except Exception as error:  # the student's code raised: the grader reports it
        verdict = _raised(error)
        record = {"raised": {"checks": verdict.checks, "advice": verdict.advice}}
    _send({"name": name, "nonce": nonce, **record}, f"(the grader's check of '{name}' ran)")


def models_for_grader(nonce: str, *models: object) -> None:
    """Display each model's encoder and decoder (Keras config and weights) for the grader."""
    from labkit.backend import keras
    from labkit.models import encoder_and_decoder

    sent = []
    for model in models:
        try:
            encoder, decoder = encoder_and_decoder(model)
            sent.append(
                {
                    name: _part(keras, part)
                    for name, part in [("encoder", encoder), ("decoder", decoder)]
                }
            )
        except Exception as error:  # not a model of the lab's kind: the grader says so
            sent.append({"error": f"{type(error).__name__}: {error}"[:300]})
    _send({"nonce": nonce, "models": encode(sent)}, "(the grader's copy of the lab's models)")


def _part(keras, part) -> dict:
    return {"config": keras.saving.serialize_keras_object(part), "weights": part.get_weights()}


def _send(message: dict, text: str) -> None:
    """Display ``message`` for the grader, which reads it from the cell's outputs."""
    from IPython.display import display

    display({ANSWERS_MIME_TYPE: message, "text/plain": text}, raw=True)
