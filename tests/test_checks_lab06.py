"""labkit.checks, Lab 06: spherical interpolation between two codes (``slerp``).

The instructor's answer passes; the unsolved stub fails with "Not written yet"; each wrong answer,
written as a student would write it, fails with the advice that names its mistake.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import labkit
from labkit.checks import EXERCISES

SEEDS = (0, 1, 2)


def slerp(z_start, z_end, num_steps):
    """The instructor's answer, as the notebook writes it."""
    z_start = np.asarray(z_start, dtype=np.float64)
    z_end = np.asarray(z_end, dtype=np.float64)
    t = np.linspace(0.0, 1.0, num_steps)[:, None]
    lengths = np.linalg.norm(z_start) * np.linalg.norm(z_end)
    if lengths == 0:  # a code of length 0 has no direction: no arc
        return (1 - t) * z_start + t * z_end
    angle = np.arccos(np.clip(z_start @ z_end / lengths, -1.0, 1.0))
    if np.sin(angle) < 1e-6:  # the same or opposite directions
        return (1 - t) * z_start + t * z_end
    return (np.sin((1 - t) * angle) * z_start + np.sin(t * angle) * z_end) / np.sin(angle)


def _arctan2_angle(z_start, z_end, num_steps):
    """Also right: the angle from unit vectors, with arctan2 (no cosine to clip)."""
    z_start, z_end = np.array(z_start, dtype=float), np.array(z_end, dtype=float)
    t = np.linspace(0, 1, num_steps).reshape(-1, 1)
    if not np.linalg.norm(z_start) or not np.linalg.norm(z_end):
        return z_start + t * (z_end - z_start)
    u_start, u_end = z_start / np.linalg.norm(z_start), z_end / np.linalg.norm(z_end)
    angle = 2 * np.arctan2(np.linalg.norm(u_start - u_end), np.linalg.norm(u_start + u_end))
    if abs(np.sin(angle)) < 1e-6:
        return z_start + t * (z_end - z_start)
    return (
        np.sin((1 - t) * angle) / np.sin(angle) * z_start
        + np.sin(t * angle) / np.sin(angle) * z_end
    )


def _one_t_at_a_time(z_start, z_end, num_steps):
    """Also right: a loop over t, one code at a time."""
    z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    norms = np.linalg.norm(z_start) * np.linalg.norm(z_end)
    omega = np.arccos(np.clip(np.dot(z_start, z_end) / norms, -1, 1)) if norms > 0 else 0.0
    codes = []
    for t in np.linspace(0, 1, num_steps):
        if np.sin(omega) < 1e-6:
            codes.append((1 - t) * z_start + t * z_end)
        else:
            a, b = np.sin((1 - t) * omega), np.sin(t * omega)
            codes.append((a * z_start + b * z_end) / np.sin(omega))
    return np.array(codes)


def _expanded(z_start, z_end, num_steps):
    """Also right: sin((1 - t) angle) expanded, the part of z_end at right angles to z_start."""
    z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    t = np.linspace(0, 1, num_steps)[:, None]
    lengths = np.linalg.norm(z_start) * np.linalg.norm(z_end)
    if lengths == 0:
        return (1 - t) * z_start + t * z_end
    angle = np.arccos(np.clip(z_start @ z_end / lengths, -1, 1))
    if np.sin(angle) < 1e-6:
        return (1 - t) * z_start + t * z_end
    across = (z_end - np.cos(angle) * z_start) / np.sin(angle)
    return np.cos(t * angle) * z_start + np.sin(t * angle) * across


def _in_plain_python(z_start, z_end, num_steps):
    """Also right: lists and the math module, no NumPy."""
    z_start, z_end = [float(x) for x in z_start], [float(x) for x in z_end]
    steps = [i / (num_steps - 1) for i in range(num_steps)]
    length = math.sqrt(sum(x * x for x in z_start)) * math.sqrt(sum(x * x for x in z_end))
    cosine = sum(a * b for a, b in zip(z_start, z_end, strict=True)) / length if length else 1
    angle = math.acos(max(-1.0, min(1.0, cosine)))
    if length == 0 or math.sin(angle) < 1e-6:
        return [[(1 - t) * a + t * b for a, b in zip(z_start, z_end, strict=True)] for t in steps]
    weights = [(math.sin((1 - t) * angle), math.sin(t * angle)) for t in steps]
    return [
        [(u * a + v * b) / math.sin(angle) for a, b in zip(z_start, z_end, strict=True)]
        for u, v in weights
    ]


RIGHT = [slerp, _arctan2_angle, _one_t_at_a_time, _expanded, _in_plain_python]


def _arc(z_start, z_end, t, angle):
    return (np.sin((1 - t) * angle) * z_start + np.sin(t * angle) * z_end) / np.sin(angle)


def _linear(z_start, z_end, num_steps):
    t = np.linspace(0, 1, num_steps)[:, None]
    return (1 - t) * np.asarray(z_start) + t * np.asarray(z_end)


def _normalised_line(z_start, z_end, num_steps):
    line = _linear(z_start, z_end, num_steps)
    return line / np.linalg.norm(line, axis=1, keepdims=True)


def _line_rescaled(z_start, z_end, num_steps):
    """The straight line's directions, with lengths running from |z_start| to |z_end|."""
    t = np.linspace(0, 1, num_steps)[:, None]
    line = _linear(z_start, z_end, num_steps)
    lengths = (1 - t) * np.linalg.norm(z_start) + t * np.linalg.norm(z_end)
    return line / np.linalg.norm(line, axis=1, keepdims=True) * lengths


def _backwards(z_start, z_end, num_steps):
    return slerp(z_end, z_start, num_steps)


def _t_from_1_to_0(z_start, z_end, num_steps):
    z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    t = np.linspace(1, 0, num_steps)[:, None]
    angle = np.arccos(
        np.clip(z_start @ z_end / np.linalg.norm(z_start) / np.linalg.norm(z_end), -1, 1)
    )
    return _arc(z_start, z_end, t, angle)


def _swapped_factors(z_start, z_end, num_steps):
    z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    t = np.linspace(0, 1, num_steps)[:, None]
    angle = np.arccos(
        np.clip(z_start @ z_end / np.linalg.norm(z_start) / np.linalg.norm(z_end), -1, 1)
    )
    return (np.sin(t * angle) * z_start + np.sin((1 - t) * angle) * z_end) / np.sin(angle)


def _with_t(t_of):
    """The notebook's answer with its values of t made by ``t_of(num_steps)``."""

    def answer(z_start, z_end, num_steps):
        z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
        t = t_of(num_steps)
        lengths = np.linalg.norm(z_start) * np.linalg.norm(z_end)
        angle = np.arccos(np.clip(z_start @ z_end / lengths, -1.0, 1.0))
        if lengths == 0 or np.sin(angle) < 1e-6:
            return (1 - t) * z_start + t * z_end
        return _arc(z_start, z_end, t, angle)

    return answer


_endpoint_false = _with_t(lambda n: np.linspace(0, 1, n, endpoint=False)[:, None])
_arange = _with_t(lambda n: (np.arange(n) / n).reshape(-1, 1))
_row_of_t = _with_t(lambda n: np.linspace(0, 1, n))


def _codes_as_columns(z_start, z_end, num_steps):
    z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    return slerp(z_start, z_end, num_steps).T


def _degrees(z_start, z_end, num_steps):
    z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    t = np.linspace(0, 1, num_steps)[:, None]
    lengths = np.linalg.norm(z_start) * np.linalg.norm(z_end)
    angle = np.degrees(np.arccos(np.clip(z_start @ z_end / lengths, -1, 1)))
    if lengths == 0 or np.sin(angle) < 1e-6:
        return (1 - t) * z_start + t * z_end
    return _arc(z_start, z_end, t, angle)


def _unit_codes(z_start, z_end, num_steps):
    z_start = np.asarray(z_start, dtype=np.float64)
    z_end = np.asarray(z_end, dtype=np.float64)
    if not np.linalg.norm(z_start) or not np.linalg.norm(z_end):
        return _linear(z_start, z_end, num_steps)
    return slerp(z_start / np.linalg.norm(z_start), z_end / np.linalg.norm(z_end), num_steps)


def _no_clip(z_start, z_end, num_steps):
    z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    t = np.linspace(0, 1, num_steps)[:, None]
    lengths = np.linalg.norm(z_start) * np.linalg.norm(z_end)
    if lengths == 0:
        return (1 - t) * z_start + t * z_end
    angle = np.arccos(z_start @ z_end / lengths)
    if np.sin(angle) < 1e-6:
        return (1 - t) * z_start + t * z_end
    return _arc(z_start, z_end, t, angle)


def _no_clip_with(cosine):
    """The notebook's answer with its cosine computed by ``cosine(z_start, z_end)``, unclipped."""

    def answer(z_start, z_end, num_steps):
        z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
        t = np.linspace(0, 1, num_steps)[:, None]
        if np.linalg.norm(z_start) * np.linalg.norm(z_end) == 0:
            return (1 - t) * z_start + t * z_end
        angle = np.arccos(cosine(z_start, z_end))
        if np.sin(angle) < 1e-6:
            return (1 - t) * z_start + t * z_end
        return _arc(z_start, z_end, t, angle)

    return answer


_norm = np.linalg.norm
_no_clip_twice_divided = _no_clip_with(lambda a, b: a @ b / _norm(a) / _norm(b))
_no_clip_sum = _no_clip_with(lambda a, b: np.sum(a * b) / (_norm(a) * _norm(b)))
_no_clip_sqrt = _no_clip_with(lambda a, b: a @ b / np.sqrt((a @ a) * (b @ b)))
_no_clip_loop = _no_clip_with(
    lambda a, b: sum(x * y for x, y in zip(a, b, strict=True)) / (_norm(a) * _norm(b))
)
_no_clip_math = _no_clip_with(
    lambda a, b: float(a @ b) / (math.sqrt(np.sum(a**2)) * math.sqrt(np.sum(b**2)))
)


def _threshold(too_flat):
    """The notebook's answer switching to the straight line when ``too_flat(cosine)``."""

    def answer(z_start, z_end, num_steps):
        z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
        t = np.linspace(0, 1, num_steps)[:, None]
        lengths = np.linalg.norm(z_start) * np.linalg.norm(z_end)
        if lengths == 0:
            return (1 - t) * z_start + t * z_end
        cosine = np.clip(z_start @ z_end / lengths, -1, 1)
        if too_flat(cosine):
            return (1 - t) * z_start + t * z_end
        return _arc(z_start, z_end, t, np.arccos(cosine))

    return answer


_dot_threshold = _threshold(lambda cosine: abs(cosine) > 0.9995)  # a game engine's habit
_sine_threshold = _threshold(lambda cosine: np.sin(np.arccos(cosine)) < 0.45)


def _no_lengths(z_start, z_end, num_steps):
    z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    t = np.linspace(0, 1, num_steps)[:, None]
    if np.linalg.norm(z_start) * np.linalg.norm(z_end) == 0:
        return (1 - t) * z_start + t * z_end
    angle = np.arccos(np.clip(z_start @ z_end, -1, 1))
    if np.sin(angle) < 1e-6:
        return (1 - t) * z_start + t * z_end
    return _arc(z_start, z_end, t, angle)


def _zero_start_only(z_start, z_end, num_steps):
    z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    t = np.linspace(0, 1, num_steps)[:, None]
    if np.linalg.norm(z_start) == 0:  # forgets a z_end of length 0
        return (1 - t) * z_start + t * z_end
    angle = np.arccos(
        np.clip(z_start @ z_end / np.linalg.norm(z_start) / np.linalg.norm(z_end), -1, 1)
    )
    if np.sin(angle) < 1e-6:
        return (1 - t) * z_start + t * z_end
    return _arc(z_start, z_end, t, angle)


def _complex_codes(z_start, z_end, num_steps):
    """The right codes turned by a complex phase (complex arithmetic somewhere): their real
    parts agree with the right codes to 1e-6."""
    return slerp(z_start, z_end, num_steps) * np.exp(1e-3j)


def _returned_float32(z_start, z_end, num_steps):
    return slerp(z_start, z_end, num_steps).astype(np.float32)


def _inputs_dtype(z_start, z_end, num_steps):
    """Float64 work, returned in the inputs' dtype (a library's habit)."""
    return slerp(z_start, z_end, num_steps).astype(np.asarray(z_start).dtype)


def _no_fallback(z_start, z_end, num_steps):
    z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    t = np.linspace(0, 1, num_steps)[:, None]
    cosine = z_start @ z_end / (np.linalg.norm(z_start) * np.linalg.norm(z_end))
    return _arc(z_start, z_end, t, np.arccos(np.clip(cosine, -1, 1)))


def _no_zero_length_fallback(z_start, z_end, num_steps):
    z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    t = np.linspace(0, 1, num_steps)[:, None]
    cosine = z_start @ z_end / (np.linalg.norm(z_start) * np.linalg.norm(z_end))
    angle = np.arccos(np.clip(cosine, -1, 1))
    if np.sin(angle) < 1e-6:
        return (1 - t) * z_start + t * z_end
    return _arc(z_start, z_end, t, angle)


def _one_division(z_start, z_end, num_steps):
    z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    t = np.linspace(0, 1, num_steps)[:, None]
    lengths = np.linalg.norm(z_start) * np.linalg.norm(z_end)
    angle = np.arccos(np.clip(z_start @ z_end / lengths, -1, 1))
    if lengths == 0 or np.sin(angle) < 1e-6:
        return (1 - t) * z_start + t * z_end
    return np.sin((1 - t) * angle) * z_start + np.sin(t * angle) * z_end / np.sin(angle)


def _no_asarray(z_start, z_end, num_steps):
    t = np.linspace(0, 1, num_steps)[:, None]
    lengths = np.linalg.norm(z_start) * np.linalg.norm(z_end)
    if lengths == 0:
        return (1 - t) * z_start + t * z_end
    angle = np.arccos(np.clip(z_start @ z_end / lengths, -1, 1))
    if np.sin(angle) < 1e-6:
        return (1 - t) * z_start + t * z_end
    return _arc(z_start, z_end, t, angle)


def _in_float32(z_start, z_end, num_steps):
    z_start, z_end = np.asarray(z_start), np.asarray(z_end)  # float32 codes stay float32
    t = np.linspace(0, 1, num_steps, dtype=z_start.dtype)[:, None]
    lengths = np.linalg.norm(z_start) * np.linalg.norm(z_end)
    if lengths == 0:
        return (1 - t) * z_start + t * z_end
    angle = np.arccos(np.clip(z_start @ z_end / lengths, -1, 1))
    if np.sin(angle) < 1e-6:
        return (1 - t) * z_start + t * z_end
    return _arc(z_start, z_end, t, angle)


def _normalised_in_place(z_start, z_end, num_steps):
    z_start, z_end = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    start_length, end_length = np.linalg.norm(z_start), np.linalg.norm(z_end)
    if start_length == 0 or end_length == 0:
        return _linear(z_start, z_end, num_steps)
    z_start /= start_length
    z_end /= end_length
    return slerp(z_start * start_length, z_end * end_length, num_steps)


def _stub(z_start, z_end, num_steps):
    raise NotImplementedError(
        "Exercise 1: the Theory's formula at num_steps values of t from 0 to 1"
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("answer", RIGHT)
def test_slerp_passes_right_answers(answer, hidden, seed):
    check = labkit.check_exercise("slerp", answer, hidden=hidden, seed=seed)
    assert check.passed, (check.checks, check.advice)


@pytest.mark.parametrize("answer", RIGHT)
def test_slerp_passes_right_answers_on_many_seeds(answer):
    """Near 0 and 180 degrees too, where a right answer's rounding differs most."""
    for seed in range(100, 130):
        for hidden in (False, True):
            check = labkit.check_exercise("slerp", answer, hidden=hidden, seed=seed)
            assert check.passed, (seed, hidden, check.checks, check.advice)


SLERP_MISTAKES = [
    (_linear, "returned the straight line", False),
    (_normalised_line, "only rescaled", False),
    (_line_rescaled, "only rescaled", False),
    (_backwards, "run backwards", False),
    (_t_from_1_to_0, "run backwards", False),
    (_swapped_factors, "run backwards", False),
    (_endpoint_false, "stop short of 1", False),
    (_arange, "stop short of 1", False),
    (_row_of_t, "make t a column", False),
    (_codes_as_columns, "one column per code", False),
    (_degrees, "in degrees", False),
    (_unit_codes, "all have length 1", False),
    (_no_clip, "Clip it first", False),
    (_no_clip_twice_divided, "Clip it first", False),
    (_no_clip_sum, "Clip it first", False),
    (_no_clip_sqrt, "Clip it first", False),
    (_no_clip_loop, "Clip it first", False),
    (_no_clip_math, "Clip it first", False),
    (_dot_threshold, "only when np.sin(angle) < 1e-6", False),
    (_sine_threshold, "only when np.sin(angle) < 1e-6", False),
    (_no_lengths, "not divided by the lengths", False),
    (_zero_start_only, "For z_end of length 0 your function", True),
    (_complex_codes, "must be real numbers", False),
    (_returned_float32, "worked in float64 but returned float32: return the float64", True),
    (_inputs_dtype, "worked in float64 but returned float32: return the float64", True),
    (_no_fallback, "does not return the straight line", False),
    (_no_zero_length_fallback, "For z_start of length 0 and z_end of length 0", True),
    (_one_division, "Only your second term", False),
    (_no_asarray, "Python lists", True),
    (_in_float32, "work in float64", True),
    (_normalised_in_place, "changed z_start or z_end in place", False),
    (_stub, "Not written yet", False),
]


@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize(("answer", "advice", "hidden_only"), SLERP_MISTAKES)
def test_slerp_names_each_mistake(answer, advice, hidden_only, hidden):
    for seed in SEEDS:
        check = labkit.check_exercise("slerp", answer, hidden=hidden, seed=seed)
        if hidden_only and not hidden:  # the visible cases do not show this mistake
            assert check.passed, (check.checks, check.advice)
            continue
        assert not check.passed
        assert advice in check.advice, check.advice


_NEAR = ("small", "nearly opposite")


def _cosine(z_start, z_end):
    return z_start @ z_end / (np.linalg.norm(z_start) * np.linalg.norm(z_end))


NEW_MISTAKES = [
    (_dot_threshold, "only when np.sin(angle) < 1e-6"),
    (_no_lengths, "not divided by the lengths"),
    (_no_clip_sum, "Clip it first"),
    (_no_clip_loop, "Clip it first"),
    (_returned_float32, "returned float32: return the float64 array"),
]


@pytest.mark.parametrize(("answer", "advice"), NEW_MISTAKES)
def test_slerp_names_each_new_mistake_on_many_seeds(answer, advice):
    """Mistakes that passed, or were misnamed, on some seeds before."""
    for seed in range(100, 130):
        check = labkit.check_exercise("slerp", answer, hidden=True, seed=seed)
        assert not check.passed and advice in check.advice, (seed, check.advice)


def test_slerp_draws_the_edge_cases_it_names():
    """Nearly parallel codes whose cosine rounds above 1 however it is computed; cosines of
    exactly 1 and -1; arcs at about 1 and 179 degrees; codes of length 0 at either end."""
    for seed in SEEDS:
        cases = EXERCISES["slerp"].draw(np.random.default_rng(seed), True)["cases"]
        codes = {case["kind"]: (case["z_start"], case["z_end"]) for case in cases}
        cosine = {kind: _cosine(*codes[kind]) for kind in ("clipped", "parallel", "opposite")}
        a, b = codes["clipped"]
        assert cosine["clipped"] > 1 and np.sum(a * b) / _norm(a) / _norm(b) > 1
        assert a @ b / np.sqrt((a @ a) * (b @ b)) > 1
        assert sum(x * y for x, y in zip(a, b, strict=True)) / (_norm(a) * _norm(b)) > 1
        assert cosine["parallel"] == 1 and cosine["opposite"] == -1
        degrees = {kind: np.degrees(np.arccos(_cosine(*codes[kind]))) for kind in _NEAR}
        assert 0.5 <= degrees["small"] <= 1.5 and 178.5 <= degrees["nearly opposite"] <= 179.5
        assert not np.any(codes["zero"][0]) and not np.any(codes["zero end"][1])
        assert codes["float32"][0].dtype == np.float32 and isinstance(codes["list"][0], list)
        equal = codes["equal"]
        assert np.isclose(np.linalg.norm(equal[0]), np.linalg.norm(equal[1]))


def test_check_lines_do_not_depend_on_the_inputs():
    """nbval compares the check cell's output between runs: only PASS/FAIL may change."""
    lines = {tuple(labkit.check_exercise("slerp", slerp, seed=seed).checks) for seed in SEEDS}
    assert len(lines) == 1
