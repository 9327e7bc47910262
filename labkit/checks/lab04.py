"""Lab 04's checks: ``fitted_gaussian`` (generating from a plain autoencoder) and
``fraction_within`` (the codes' fit to the prior)."""

from __future__ import annotations

import numpy as np

from labkit.checks import (
    STANDARD_ERRORS,
    Answers,
    Inputs,
    Verdict,
    _exercise,
    _first,
)

FITTED_DRAWS = 20_000  # draws per call in the check of sample_from_fitted_gaussian
NEAR = 1e-4  # how far, relative to the radius, the near-boundary codes of fraction_within lie
# The messages of numpy's multivariate_normal when the mean or covariance has the wrong shape.
_SHAPE_ERRORS = ("same length", "mean must be 1 dimensional", "cov must be 2 dimensional")


def _draw_fitted_gaussian(rng: np.random.Generator, hidden: bool) -> Inputs:
    latent_dim, num_codes = (4, 250) if hidden else (2, 400)
    # Means at least 1.5 from 0, standard deviations 2 to 5 (so that a variance, its square
    # root and 1 differ clearly), and correlations of 0.6 to 0.85 in size between every pair.
    mean = rng.uniform(1.5, 5, latent_dim) * rng.choice([-1.0, 1.0], latent_dim)
    std = rng.uniform(2, 5, latent_dim)
    signs = rng.choice([-1.0, 1.0], latent_dim)
    correlation = rng.uniform(0.6, 0.85)
    covariance = ((1 - correlation) * np.eye(latent_dim) + correlation * np.outer(signs, signs)) * (
        np.outer(std, std)
    )
    noise = rng.standard_normal((num_codes, latent_dim))
    codes = mean + noise @ np.linalg.cholesky(covariance).T
    return {
        "codes": codes.astype(np.float32),  # as labkit.encode returns them
        "num_samples": FITTED_DRAWS,
        "seed": int(rng.integers(2**31)),
    }


def _run_fitted_gaussian(inputs: Inputs, sample_from_fitted_gaussian) -> Answers:
    codes, num_samples, seed = inputs["codes"], inputs["num_samples"], inputs["seed"]
    given, generator = codes.copy(), np.random.default_rng(seed)
    try:
        first = sample_from_fitted_gaussian(given, num_samples, generator)
    except ValueError as error:  # a mean or covariance of the wrong shape: a known mistake
        if any(part in str(error) for part in _SHAPE_ERRORS):
            return {"shape_error": str(error)}
        raise
    unchanged = bool(np.array_equal(given, codes))
    second = sample_from_fitted_gaussian(codes.copy(), num_samples, generator)
    repeated = sample_from_fitted_gaussian(codes.copy(), num_samples, np.random.default_rng(seed))
    return {
        "draws": np.asarray(first, dtype=np.float64),
        "second": np.asarray(second, dtype=np.float64),
        "repeated": np.asarray(repeated, dtype=np.float64),
        "unchanged": unchanged,
    }


def _moments_are(draws: np.ndarray, mean: np.ndarray, covariance: np.ndarray) -> tuple:
    """Whether the draws' mean, and their covariance, are ``mean`` and ``covariance``, within
    STANDARD_ERRORS standard errors of each entry (Gaussian draws)."""
    num_draws, variances = len(draws), np.diag(covariance)
    mean_error = np.sqrt(variances / num_draws)
    covariance_error = np.sqrt((covariance**2 + np.outer(variances, variances)) / num_draws)
    return (
        bool(np.all(np.abs(draws.mean(axis=0) - mean) <= STANDARD_ERRORS * mean_error)),
        bool(
            np.all(
                np.abs(np.cov(draws, rowvar=False) - covariance)
                <= STANDARD_ERRORS * covariance_error
            )
        ),
    )


def _whitened(draws: np.ndarray, mean: np.ndarray, cholesky: np.ndarray) -> np.ndarray:
    """The draws mapped by the codes' fit onto standard normal noise: solve L w = draw - mean."""
    return np.linalg.solve(cholesky, (draws - mean).T).T


def _copied_fraction(draws: np.ndarray, codes: np.ndarray) -> float:
    """The fraction of draws equal (in float32, as the codes are) to one of the codes."""
    known = {row.tobytes() for row in codes.astype(np.float32)}
    return float(np.mean([row.tobytes() in known for row in draws.astype(np.float32)]))


def _excess_kurtosis(whitened: np.ndarray) -> np.ndarray:
    """Each column's excess kurtosis (0 for a Gaussian; standard error sqrt(24 / n))."""
    centred = whitened - whitened.mean(axis=0)
    return np.mean(centred**4, axis=0) / np.mean(centred**2, axis=0) ** 2 - 3


def _correlations(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Every column of ``first`` with every column of ``second``, row by row: their correlations
    (standard error 1 / sqrt(rows) each when the rows are independent)."""
    first = (first - first.mean(axis=0)) / first.std(axis=0)
    second = (second - second.mean(axis=0)) / second.std(axis=0)
    return first.T @ second / len(first)


def _matrix_square_root(covariance: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(covariance)
    return vectors @ np.diag(np.sqrt(np.clip(values, 0, None))) @ vectors.T


@_exercise("fitted_gaussian", _draw_fitted_gaussian, _run_fitted_gaussian)
def _judge_fitted_gaussian(inputs: Inputs, answers: Answers) -> Verdict:
    codes = inputs["codes"].astype(np.float64)
    num_samples, (num_codes, latent_dim) = inputs["num_samples"], codes.shape
    mean, covariance = codes.mean(axis=0), np.cov(codes, rowvar=False)
    shape_error = answers.get("shape_error", "")
    draws = answers.get("draws", np.zeros(0))
    shaped = draws.shape == (num_samples, latent_dim) and bool(np.all(np.isfinite(draws)))

    def moments(target_mean, target_covariance) -> tuple:
        return _moments_are(draws, target_mean, target_covariance) if shaped else (False, False)

    def covariance_is(target_covariance) -> bool:
        return moments(mean, target_covariance)[1]

    mean_right, covariance_right = moments(mean, covariance)
    cholesky = np.linalg.cholesky(covariance)
    same_seed = shaped and bool(np.array_equal(draws, answers["repeated"]))
    new_draws = shaped and not np.array_equal(draws, answers["second"])
    copied = _copied_fraction(draws, codes) if shaped else 0.0
    gaussian = independent = False
    if shaped:
        whitened = _whitened(draws, mean, cholesky)
        half = num_samples // 2
        gaussian = bool(
            np.all(
                np.abs(_excess_kurtosis(whitened)) <= STANDARD_ERRORS * np.sqrt(24 / num_samples)
            )
        )
        halves = _correlations(whitened[:half], whitened[half : 2 * half])
        lagged = _correlations(whitened[:-1], whitened[1:])
        independent = bool(
            np.all(np.abs(halves) <= STANDARD_ERRORS / np.sqrt(half))
            and np.all(np.abs(lagged) <= STANDARD_ERRORS / np.sqrt(num_samples - 1))
        )
    checks = {
        "returns num_samples rows (one code per draw) of latent_dim columns, all finite": shaped,
        f"the draws' mean is the codes' mean (within {STANDARD_ERRORS} standard errors, "
        f"{FITTED_DRAWS:,} draws)": mean_right,
        "the draws' covariance is the codes' covariance, correlations included (within "
        f"{STANDARD_ERRORS} standard errors)": covariance_right,
        "the draws are new codes, not copies of the given codes": shaped and copied <= 0.01,
        "the draws are Gaussian (each whitened dimension's excess kurtosis within "
        f"{STANDARD_ERRORS} standard errors of 0)": gaussian,
        "the draws are independent of each other (no correlation between the first and second "
        f"halves, nor between consecutive draws, within {STANDARD_ERRORS} standard errors)": (
            independent
        ),
        "the same seed gives the same draws: every random number comes from rng": same_seed,
        "a second call with the same rng gives new draws": new_draws,
        "leaves codes unchanged": bool(answers.get("unchanged", False)),
    }
    fit = "multivariate_normal(codes.mean(axis=0), np.cov(codes, rowvar=False), size=num_samples)"
    return _first(
        checks,
        [
            (
                "same length" in shape_error,
                "Your mean and covariance do not have the same size: "
                "each code is a row, so take the mean down the rows, codes.mean(axis=0), and the "
                "covariance of the columns, np.cov(codes, rowvar=False): latent_dim numbers and "
                "a latent_dim x latent_dim matrix.",
            ),
            (
                "mean must be 1 dimensional" in shape_error,
                "Your mean is not one number per "
                "latent dimension: take the mean down the rows, codes.mean(axis=0).",
            ),
            (
                "cov must be 2 dimensional" in shape_error,
                "You passed one number per dimension "
                "(standard deviations or variances) as the covariance: multivariate_normal takes "
                "the latent_dim x latent_dim covariance matrix, np.cov(codes, rowvar=False).",
            ),
            (
                draws.shape == (num_samples, num_codes),
                "Your draws have one column per code, "
                "not per latent dimension: you took the mean and the covariance along the wrong "
                "axis. Each code is a row: codes.mean(axis=0), np.cov(codes, rowvar=False).",
            ),
            (
                draws.shape == (num_codes, latent_dim),
                "You returned as many draws as there "
                "are codes: return num_samples draws (size=num_samples).",
            ),
            (
                draws.shape != (num_samples, latent_dim),
                f"Your function returned shape {draws.shape}: "
                f"return an array of shape (num_samples, latent_dim) = ({num_samples}, "
                f"{latent_dim}), one drawn code per row.",
            ),
            (
                not shaped,
                "Your draws hold NaN or infinite values: draw from the codes' mean and "
                f"covariance, rng.{fit}.",
            ),
            (
                not checks["leaves codes unchanged"],
                "You changed codes in place (for example "
                "codes -= mean): compute on a copy; the notebook uses the codes again.",
            ),
            (
                moments(np.zeros(latent_dim), np.eye(latent_dim)) == (True, True),
                "Your draws "
                "come from N(0, I): that ignores the fit. Draw from the Gaussian with the codes' "
                f"mean and covariance, rng.{fit}.",
            ),
            (
                covariance_is(np.diag(np.diag(covariance))),
                "Your draws have the codes' "
                "variances but no correlation between dimensions: you used only the diagonal "
                "(one standard deviation per dimension). Use the full covariance matrix, "
                "np.cov(codes, rowvar=False).",
            ),
            (
                covariance_is(np.diag(np.sqrt(np.diag(covariance))))
                or covariance_is(_matrix_square_root(covariance)),
                "Your draws' variances are the "
                "codes' standard deviations: multivariate_normal takes the covariance (variances "
                "on its diagonal), np.cov(codes, rowvar=False), not a standard deviation.",
            ),
            (
                covariance_is(covariance @ covariance),
                "Your draws' covariance is the codes' "
                "covariance squared: you scaled the noise by the covariance matrix. Scale it by "
                "a square root of it, L = np.linalg.cholesky(covariance): mean + noise @ L.T.",
            ),
            (
                covariance_is(cholesky.T @ cholesky),
                "Your draws' covariance is L.T @ L, not "
                "the codes' covariance L @ L.T: with L = np.linalg.cholesky(covariance), draw "
                "mean + noise @ L.T (noise of shape (num_samples, latent_dim)).",
            ),
            (
                covariance_right and moments(np.zeros(latent_dim), covariance)[0],
                "Your draws are centred on 0: add the codes' mean, codes.mean(axis=0).",
            ),
            (
                shaped and copied > 0.01,
                f"{copied:.0%} of your draws are copies of the given codes: you resampled the "
                "codes (a bootstrap), which only replays the training codes. Draw new codes from "
                f"the fitted Gaussian, rng.{fit}; do not resample the codes.",
            ),
            (
                shaped and not gaussian,
                "Your draws are not Gaussian (their whitened coordinates' kurtosis is not a "
                "normal distribution's): draw standard normal noise, rng.standard_normal, not "
                f"uniform or other noise, before scaling it; or draw with rng.{fit}.",
            ),
            (
                shaped and not independent,
                "Your draws are not independent of each other: some are mirrors or copies of "
                "others (antithetic draws, or a repeated block). Make each draw independent: "
                f"draw all num_samples at once, rng.{fit}.",
            ),
            (
                not same_seed,
                "Two generators with the same seed gave different draws: draw every "
                "random number from the argument rng (rng.multivariate_normal or "
                "rng.standard_normal), not from np.random.* or a new generator.",
            ),
            (
                not new_draws,
                "Two calls with the same rng gave the same draws: you made a "
                "generator with a fixed seed inside your function. Draw from the argument rng.",
            ),
        ],
        f"Draw num_samples codes from the Gaussian fitted to the codes: rng.{fit}.",
    )


def _draw_fraction_within(rng: np.random.Generator, hidden: bool) -> Inputs:
    latent_dim = int(rng.choice([3, 5])) if hidden else 2
    radius = float(rng.choice([1.25, 2.5, 5.0]))
    unit = radius / 5  # a power of two: 3, 4 and 5 units are exact, and so is sqrt(9 + 16)
    codes = rng.normal(0, radius / np.sqrt(latent_dim), (200, latent_dim))
    boundary = np.zeros((6, latent_dim))
    for row in boundary:
        first, second = rng.choice(latent_dim, 2, replace=False)
        row[first], row[second] = rng.choice([-1.0, 1.0], 2) * [3 * unit, 4 * unit]
    boundary[0] = 0
    boundary[0, rng.integers(latent_dim)] = rng.choice([-1.0, 1.0]) * radius
    # Random codes nearer the radius than float32 resolves are moved well out of it.
    distance = np.linalg.norm(codes, axis=1, keepdims=True)
    codes = np.where(np.abs(distance / radius - 1) < NEAR, codes * 1.01, codes)
    # Just outside and just inside: 1e-4 of the radius, which float32 codes keep apart.
    near = np.concatenate([boundary[:3] * (1 + NEAR), boundary[3:] * (1 - NEAR)])
    codes = np.concatenate([codes, boundary, near])
    return {"codes": codes[rng.permutation(len(codes))], "radius": radius}


def _one_number(value) -> float:
    if np.size(value) != 1:
        return np.nan
    return float(np.asarray(value, dtype=np.float64).reshape(-1)[0])


def _run_fraction_within(inputs: Inputs, fraction_within) -> Answers:
    codes, radius = inputs["codes"], inputs["radius"]
    given = codes.copy()
    whole = fraction_within(given, radius)
    each = [fraction_within(codes[i : i + 1].copy(), radius) for i in range(len(codes))]
    return {
        "whole": _one_number(whole),
        "type": type(whole).__name__,
        "shape": list(np.shape(whole)),
        "is_float": isinstance(whole, float),
        "each": np.array([_one_number(value) for value in each]),
        "unchanged": bool(np.array_equal(given, codes)),
    }


@_exercise("fraction_within", _draw_fraction_within, _run_fraction_within)
def _judge_fraction_within(inputs: Inputs, answers: Answers) -> Verdict:
    codes, radius = inputs["codes"], inputs["radius"]
    whole, each = answers["whole"], answers["each"]
    distance = np.sqrt(np.sum(codes**2, axis=1))
    within, on_boundary = distance <= radius, distance == radius

    def each_is(rule: np.ndarray) -> bool:
        return bool(np.array_equal(each, rule.astype(np.float64)))

    one_code = "one code: 1.0 when its distance from the origin is at most radius, else 0.0"

    checks = {
        "returns a float between 0 and 1": answers["is_float"] and 0 <= whole <= 1,
        one_code: bool(np.array_equal(each[~on_boundary], within[~on_boundary])),
        "a code at distance exactly radius counts as within": bool(np.all(each[on_boundary] == 1)),
        "many codes: the fraction of them within radius": bool(np.isclose(whole, within.mean())),
        "leaves codes unchanged": answers["unchanged"],
    }
    return _first(
        checks,
        [
            (
                answers["shape"] not in ([], [1]),
                f"Your function returned an array of shape {tuple(answers['shape'])}: return "
                "one number, the fraction (the mean of one True/False per code).",
            ),
            (
                each_is(distance < radius),
                "A code at distance exactly radius was left out: 'at most radius' means <=, not <.",
            ),
            (
                each_is(np.sum(codes**2, axis=1) <= radius),
                "You compared the squared distance "
                "z0^2 + z1^2 with radius: take its square root first, "
                "np.linalg.norm(codes, axis=1).",
            ),
            (
                each_is(np.all(np.abs(codes) <= radius, axis=1)),
                "You compared each coordinate "
                "with radius (a square, not a disc): compare each code's Euclidean distance, "
                "np.linalg.norm(codes, axis=1), with radius.",
            ),
            (
                each_is(np.sum(np.abs(codes), axis=1) <= radius),
                "You added the coordinates' "
                "absolute values: the Euclidean distance is the square root of the sum of their "
                "squares, np.linalg.norm(codes, axis=1).",
            ),
            (
                each_is(~within),
                "You returned the fraction of codes farther than radius: count "
                "those at distance at most radius.",
            ),
            (
                bool(np.allclose(each, np.mean(np.abs(codes) <= radius, axis=1))),
                "axis=0 gives one norm per latent dimension (column): use axis=1, one distance "
                "per code (row).",
            ),
            (
                checks[one_code]
                and bool(np.isclose(whole, float(np.linalg.norm(codes) <= radius)))
                and not np.isclose(whole, within.mean()),
                "Each code alone gives the right answer, but many together do not: did you take "
                "the norm of the whole array? Give np.linalg.norm axis=1, one distance per code.",
            ),
            (
                bool(np.isclose(whole, within.sum())) and within.sum() > 1,
                "You returned how "
                "many codes are within radius: divide by the number of codes (the mean of the "
                "True/False values).",
            ),
            (
                bool(np.isclose(whole, 100 * within.mean())),
                "You returned a percentage: return the fraction, between 0 and 1.",
            ),
            (
                not answers["is_float"],
                f"Your function returned a {answers['type']}: return a float, "
                "for example float(np.mean(...)).",
            ),
            (
                not answers["unchanged"],
                "You changed codes in place: compute on a copy; the notebook uses the codes again.",
            ),
        ],
        "Return the fraction of rows whose Euclidean distance from the origin, "
        "np.linalg.norm(codes, axis=1), is at most radius, as a float.",
    )
