"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs")."""

from __future__ import annotations

import numpy as np


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x . y / d + 1)^3 for x [N, d], y [M, d] -> [N, M]."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 estimate (Gretton et al. 2012, Lemma 6) with the polynomial kernel:

    MMD^2_u = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j)
              - 2/(mn) sum_{i,j} k(x_i, y_j).
    """
    m, n = x.shape[0], y.shape[0]
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    return float(
        (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
        + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
        - 2.0 * k_xy.sum() / (m * n)
    )


def kernel_inception_distance(
    features_real,
    features_fake,
    subset_size: int = 1000,
    num_subsets: int = 100,
    rng: np.random.Generator | int = 0,
) -> tuple[float, float]:
    """KID: mean and std over ``num_subsets`` random subsets of :func:`mmd2_unbiased`.

    Each subset draws ``min(subset_size, N_real, N_fake)`` rows of each feature set
    without replacement (as in the paper's code). ``rng`` is a ``numpy.random.Generator``
    or an int seed; no global RNG is used. Features are cast to float64.
    """
    x = np.asarray(features_real, np.float64)
    y = np.asarray(features_fake, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"features must be [N, D] and [M, D], got {x.shape} and {y.shape}.")
    m = min(subset_size, x.shape[0], y.shape[0])
    if m < 2 or num_subsets < 1:
        raise ValueError(
            f"KID needs subsets of at least 2 samples and num_subsets >= 1, got subset size {m} "
            f"(N_real={x.shape[0]}, N_fake={y.shape[0]}) and num_subsets={num_subsets}."
        )
    rng = np.random.default_rng(rng)
    mmds = np.array(
        [
            mmd2_unbiased(
                x[rng.choice(x.shape[0], m, replace=False)],
                y[rng.choice(y.shape[0], m, replace=False)],
            )
            for _ in range(num_subsets)
        ]
    )
    return float(mmds.mean()), float(mmds.std())
