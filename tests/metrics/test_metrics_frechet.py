"""Frechet distance and Gaussian statistics (FID core)."""

import numpy as np
import pytest
import scipy.linalg

from jaxgen.metrics import gaussian
from jaxgen.metrics.gaussian import (
    frechet_distance,
    gaussian_stats,
    stats_finalize,
    stats_init,
    stats_update,
)


def _reference_frechet(mu1, sigma1, mu2, sigma2):
    """Tr (S1 S2)^{1/2} = sum_i sqrt(lambda_i(S1^{1/2} S2 S1^{1/2})), via symmetric eigh."""
    w, v = np.linalg.eigh(sigma1)
    sqrt_sigma1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    lam = np.linalg.eigvalsh(sqrt_sigma1 @ sigma2 @ sqrt_sigma1)
    tr_covmean = np.sum(np.sqrt(np.clip(lam, 0, None)))
    diff = mu1 - mu2
    return diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean


def _two_feature_sets(n=600, d=24, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, d))
    mixing = np.eye(d) + 0.3 * rng.normal(size=(d, d))
    b = rng.normal(size=(n, d)) @ mixing + 0.5
    return a, b


def test_matches_eigenvalue_reference():
    a, b = _two_feature_sets()
    stats_a, stats_b = gaussian_stats(a), gaussian_stats(b)
    got = frechet_distance(*stats_a, *stats_b)
    want = _reference_frechet(*stats_a, *stats_b)
    assert want > 1.0
    assert abs(got - want) / want < 1e-6


def test_one_dimensional_closed_form():
    # d^2 = (mu1 - mu2)^2 + (s1 - s2)^2 for N(mu1, s1^2), N(mu2, s2^2).
    got = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]]))
    assert got == pytest.approx(9.0 + 1.0, rel=1e-12)


def test_zero_for_identical_sets_and_symmetric():
    a, b = _two_feature_sets()
    stats_a, stats_b = gaussian_stats(a), gaussian_stats(b)
    assert abs(frechet_distance(*stats_a, *stats_a)) < 1e-8
    forward = frechet_distance(*stats_a, *stats_b)
    backward = frechet_distance(*stats_b, *stats_a)
    assert forward == pytest.approx(backward, rel=1e-9)


def test_rank_deficient_covariances_give_finite_distance():
    a, b = _two_feature_sets(n=10, d=24)  # N < D: singular covariances
    got = frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
    assert np.isfinite(got) and got > 0


def test_failed_sqrtm_falls_back_to_eps_offset(monkeypatch):
    a, b = _two_feature_sets(n=200, d=8)
    (mu1, s1), (mu2, s2) = gaussian_stats(a), gaussian_stats(b)
    real_sqrtm = scipy.linalg.sqrtm
    calls = []

    def first_call_fails(matrix):
        calls.append(matrix)
        return np.full_like(matrix, np.nan) if len(calls) == 1 else real_sqrtm(matrix)

    monkeypatch.setattr(gaussian.scipy.linalg, "sqrtm", first_call_fails)
    with pytest.warns(RuntimeWarning, match="adding"):
        got = frechet_distance(mu1, s1, mu2, s2, eps=1e-2)
    offset = 1e-2 * np.eye(8)
    np.testing.assert_allclose(calls[1], (s1 + offset) @ (s2 + offset))
    # As in pytorch-fid, only the square root sees the offset, not Tr(sigma1) + Tr(sigma2).
    want = _reference_frechet(mu1, s1 + offset, mu2, s2 + offset) - 2 * np.trace(offset)
    assert got == pytest.approx(want, rel=1e-9)


def test_large_imaginary_part_raises():
    eye = np.eye(3)
    with pytest.raises(ValueError, match="imaginary"):
        frechet_distance(np.zeros(3), eye, np.zeros(3), -eye)  # sqrt(-I) = i I


def test_inconsistent_shapes_raise():
    with pytest.raises(ValueError, match="inconsistent shapes"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_gaussian_stats_float64_unbiased():
    features = np.arange(12, dtype=np.float32).reshape(6, 2) ** 1.5
    mu, sigma = gaussian_stats(features)
    assert mu.dtype == sigma.dtype == np.float64
    centred = features.astype(np.float64) - features.mean(0)
    np.testing.assert_allclose(sigma, centred.T @ centred / 5, rtol=1e-12)


def test_streaming_stats_equal_one_shot():
    rng = np.random.default_rng(1)
    features = rng.normal(loc=3.0, size=(1003, 16)).astype(np.float32)
    acc = stats_init(16)
    for batch in np.array_split(features, [1, 250, 700]):
        acc = stats_update(acc, batch)
    mu, sigma, count = stats_finalize(acc)
    want_mu, want_sigma = gaussian_stats(features)
    assert count == 1003
    np.testing.assert_allclose(mu, want_mu, rtol=1e-12)
    np.testing.assert_allclose(sigma, want_sigma, rtol=1e-9, atol=1e-12)


def test_stats_errors():
    with pytest.raises(ValueError, match="dimension"):
        stats_update(stats_init(3), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        stats_finalize(stats_update(stats_init(3), np.zeros((1, 3))))
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        gaussian_stats(np.zeros(5))
