"""Gaussian feature statistics and the Frechet distance (FID, Heusel et al. 2017).

All statistics are float64 numpy: the trace of a matrix square root of 2048x2048
covariances loses digits quickly in float32.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import scipy.linalg

# sqrtm(A) is accepted when ||X @ X - A||_F / ||A||_F is below this (float64 gives ~1e-14).
_SQRTM_RTOL = 1e-6
# Largest |imaginary part| on the diagonal of (S1 S2)^{1/2} treated as round-off (TTUR value).
_IMAG_ATOL = 1e-3


class GaussianStats(NamedTuple):
    """Mean ``mu`` [D], covariance ``sigma`` [D, D] (float64) of ``count`` feature vectors."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int


class StatsAccumulator(NamedTuple):
    """Running sums for streaming statistics: sum_i x_i [D], sum_i x_i x_i^T [D, D], n."""

    sum: np.ndarray
    sum_outer: np.ndarray
    count: int


def _as_features(features) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be [N, D], got shape {features.shape}.")
    return features


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of features [N, D]: mu = mean_i x_i,
    sigma = 1/(N-1) sum_i (x_i - mu)(x_i - mu)^T, both float64 (as TTUR / pytorch-fid).
    """
    features = _as_features(features)
    if features.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {len(features)}.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def stats_init(dim: int) -> StatsAccumulator:
    """Empty accumulator for D-dimensional features."""
    return StatsAccumulator(np.zeros(dim), np.zeros((dim, dim)), 0)


def stats_update(acc: StatsAccumulator, features) -> StatsAccumulator:
    """Add a batch of features [B, D] to the running sums (float64)."""
    features = _as_features(features)
    if features.shape[1] != acc.sum.shape[0]:
        raise ValueError(
            f"feature dimension {features.shape[1]} != accumulator dimension {acc.sum.shape[0]}."
        )
    return StatsAccumulator(
        acc.sum + features.sum(axis=0),
        acc.sum_outer + features.T @ features,
        acc.count + features.shape[0],
    )


def stats_finalize(acc: StatsAccumulator) -> GaussianStats:
    """mu = S / n, sigma = (S2 - n mu mu^T) / (n - 1): equal to :func:`gaussian_stats`."""
    n = acc.count
    if n < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {n}.")
    mu = acc.sum / n
    sigma = (acc.sum_outer - n * np.outer(mu, mu)) / (n - 1)
    return GaussianStats(mu, sigma, n)


def _sqrtm_product(sigma1: np.ndarray, sigma2: np.ndarray) -> np.ndarray | None:
    """(sigma1 sigma2)^{1/2} by scipy's Schur method, or None if it is not accurate."""
    product = sigma1 @ sigma2
    with warnings.catch_warnings():
        # Singular products are common (N < D); accuracy is checked below instead.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(product)
    if not np.all(np.isfinite(root)):
        return None
    residual = np.linalg.norm(root @ root - product) / max(np.linalg.norm(product), 1e-300)
    return root if residual <= _SQRTM_RTOL else None


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (Dowson & Landau 1982):

        d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2}).

    FID (Heusel et al. 2017) is this distance between InceptionV3 pool3 statistics. As in
    the reference TTUR / pytorch-fid code, if the square root of a (near-)singular product
    fails, it is recomputed as ((sigma1 + eps I)(sigma2 + eps I))^{1/2} with a warning (the
    trace terms keep the raw covariances), and imaginary parts from round-off are dropped;
    a diagonal imaginary part above 1e-3 raises ``ValueError``.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    dim = mu1.shape[0]
    if mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(
            f"inconsistent shapes: mu1 {mu1.shape}, sigma1 {sigma1.shape}, "
            f"mu2 {mu2.shape}, sigma2 {sigma2.shape}; expected [D] and [D, D]."
        )
    covmean = _sqrtm_product(sigma1, sigma2)
    if covmean is None:
        warnings.warn(
            f"Frechet distance: sqrtm of a singular covariance product; adding {eps} * I "
            "to both covariances.",
            RuntimeWarning,
            stacklevel=2,
        )
        offset = eps * np.eye(dim)
        covmean = _sqrtm_product(sigma1 + offset, sigma2 + offset)
        if covmean is None:
            raise ValueError(
                "Frechet distance: matrix square root failed even with eps * I added; "
                "check the covariances for NaN/inf or use more samples."
            )
    if np.iscomplexobj(covmean):
        max_imag = np.max(np.abs(np.diagonal(covmean).imag))
        if max_imag > _IMAG_ATOL:
            raise ValueError(
                f"Frechet distance: (sigma1 sigma2)^(1/2) has an imaginary diagonal part of "
                f"{max_imag:.3g} > {_IMAG_ATOL}; the covariances are not valid (symmetric PSD)."
            )
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
