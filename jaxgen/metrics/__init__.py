"""Sample-quality and likelihood metrics: FID, KID, IS, precision/recall, bits/dim, mode
coverage, SSIM, and ``evaluate_samples``, which scores samples of an offline dataset with its
versioned classifier feature network.

The statistics (``gaussian``, ``kid``, ``inception_score``, ``likelihood``, ``modes``,
``cache``) are numpy/scipy and import eagerly; the JAX parts (feature networks, streaming,
precision/recall, evaluation) are imported on first attribute access, so
``import jaxgen.metrics`` stays fast.
"""

import importlib

from jaxgen.metrics.cache import REQUIRED_KEY_PARTS, cached_stats, stats_cache_path
from jaxgen.metrics.gaussian import (
    GaussianStats,
    StatsAccumulator,
    frechet_distance,
    gaussian_stats,
    stats_finalize,
    stats_init,
    stats_update,
)
from jaxgen.metrics.inception_score import inception_score, inception_score_from_logits
from jaxgen.metrics.kid import kernel_inception_distance, mmd2_unbiased, polynomial_kernel
from jaxgen.metrics.likelihood import (
    SCALE_0_1,
    SCALE_8BIT,
    SCALE_MINUS1_1,
    bits_per_dim,
    nll_to_bits_per_dim,
)
from jaxgen.metrics.modes import ModeCoverage, mode_coverage

_LAZY = {
    "FeatureNet": "classifier",
    "argmax_accuracy": "classifier",
    "classifier_accuracy": "classifier",
    "load_feature_net": "classifier",
    "net_outputs": "classifier",
    "save_feature_net": "classifier",
    "evaluate_samples": "evaluate",
    "fid_sanity_protocol": "evaluate",
    "InceptionV3": "inception",
    "load_inception_variables": "inception",
    "save_inception_variables": "inception",
    "resize_for_inception": "inception",
    "FeatureStats": "streaming",
    "feature_stats": "streaming",
    "knn_radii": "manifold",
    "manifold_coverage": "manifold",
    "precision_recall": "manifold",
    "ssim": "similarity",
}

__all__ = [
    "REQUIRED_KEY_PARTS",
    "SCALE_0_1",
    "SCALE_8BIT",
    "SCALE_MINUS1_1",
    "GaussianStats",
    "ModeCoverage",
    "StatsAccumulator",
    "bits_per_dim",
    "cached_stats",
    "frechet_distance",
    "gaussian_stats",
    "inception_score",
    "inception_score_from_logits",
    "kernel_inception_distance",
    "mmd2_unbiased",
    "mode_coverage",
    "nll_to_bits_per_dim",
    "polynomial_kernel",
    "stats_cache_path",
    "stats_finalize",
    "stats_init",
    "stats_update",
    *_LAZY,
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
