"""Kernel Inception Distance (Binkowski et al. 2018)."""

import numpy as np
import pytest

from jaxgen.metrics import kernel_inception_distance, mmd2_unbiased, polynomial_kernel


def test_polynomial_kernel_by_hand():
    x, y = np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]])
    assert polynomial_kernel(x, y)[0, 0] == pytest.approx((11 / 2 + 1) ** 3)


def test_mmd2_unbiased_matches_double_loop():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(7, 3)) + 0.3
    k = lambda a, b: (a @ b / 3 + 1) ** 3
    xx = sum(k(x[i], x[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    yy = sum(k(y[i], y[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    xy = sum(k(x[i], y[j]) for i in range(5) for j in range(7)) / (5 * 7)
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_unbiased_for_same_distribution():
    # Independent draws of two samples from one distribution: E[MMD^2_u] = 0. A biased
    # (V-statistic) estimate would sit ~0.5 above zero here, ~15 standard errors.
    rng = np.random.default_rng(1)
    draws = []
    for _ in range(300):
        x, y = rng.normal(size=(2, 30, 8))
        draws.append(kernel_inception_distance(x, y, subset_size=30, num_subsets=1, rng=rng)[0])
    draws = np.array(draws)
    assert abs(draws.mean()) < 4 * draws.std() / np.sqrt(len(draws))


def test_kid_of_a_set_with_itself_is_its_closed_form():
    # With subset_size = N every subset is the whole set permuted, so each MMD^2_u is
    # (S - T)/(N(N-1)) * 2 - 2 S / N^2 = -2 (mean_i k(x_i, x_i) - mean_ij k(x_i, x_j)) / (N - 1)
    # (S: sum of the kernel matrix, T: its trace): about 0, shrinking as 1/N.
    rng = np.random.default_rng(5)
    for n in (10, 40, 160):
        x = rng.normal(size=(n, 8))
        k = (x @ x.T / 8 + 1) ** 3
        expected = -2 * (np.mean(np.diag(k)) - np.mean(k)) / (n - 1)
        mean, std = kernel_inception_distance(x, x, subset_size=n, num_subsets=4, rng=rng)
        assert mean == pytest.approx(expected, rel=1e-10) and std < 1e-12 * np.mean(k)
        assert abs(mean) < 2 * np.mean(np.diag(k)) / (n - 1)


def test_kid_detects_shift():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(200, 8)), rng.normal(size=(200, 8)) + 1.0
    mean, std = kernel_inception_distance(x, y, subset_size=50, num_subsets=20, rng=3)
    assert mean > 5 * std > 0


def test_kid_seeded_without_global_rng():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(100, 4)), rng.normal(size=(100, 4))
    first = kernel_inception_distance(x, y, subset_size=20, num_subsets=5, rng=7)
    assert kernel_inception_distance(x, y, subset_size=20, num_subsets=5, rng=7) == first
    generator = kernel_inception_distance(
        x, y, subset_size=20, num_subsets=5, rng=np.random.default_rng(7)
    )
    assert generator == first
    assert kernel_inception_distance(x, y, subset_size=20, num_subsets=5, rng=8) != first


def test_kid_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        kernel_inception_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        kernel_inception_distance(np.zeros((4, 3)), np.zeros((5, 2)))
