"""The graded exercises' checks: ``labkit.check_exercise("sampling", Sampling)`` in a check cell.

One module per lab (``labkit.checks.lab03`` holds Lab 03's three), on the small framework here.

Each check runs the student's code on fresh random inputs (seeded inside the check, never
printed), compares it image by image with a float64 reference, tests how it behaves, and when
it fails says which classic mistake it recognises and how to fix it. A check has three parts:
``draw`` makes the inputs from a seed (NumPy only), ``run`` calls the student's code on them
(the only part that runs student code) and ``judge`` turns inputs and answers into PASS/FAIL
lines and advice (NumPy only), so that a grader can draw and judge in a process of its own.
"""

from __future__ import annotations

import contextlib
import random
import re
import secrets
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labkit.reporting import report_check

__all__ = ["EXERCISES", "Exercise", "check_exercise"]

Answers = dict
Inputs = dict
STANDARD_ERRORS = 6  # a correct answer fails a statistical check about once in 10^8


@dataclass(frozen=True)
class Verdict:
    """What a check found: ``{what was checked: whether it held}``, and the likely mistake."""

    checks: dict[str, bool]
    advice: str | None = None


@dataclass(frozen=True)
class Exercise:
    """A graded exercise's check in its three parts (see the module's docstring)."""

    draw: Callable[[np.random.Generator, bool], Inputs]
    run: Callable[..., Answers]
    judge: Callable[[Inputs, Answers], Verdict]


EXERCISES: dict[str, Exercise] = {}


def _exercise(name: str, draw, run) -> Callable:
    def register(judge):
        EXERCISES[name] = Exercise(draw, run, judge)
        return judge

    return register


def check_exercise(name: str, *answer: object, hidden: bool = False, seed: int | None = None):
    """Check a graded exercise's answer on fresh inputs; end its check cell with this call.

    Args:
        name: The exercise, as the rubric names it (``"sampling"``).
        *answer: What the student wrote (a function, a layer class, a model class).
        hidden: Also run the hidden checks (other sizes and cases), as the grader does.
        seed: Seed of the random inputs; by default a new one every call.

    Returns:
        :func:`labkit.reporting.report_check`'s PASS/FAIL table, with advice on a recognised
        mistake.
    """
    if name not in EXERCISES:
        raise ValueError(f"no exercise {name!r}; the exercises are {', '.join(EXERCISES)}.")
    exercise = EXERCISES[name]
    rng = np.random.default_rng(secrets.randbits(64) if seed is None else seed)
    inputs = exercise.draw(rng, hidden)
    try:
        with _random_state_kept():
            answers = exercise.run(inputs, *answer)
    except Exception as error:  # the student's code raised: say where, and what
        verdict = _raised(error)
    else:
        verdict = exercise.judge(inputs, answers)
    return report_check(name, verdict.checks, advice=verdict.advice)


@contextlib.contextmanager
def _random_state_kept() -> Iterator[None]:
    """The notebook's own random numbers come out the same whether a check ran or not.

    Keras draws unseeded initial weights and seed generators from Python's ``random``, and
    unseeded ``keras.random`` calls from its global seed generator; NumPy has its own.
    """
    from keras.src.backend.common import global_state

    python_state, numpy_state = random.getstate(), np.random.get_state()
    generator = global_state.get_global_attribute("global_seed_generator")
    keras_state = None if generator is None else np.array(generator.state.numpy())
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        global_state.set_global_attribute("global_seed_generator", generator)
        if generator is not None:
            generator.state.assign(keras_state)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# What Keras wraps around an error raised inside a layer's call: kept out of the advice.
_KERAS_WRAPPING = re.compile(
    r"Exception encountered when calling \S+\.|Could not automatically infer .*?encountered:"
    r"|Arguments received by .*",
    re.DOTALL,
)


def _message(error: Exception) -> str:
    """The error's own words, without Keras's wrapping or TensorFlow's traced frames."""
    text = _ANSI.sub("", str(error))
    if "in user code:" in text:  # a traced function's error: its last line says what happened
        text = text.strip().splitlines()[-1]
    return " ".join(_KERAS_WRAPPING.sub(" ", text).split())


def _raised(error: Exception) -> Verdict:
    if isinstance(error, NotImplementedError):
        return Verdict(
            {"the answer is written": False},
            f"Not written yet: replace the line `raise NotImplementedError(...)` with your "
            f"code ({_message(error)}), run that cell, then this one.",
        )
    # The line of the student's own code: the last frame outside the installed packages and
    # outside labkit (a notebook cell, or a module of theirs).
    package = str(Path(__file__).resolve().parent.parent)
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if "-packages" not in frame.filename and not frame.filename.startswith(package)
    ]
    where = f" (line {frames[-1].lineno} of {frames[-1].name})" if frames else ""
    return Verdict(
        {"the answer runs on the check's inputs": False},
        f"Your code raised {type(error).__name__}: {_message(error)}{where}. Fix it, run that "
        "cell again, then this one.",
    )


def _close(a, b, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _numpy(value) -> np.ndarray:
    from labkit.backend import keras

    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def _first(verdicts: Mapping[str, bool], mistakes: list[tuple[bool, str]], fallback: str):
    """The advice: the first recognised mistake, else the first failed check in words."""
    if all(verdicts.values()):
        return Verdict(dict(verdicts))
    for recognised, advice in mistakes:
        if recognised:
            return Verdict(dict(verdicts), advice)
    failed = next(what for what, held in verdicts.items() if not held)
    return Verdict(dict(verdicts), f"{fallback} The first check that fails: {failed}.")


# Each lab's checks register themselves on import.
from labkit.checks import lab01, lab02, lab03, lab04, lab05, lab06, lab07  # noqa: E402, F401
