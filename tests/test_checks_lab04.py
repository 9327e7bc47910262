"""labkit.checks, Lab 04: generating from a Gaussian fitted to an autoencoder's codes
(``fitted_gaussian``) and the fraction of codes within a radius (``fraction_within``).

The instructor's answers pass; the unsolved stub fails with "Not written yet"; each wrong answer,
written as a student would write it, fails with the advice that names its mistake.
"""

from __future__ import annotations

import numpy as np
import pytest

import labkit

SEEDS = (0, 1, 2)


# --- Exercise 1a: sample_from_fitted_gaussian ---------------------------------------------------


def sample_from_fitted_gaussian(codes, num_samples, rng):
    """The instructor's answer, as the notebook writes it."""
    mean = codes.mean(axis=0)
    covariance = np.cov(codes, rowvar=False)
    return rng.multivariate_normal(mean, covariance, size=num_samples)


def _by_hand(codes, num_samples, rng):
    """Also right: the Cholesky factor of the covariance scales standard normal noise."""
    mean = codes.mean(axis=0)
    factor = np.linalg.cholesky(np.cov(codes, rowvar=False, ddof=0))
    return mean + rng.standard_normal((num_samples, codes.shape[1])) @ factor.T


def _unit_normal(codes, num_samples, rng):
    return rng.standard_normal((num_samples, codes.shape[1]))


def _diagonal(codes, num_samples, rng):
    return rng.multivariate_normal(codes.mean(axis=0), np.diag(codes.var(axis=0)), size=num_samples)


def _per_dimension_std(codes, num_samples, rng):
    mean, std = codes.mean(axis=0), codes.std(axis=0)
    return mean + std * rng.standard_normal((num_samples, codes.shape[1]))


def _std_as_covariance(codes, num_samples, rng):
    return rng.multivariate_normal(codes.mean(axis=0), codes.std(axis=0), size=num_samples)


def _diagonal_std_as_covariance(codes, num_samples, rng):
    return rng.multivariate_normal(codes.mean(axis=0), np.diag(codes.std(axis=0)), size=num_samples)


def _matrix_square_root_as_covariance(codes, num_samples, rng):
    values, vectors = np.linalg.eigh(np.cov(codes, rowvar=False))
    root = vectors @ np.diag(np.sqrt(values)) @ vectors.T
    return rng.multivariate_normal(codes.mean(axis=0), root, size=num_samples)


def _covariance_of_rows(codes, num_samples, rng):
    return rng.multivariate_normal(codes.mean(axis=0), np.cov(codes), size=num_samples)


def _both_over_rows(codes, num_samples, rng):
    return rng.multivariate_normal(codes.mean(axis=1), np.cov(codes), size=num_samples)


def _mean_of_rows(codes, num_samples, rng):
    return rng.multivariate_normal(
        codes.mean(axis=1), np.cov(codes, rowvar=False), size=num_samples
    )


def _mean_of_everything(codes, num_samples, rng):
    return rng.multivariate_normal(codes.mean(), np.cov(codes, rowvar=False), size=num_samples)


def _covariance_as_factor(codes, num_samples, rng):
    covariance = np.cov(codes, rowvar=False)
    return codes.mean(axis=0) + rng.standard_normal((num_samples, codes.shape[1])) @ covariance


def _factor_not_transposed(codes, num_samples, rng):
    factor = np.linalg.cholesky(np.cov(codes, rowvar=False))
    return codes.mean(axis=0) + rng.standard_normal((num_samples, codes.shape[1])) @ factor


def _no_mean(codes, num_samples, rng):
    covariance = np.cov(codes, rowvar=False)
    return rng.multivariate_normal(np.zeros(codes.shape[1]), covariance, size=num_samples)


def _one_draw_per_code(codes, num_samples, rng):
    return rng.multivariate_normal(codes.mean(axis=0), np.cov(codes, rowvar=False), len(codes))


def _global_random_state(codes, num_samples, rng):
    covariance = np.cov(codes, rowvar=False)
    return np.random.multivariate_normal(codes.mean(axis=0), covariance, size=num_samples)


def _fixed_seed_inside(codes, num_samples, rng):
    rng = np.random.default_rng(0)
    return rng.multivariate_normal(codes.mean(axis=0), np.cov(codes, rowvar=False), num_samples)


def _centred_in_place(codes, num_samples, rng):
    mean = codes.mean(axis=0)
    codes -= mean
    return mean + rng.multivariate_normal(
        np.zeros(codes.shape[1]), np.cov(codes, rowvar=False), size=num_samples
    )


def _bootstrap(codes, num_samples, rng):
    return codes[rng.integers(len(codes), size=num_samples)]


def _uniform_noise(codes, num_samples, rng):
    factor = np.linalg.cholesky(np.cov(codes, rowvar=False))
    noise = rng.uniform(-np.sqrt(3), np.sqrt(3), (num_samples, codes.shape[1]))  # variance 1
    return codes.mean(axis=0) + noise @ factor.T


def _antithetic(codes, num_samples, rng):
    mean = codes.mean(axis=0)
    half = rng.multivariate_normal(mean, np.cov(codes, rowvar=False), size=num_samples // 2)
    return np.concatenate([half, 2 * mean - half])


def _antithetic_pairs(codes, num_samples, rng):
    mean = codes.mean(axis=0)
    half = rng.multivariate_normal(mean, np.cov(codes, rowvar=False), size=num_samples // 2)
    return np.stack([half, 2 * mean - half], axis=1).reshape(num_samples, -1)


def _float32_by_hand(codes, num_samples, rng):
    """Also right: in float32, as labkit.encode's codes are."""
    codes = codes.astype(np.float32)
    factor = np.linalg.cholesky(np.cov(codes, rowvar=False)).astype(np.float32)
    noise = rng.standard_normal((num_samples, codes.shape[1]), dtype=np.float32)
    return codes.mean(axis=0) + noise @ factor.T


def _stub(codes, num_samples, rng):
    raise NotImplementedError("Exercise 1a: fit a Gaussian to the codes and draw from it")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("answer", [sample_from_fitted_gaussian, _by_hand, _float32_by_hand])
def test_fitted_gaussian_passes_right_answers(answer, hidden, seed):
    check = labkit.check_exercise("fitted_gaussian", answer, hidden=hidden, seed=seed)
    assert check.passed, (check.checks, check.advice)


FITTED_GAUSSIAN_MISTAKES = [
    (_unit_normal, "come from N(0, I)"),
    (_diagonal, "no correlation between dimensions"),
    (_per_dimension_std, "no correlation between dimensions"),
    (_std_as_covariance, "one number per dimension"),
    (_diagonal_std_as_covariance, "variances are the codes' standard deviations"),
    (_matrix_square_root_as_covariance, "variances are the codes' standard deviations"),
    (_covariance_of_rows, "do not have the same size"),
    (_both_over_rows, "one column per code"),
    (_mean_of_rows, "do not have the same size"),
    (_mean_of_everything, "not one number per latent dimension"),
    (_covariance_as_factor, "covariance squared"),
    (_factor_not_transposed, "L.T @ L"),
    (_no_mean, "centred on 0"),
    (_one_draw_per_code, "as many draws as there are codes"),
    (_global_random_state, "same seed gave different draws"),
    (_fixed_seed_inside, "same rng gave the same draws"),
    (_centred_in_place, "changed codes in place"),
    (_bootstrap, "do not resample the codes"),
    (_uniform_noise, "draw standard normal noise"),
    (_antithetic, "Make each draw independent"),
    (_antithetic_pairs, "Make each draw independent"),
    (_stub, "Not written yet"),
]


@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize(("answer", "advice"), FITTED_GAUSSIAN_MISTAKES)
def test_fitted_gaussian_names_each_mistake(answer, advice, hidden):
    for seed in SEEDS:
        check = labkit.check_exercise("fitted_gaussian", answer, hidden=hidden, seed=seed)
        assert not check.passed
        assert advice in check.advice, check.advice


# --- Exercise 1b: fraction_within ---------------------------------------------------------------


def fraction_within(codes, radius):
    """The instructor's answer, as the notebook writes it."""
    return float(np.mean(np.linalg.norm(codes, axis=1) <= radius))


def _numpy_mean(codes, radius):
    """Also right: NumPy's float64 is a float."""
    return np.mean(np.sqrt(np.sum(codes**2, axis=1)) <= radius)


def _in_float32(codes, radius):
    """Also right: in float32, as labkit.encode returns the codes."""
    return float(np.mean(np.linalg.norm(codes.astype(np.float32), axis=1) <= radius))


def _squared_radius(codes, radius):
    """Also right: squared distance against the squared radius."""
    return float(np.mean(np.sum(codes**2, axis=1) <= radius**2))


def _strict(codes, radius):
    return float(np.mean(np.linalg.norm(codes, axis=1) < radius))


def _squared(codes, radius):
    return float(np.mean(np.sum(codes**2, axis=1) <= radius))


def _square(codes, radius):
    return float(np.mean(np.all(np.abs(codes) <= radius, axis=1)))


def _manhattan(codes, radius):
    return float(np.mean(np.sum(np.abs(codes), axis=1) <= radius))


def _outside(codes, radius):
    return float(np.mean(np.linalg.norm(codes, axis=1) > radius))


def _whole_array_norm(codes, radius):
    return float(np.mean(np.linalg.norm(codes) <= radius))


def _columns(codes, radius):
    return float(np.mean(np.linalg.norm(codes, axis=0) <= radius))


def _count(codes, radius):
    return float(np.sum(np.linalg.norm(codes, axis=1) <= radius))


def _percentage(codes, radius):
    return 100 * float(np.mean(np.linalg.norm(codes, axis=1) <= radius))


def _booleans(codes, radius):
    return np.linalg.norm(codes, axis=1) <= radius


def _float32(codes, radius):
    return np.float32(np.mean(np.linalg.norm(codes, axis=1) <= radius))


def _squared_in_place(codes, radius):
    codes **= 2
    return float(np.mean(np.sqrt(codes.sum(axis=1)) <= radius))


def _fraction_stub(codes, radius):
    raise NotImplementedError("Exercise 1b: the fraction of codes within radius")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("answer", [fraction_within, _numpy_mean, _in_float32, _squared_radius])
def test_fraction_within_passes_right_answers(answer, hidden, seed):
    check = labkit.check_exercise("fraction_within", answer, hidden=hidden, seed=seed)
    assert check.passed, (check.checks, check.advice)


FRACTION_WITHIN_MISTAKES = [
    (_strict, "<=, not <"),
    (_squared, "squared distance"),
    (_square, "a square, not a disc"),
    (_manhattan, "absolute values"),
    (_outside, "farther than radius"),
    (_whole_array_norm, "norm of the whole array"),
    (_columns, "axis=0"),
    (_count, "how many codes"),
    (_percentage, "percentage"),
    (_booleans, "returned an array of shape"),
    (_float32, "return a float"),
    (_squared_in_place, "changed codes in place"),
    (_fraction_stub, "Not written yet"),
]


@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize(("answer", "advice"), FRACTION_WITHIN_MISTAKES)
def test_fraction_within_names_each_mistake(answer, advice, hidden):
    for seed in SEEDS:
        check = labkit.check_exercise("fraction_within", answer, hidden=hidden, seed=seed)
        assert not check.passed
        assert advice in check.advice, check.advice


def test_fraction_within_tests_the_boundary_exactly():
    """Codes at distance exactly radius are drawn, and both sides of it, 1e-4 of it away."""
    for seed in SEEDS:
        inputs = labkit.checks.EXERCISES["fraction_within"].draw(np.random.default_rng(seed), True)
        distance = np.linalg.norm(inputs["codes"], axis=1)
        assert np.sum(distance == inputs["radius"]) >= 6
        radius = inputs["radius"]
        assert np.any((distance > radius) & (distance < radius * (1 + 2e-4)))
        assert np.any((distance < radius) & (distance > radius * (1 - 2e-4)))


@pytest.mark.parametrize(
    ("name", "answer"),
    [("fitted_gaussian", sample_from_fitted_gaussian), ("fraction_within", fraction_within)],
)
def test_check_lines_do_not_depend_on_the_inputs(name, answer):
    """nbval compares the check cell's output between runs: only PASS/FAIL may change."""
    lines = {tuple(labkit.check_exercise(name, answer, seed=seed).checks) for seed in SEEDS}
    assert len(lines) == 1
