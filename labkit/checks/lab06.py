"""Lab 06's check: ``slerp``, spherical interpolation between two codes (NumPy only)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from labkit.checks import Answers, Inputs, Verdict, _close, _exercise, _first

LATENT_DIM = 16  # the visible cases' codes; the hidden ones add 2-D and 64-D codes
FLAT = 1e-6  # below this sin(angle), the notebook's slerp returns the straight line
RTOL, ATOL = 1e-6, 1e-9  # float64 answers agree with the reference far closer than this
# From float32 inputs, float64 work agrees to 1e-9 and float32 work to about 1e-6 only (within
# RTOL or not, by chance): the float32 case asks for float64 work, as the notebook does.
FLOAT32_RTOL = 1e-9
# The cases whose answer is the straight line, in the words of the advice.
_FALLBACKS = {
    "parallel": "codes in the same direction",
    "opposite": "codes in opposite directions",
    "zero": "z_start of length 0",
    "zero end": "z_end of length 0",
}
# The arcs at a small angle and nearly opposite: where a switch to the line too early shows.
_NEAR = ("small", "nearly opposite")
# The cases that follow the arc: every mistake in the formula shows on them.
_ARCS = ("general", "equal", *_NEAR, "2-D", "64-D", "two steps", "float32", "list")


def _steps(num_steps: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, num_steps)[:, None]


def _line(z_start, z_end, t) -> np.ndarray:
    return (1 - t) * z_start + t * z_end


def _arc(z_start, z_end, t, angle) -> np.ndarray:
    return (np.sin((1 - t) * angle) * z_start + np.sin(t * angle) * z_end) / np.sin(angle)


def _angle(z_start, z_end) -> float:
    cosine = z_start @ z_end / (np.linalg.norm(z_start) * np.linalg.norm(z_end))
    return float(np.arccos(np.clip(cosine, -1.0, 1.0)))


def _reference(z_start, z_end, num_steps: int) -> np.ndarray:
    """The notebook's slerp, in float64."""
    z_start, z_end = np.asarray(z_start, np.float64), np.asarray(z_end, np.float64)
    t = _steps(num_steps)
    if np.linalg.norm(z_start) * np.linalg.norm(z_end) == 0:
        return _line(z_start, z_end, t)
    angle = _angle(z_start, z_end)
    if np.sin(angle) < FLAT:
        return _line(z_start, z_end, t)
    return _arc(z_start, z_end, t, angle)


def _unit(z: np.ndarray) -> np.ndarray:
    return z / np.linalg.norm(z)


def _no_lengths(z_start, z_end, num_steps: int) -> np.ndarray:
    """The angle from z_start @ z_end itself, not divided by the lengths (with the fallback)."""
    t, angle = _steps(num_steps), np.arccos(np.clip(z_start @ z_end, -1.0, 1.0))
    return _line(z_start, z_end, t) if np.sin(angle) < FLAT else _arc(z_start, z_end, t, angle)


def _one_division(z_start, z_end, num_steps: int) -> np.ndarray:
    """The formula with only its second term divided by sin(angle) (parentheses left out)."""
    t, angle = _steps(num_steps), _angle(z_start, z_end)
    return np.sin((1 - t) * angle) * z_start + np.sin(t * angle) * z_end / np.sin(angle)


# What each recognised mistake returns on a case that follows the arc (float64 codes).
_MISTAKES = {
    "backwards": lambda z0, z1, n: _reference(z1, z0, n),
    "no lengths": _no_lengths,
    "line": lambda z0, z1, n: _line(z0, z1, _steps(n)),
    "unit": lambda z0, z1, n: _reference(_unit(z0), _unit(z1), n),
    "endpoint": lambda z0, z1, n: _arc(z0, z1, np.arange(n)[:, None] / n, _angle(z0, z1)),
    "degrees": lambda z0, z1, n: _arc(z0, z1, _steps(n), np.degrees(_angle(z0, z1))),
    "parentheses": _one_division,
}


def _pair(rng: np.random.Generator, dim: int, equal: bool = False, degrees=(30, 150)) -> tuple:
    """Two codes of different lengths at an angle drawn in ``degrees``, chosen so that taking it
    in degrees shows (the sine of the angle in degrees is above 0.2); or two codes of an equal
    length below 1, where an angle from z_start @ z_end not divided by the lengths shows."""
    angle = np.radians(rng.uniform(*degrees))
    while np.sin(np.degrees(angle)) < 0.2:
        angle = np.radians(rng.uniform(*degrees))
    first = _unit(rng.standard_normal(dim))
    other = rng.standard_normal(dim)
    other = _unit(other - (other @ first) * first)
    scale = rng.uniform(0.4, 0.9) if equal else rng.uniform(1, 3)
    lengths = scale * np.array([1.0, 1.0 if equal else rng.uniform(1.5, 3)])
    lengths = lengths if equal or rng.random() < 0.5 else lengths[::-1]
    return lengths[0] * first, lengths[1] * (np.cos(angle) * first + np.sin(angle) * other)


def _cosines(a: np.ndarray, b: np.ndarray) -> list:
    """The cosine of two codes as students compute it: with @, np.sum or a Python loop, over
    np.linalg.norm or square roots, or from unit codes."""
    loop = sum(x * y for x, y in zip(a, b, strict=True))
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    squares = sum(x * x for x in a), sum(y * y for y in b)
    return [
        a @ b / norms,
        a @ b / np.linalg.norm(a) / np.linalg.norm(b),
        (a / np.linalg.norm(a)) @ (b / np.linalg.norm(b)),
        np.sum(a * b) / norms,
        loop / norms,
        a @ b / np.sqrt((a @ a) * (b @ b)),
        np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)),
        a @ b / (np.sqrt(np.sum(a**2)) * np.sqrt(np.sum(b**2))),
        loop / math.sqrt(squares[0] * squares[1]),
        loop / (math.sqrt(squares[0]) * math.sqrt(squares[1])),
    ]


def _rounded_past_one(rng: np.random.Generator) -> tuple:
    """Two codes in the same direction whose cosine rounds above 1 however it is computed
    (:func:`_cosines`; one try in about 260): np.arccos of it is NaN."""
    while True:
        z_start = rng.standard_normal(LATENT_DIM) * rng.uniform(0.5, 3)
        z_end = z_start * rng.uniform(1.5, 3)
        if all(cosine > 1 for cosine in _cosines(z_start, z_end)):
            return z_start, z_end


def _case(kind: str, pair: tuple, num_steps: int) -> dict:
    return {"kind": kind, "z_start": pair[0], "z_end": pair[1], "num_steps": num_steps}


def _draw_slerp(rng: np.random.Generator, hidden: bool) -> Inputs:
    def steps() -> int:
        return int(rng.integers(5, 13))  # never 2, 16 nor 64: a row of t fails to broadcast

    # 16 entries of +-2^k and a multiple of them: their cosine is exactly 1 (or -1).
    signs = rng.choice([-1.0, 1.0], LATENT_DIM) * 2.0 ** rng.integers(-1, 1)
    cases = [
        _case("general", _pair(rng, LATENT_DIM), steps()),
        _case("equal", _pair(rng, LATENT_DIM, equal=True), steps()),
        _case("small", _pair(rng, LATENT_DIM, degrees=(0.5, 1.5)), steps()),
        _case("clipped", _rounded_past_one(rng), steps()),
        _case("parallel", (signs, 3 * signs), steps()),
    ]
    if hidden:
        float32 = tuple(z.astype(np.float32) for z in _pair(rng, LATENT_DIM))
        cases += [
            _case("nearly opposite", _pair(rng, LATENT_DIM, degrees=(178.5, 179.5)), steps()),
            _case("2-D", _pair(rng, 2), steps()),
            _case("64-D", _pair(rng, 64), steps()),
            _case("two steps", _pair(rng, LATENT_DIM), 2),
            _case("opposite", (signs, -1.5 * signs), steps()),
            _case("zero", (np.zeros(LATENT_DIM), _pair(rng, LATENT_DIM)[1]), steps()),
            _case("zero end", (_pair(rng, LATENT_DIM)[0], np.zeros(LATENT_DIM)), steps()),
            _case("float32", float32, steps()),
            _case("list", tuple(z.tolist() for z in _pair(rng, LATENT_DIM)), steps()),
        ]
    return {"cases": cases}


def _run_slerp(inputs: Inputs, slerp) -> Answers:
    answers = {"results": [], "unchanged": True, "complex": False, "error": None}
    for case in inputs["cases"]:
        z_start, z_end = copy.deepcopy(case["z_start"]), copy.deepcopy(case["z_end"])
        try:
            with np.errstate(all="ignore"):  # NaN from a known mistake: the judge names it
                result = slerp(z_start, z_end, case["num_steps"])
        except (TypeError, ValueError) as error:  # known mistakes: lists, a row of t
            if case["kind"] == "list" or "broadcast" in str(error):
                return {**answers, "error": str(error)}
            raise
        result = np.asarray(result)
        if np.iscomplexobj(result):  # float64 would drop the imaginary part: the judge sees it
            answers["complex"] = answers["complex"] or bool(np.any(result.imag != 0))
            result = result.real
        answers["results"].append(np.asarray(result, dtype=np.float64))
        answers["unchanged"] = answers["unchanged"] and all(
            np.array_equal(given, kept)
            for given, kept in ((z_start, case["z_start"]), (z_end, case["z_end"]))
        )
    return answers


@dataclass(frozen=True)
class _Answered:
    """The cases, in float64, beside the answer's results and the reference's."""

    kinds: list[str]
    codes: list[tuple[np.ndarray, np.ndarray]]
    steps: list[int]
    results: list[np.ndarray]

    @classmethod
    def of(cls, inputs: Inputs, answers: Answers) -> _Answered:
        cases = inputs["cases"]
        results = list(answers["results"])
        results += [np.zeros(0)] * (len(cases) - len(results))  # the cases after an error
        return cls(
            [case["kind"] for case in cases],
            [
                (np.asarray(c["z_start"], np.float64), np.asarray(c["z_end"], np.float64))
                for c in cases
            ],
            [case["num_steps"] for case in cases],
            results,
        )

    def shape(self, i: int) -> tuple[int, int]:
        return self.steps[i], len(self.codes[i][0])

    def result(self, kind: str) -> np.ndarray:
        return self.results[self.kinds.index(kind)]

    def is_like(self, kind: str, predict, rtol: float = RTOL, atol: float = ATOL) -> bool:
        """Whether the answer on case ``kind`` is what ``predict(z_start, z_end, num_steps)``
        returns (the reference, or a mistake)."""
        i = self.kinds.index(kind)
        return _close(self.results[i], predict(*self.codes[i], self.steps[i]), rtol, atol)

    def right(self, *kinds: str) -> bool:
        return all(
            self.is_like(kind, _reference, FLOAT32_RTOL if kind == "float32" else RTOL)
            for kind in kinds
        )

    def right_but(self, *kinds: str) -> bool:
        """Whether the answer is right on every case but ``kinds``."""
        return self.right(*(kind for kind in self.kinds if kind not in kinds))

    def along_arcs(self, test) -> bool:
        """Whether ``test(case's index)`` holds on every case that follows the arc."""
        return all(test(i) for i, kind in enumerate(self.kinds) if kind in _ARCS)

    def like(self, mistake: str) -> bool:
        """Whether the answer is what ``mistake`` returns on every case along the arc."""
        return self.along_arcs(lambda i: self.is_like(self.kinds[i], _MISTAKES[mistake]))

    def along_line(self, i: int) -> bool:
        """Whether each code of case ``i``'s result points where the straight line's does."""
        result, line = self.results[i], _line(*self.codes[i], _steps(self.steps[i]))
        if result.shape != line.shape or not np.all(np.isfinite(result)):
            return False
        lengths = np.linalg.norm(result, axis=1) * np.linalg.norm(line, axis=1)
        return bool(np.allclose(np.sum(result * line, axis=1), lengths, rtol=1e-9, atol=ATOL))

    def too_soon(self) -> bool:
        """Whether the answer is right on every arc but returns the straight line on those at a
        small angle or nearly opposite, where it is wrong."""
        wrong = [kind for kind in self.kinds if kind in _ARCS and not self.right(kind)]
        line = _MISTAKES["line"]
        return bool(wrong) and all(kind in _NEAR and self.is_like(kind, line) for kind in wrong)

    def float64_returned_as_float32(self) -> bool:
        """Whether the answer on the float32 case is the reference rounded to float32 (within
        one float32 unit in the last place)."""
        i = self.kinds.index("float32")
        result, reference = self.results[i], _reference(*self.codes[i], self.steps[i])
        ulp = np.spacing(np.abs(reference).astype(np.float32)).astype(np.float64)
        return result.shape == reference.shape and bool(np.all(np.abs(result - reference) <= ulp))

    def ends_right(self) -> bool:
        return all(
            result.shape == self.shape(i) and _close(result[[0, -1]], self.codes[i], RTOL, ATOL)
            for i, result in enumerate(self.results)
        )

    def keeps_length(self) -> bool:
        """Whether every code between the two codes of equal length has their length."""
        i = self.kinds.index("equal")
        result, length = self.results[i], np.linalg.norm(self.codes[i][0])
        lengths = np.linalg.norm(result, axis=-1)
        return _close(lengths, np.full_like(lengths, length), RTOL, ATOL)


CLIPPED = "nearly parallel codes give finite numbers (the cosine clipped)"


def _checks(seen: _Answered, answers: Answers) -> dict[str, bool]:
    shaped = all(r.shape == seen.shape(i) for i, r in enumerate(seen.results))
    clipped = seen.result("clipped")
    fresh = [kind for kind in ("general", "equal", *_NEAR) if kind in seen.kinds]
    checks = {
        "returns an array of shape (num_steps, d): one code per row": shaped,
        "starts at z_start and ends at z_end": seen.ends_right(),
        "matches the formula on fresh inputs": seen.right(*fresh) and not answers["complex"],
        "every code on the arc between two codes of equal length keeps their length": (
            shaped and seen.keeps_length()
        ),
        CLIPPED: clipped.size > 0 and bool(np.all(np.isfinite(clipped))),
        "codes in the same direction give the straight line": seen.right("clipped", "parallel"),
    }
    if "opposite" in seen.kinds:
        checks["hidden: codes in opposite directions, or of length 0, give the straight line"] = (
            seen.right("opposite", "zero", "zero end")
        )
        checks["hidden: 2-D and 64-D codes, num_steps = 2, float32 and list inputs"] = seen.right(
            "2-D", "64-D", "two steps", "float32", "list"
        )
    checks["the inputs are left unchanged"] = bool(answers["unchanged"])
    return checks


def _listed(words: list[str]) -> str:
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def _mistakes(seen: _Answered, checks: dict[str, bool], answers: Answers) -> list:
    error = answers["error"]
    wrong = [
        (r.shape, seen.shape(i)) for i, r in enumerate(seen.results) if r.shape != seen.shape(i)
    ]
    found, wanted = wrong[0] if wrong else ((), ())
    straight = [
        words for kind, words in _FALLBACKS.items() if kind in seen.kinds and not seen.right(kind)
    ]
    on_arcs = seen.along_arcs(lambda i: seen.right(seen.kinds[i]))
    float32 = "float32" in seen.kinds and not seen.right("float32") and seen.right_but("float32")
    t_column = "t = np.linspace(0.0, 1.0, num_steps)[:, None]"
    return [
        (
            error is not None and "broadcast" in error,
            f"Your function raised ValueError ({error}): make t a column, {t_column}, so that "
            "each value of t multiplies a whole code, shape (num_steps, 1) against (d,).",
        ),
        (
            error is not None,
            f"Your function raised an error on codes given as Python lists ({error}): make "
            "them arrays first, z_start = np.asarray(z_start, dtype=np.float64).",
        ),
        (
            bool(wrong) and found == wanted[::-1],
            f"Your function returned shape {found}, one column per code: return shape "
            f"{wanted}, (num_steps, d), one code per row ({t_column}).",
        ),
        (
            bool(wrong),
            f"Your function returned shape {found} where (num_steps, d) = {wanted}: return "
            f"num_steps codes, one per row ({t_column}).",
        ),
        (
            answers["complex"],
            "Your function returned complex numbers, their imaginary parts not 0: the result "
            "must be real numbers, a float64 array. Take the angle with "
            "np.arccos(np.clip(cosine, -1.0, 1.0)) (not np.emath), and leave out 1j.",
        ),
        (
            not checks["the inputs are left unchanged"],
            "You changed z_start or z_end in place (for example z_start /= ...): compute on new "
            "arrays; the notebook uses the codes again.",
        ),
        (
            seen.like("backwards"),
            "Your codes run backwards, from z_end to z_start: t runs from 0 to 1, and "
            "sin((1 - t) * angle) multiplies z_start, sin(t * angle) z_end (are the two factors "
            "swapped?).",
        ),
        (
            seen.like("no lengths"),
            "Your angle comes from z_start @ z_end itself, not divided by the lengths (past 1 it "
            "is clipped to an angle of 0 or 180 degrees: the straight line). Take the cosine, "
            "z_start @ z_end / (np.linalg.norm(z_start) * np.linalg.norm(z_end)), then "
            "angle = np.arccos(np.clip(cosine, -1.0, 1.0)).",
        ),
        (
            seen.like("line"),
            "You returned the straight line, (1 - t) * z_start + t * z_end (Lab 04's linear "
            "interpolation): follow the arc with the Theory's formula, the sines of "
            "(1 - t) * angle and t * angle, divided by sin(angle).",
        ),
        (
            seen.along_arcs(seen.along_line),
            "Your codes point where the straight line's codes point, only rescaled (the "
            "straight line normalised): along the arc the direction turns at an even speed, "
            "which no rescaling of the line gives. Use the Theory's formula.",
        ),
        (
            seen.like("unit"),
            "Your codes all have length 1: you made z_start and z_end unit vectors and kept "
            "them. Use unit vectors for the cosine only; the formula takes the codes "
            "themselves, so that the arc keeps their lengths.",
        ),
        (
            seen.like("endpoint"),
            "Your last code is not z_end: your num_steps values of t stop short of 1 "
            f"(np.linspace(..., endpoint=False), or np.arange). Include both ends, {t_column}.",
        ),
        (
            seen.like("degrees"),
            "You took the angle in degrees (np.degrees): np.sin takes radians, so use "
            "angle = np.arccos(cosine) as it is.",
        ),
        (
            seen.like("parentheses"),
            "Only your second term is divided by sin(angle): put the sum in parentheses, "
            "(np.sin((1 - t) * angle) * z_start + np.sin(t * angle) * z_end) / np.sin(angle).",
        ),
        (
            seen.too_soon(),
            "Your function is right elsewhere, but returns the straight line for codes at a "
            "small angle (about 1 degree) or nearly opposite, where the arc still bends: switch "
            "to the straight line only when np.sin(angle) < 1e-6 (a test such as "
            "abs(cosine) > 0.9995 switches far too early).",
        ),
        (
            on_arcs and bool(straight),
            f"For {_listed(straight)} your function does not return the straight line "
            "(it divides by a sin(angle) near 0, or by a length of 0: NaN or huge numbers). When "
            "a code has length 0 or np.sin(angle) < 1e-6, return (1 - t) * z_start + t * z_end.",
        ),
        (
            on_arcs and not checks[CLIPPED],
            "For nearly parallel codes your function gives NaN: rounding pushes their cosine "
            "just past 1, and np.arccos of that is NaN. Clip it first, "
            "np.arccos(np.clip(cosine, -1.0, 1.0)).",
        ),
        (
            float32 and seen.float64_returned_as_float32(),
            "Your codes from float32 inputs are the right codes rounded to float32. You worked "
            "in float64 but returned float32: return the float64 array itself (no "
            ".astype(np.float32), nor the inputs' dtype).",
        ),
        (
            float32 and seen.is_like("float32", _reference, rtol=1e-3, atol=1e-5),
            "Your codes from float32 inputs are right to float32's 7 digits only: work in "
            "float64, z_start = np.asarray(z_start, dtype=np.float64) (and z_end too).",
        ),
    ]


@_exercise("slerp", _draw_slerp, _run_slerp)
def _judge_slerp(inputs: Inputs, answers: Answers) -> Verdict:
    seen = _Answered.of(inputs, answers)
    checks = _checks(seen, answers)
    return _first(
        checks,
        _mistakes(seen, checks, answers),
        "Return the codes of the Theory's formula at num_steps values of t from 0 to 1, with "
        "the straight line where sin(angle) < 1e-6 or a code has length 0.",
    )
