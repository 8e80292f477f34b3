"""Feature statistics of a stream of image batches, without holding all features."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import jax
import numpy as np

from jaxgen.metrics.gaussian import GaussianStats, stats_finalize, stats_init, stats_update


class FeatureStats(NamedTuple):
    """Gaussian statistics of all features, plus the first ``max_features`` features
    (float32 [min(N, max_features), D], for KID / precision-recall) or None."""

    stats: GaussianStats
    features: np.ndarray | None


def feature_stats(
    feature_fn: Callable[[jax.Array], jax.Array],
    batches: Iterable,
    max_features: int = 0,
) -> FeatureStats:
    """Apply ``jax.jit(feature_fn)`` (images [B, ...] -> features [B, D]) to each batch and
    accumulate float64 mean / covariance on the host (:func:`stats_update`).

    ``max_features > 0`` also keeps the first ``max_features`` feature vectors.
    """
    apply = jax.jit(feature_fn)
    acc = None
    kept, num_kept = [], 0
    for batch in batches:
        features = np.asarray(apply(batch))  # [B, D]
        if features.ndim != 2:
            raise ValueError(f"feature_fn must return [B, D] features, got {features.shape}.")
        if acc is None:
            acc = stats_init(features.shape[1])
        acc = stats_update(acc, features)
        if num_kept < max_features:
            kept.append(features[: max_features - num_kept].astype(np.float32))
            num_kept += len(kept[-1])
    if acc is None:
        raise ValueError("feature_stats got no batches.")
    return FeatureStats(stats_finalize(acc), np.concatenate(kept) if kept else None)
