"""Mode coverage: how a generator's samples spread over the classes of a classifier.

The count of classes reached and the KL divergence of the class histogram to the uniform
distribution are the mode-collapse measures of Metz et al. 2017 ("Unrolled Generative
Adversarial Networks") and Srivastava et al. 2017 ("VEEGAN") on (stacked) MNIST.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class ModeCoverage(NamedTuple):
    """histogram [K]: fraction of samples per class; classes_covered: classes with at least
    one sample; kl_to_uniform: KL(histogram || U(K)) in nats."""

    histogram: np.ndarray
    classes_covered: int
    kl_to_uniform: float


def mode_coverage(classes, num_classes: int) -> ModeCoverage:
    """Class histogram p_k = #{i : c_i = k} / N of predicted classes c [N] in {0..K-1}, and

        KL(p || U) = sum_k p_k log(K p_k) = log K - H(p)    (0 log 0 = 0),

    0 when every class gets 1/K of the samples, log K when all fall in one class.
    """
    classes = np.asarray(classes)
    if classes.ndim != 1 or classes.size == 0:
        raise ValueError(f"classes must be a non-empty [N] array, got shape {classes.shape}.")
    if classes.min() < 0 or classes.max() >= num_classes:
        raise ValueError(
            f"classes must lie in [0, {num_classes}), got [{classes.min()}, {classes.max()}]."
        )
    histogram = np.bincount(classes, minlength=num_classes) / classes.size  # [K]
    nonzero = histogram[histogram > 0]
    kl = float(np.sum(nonzero * np.log(num_classes * nonzero)))
    return ModeCoverage(histogram, int(nonzero.size), kl)
