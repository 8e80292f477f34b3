"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs")."""

from __future__ import annotations

import numpy as np
import scipy.special


def inception_score(p_yx, num_splits: int = 10) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))), p(y) = E_x p(y|x), per split; mean and std.

    ``p_yx`` [N, K] are class probabilities (rows sum to 1). The N samples are cut into
    ``num_splits`` consecutive splits (``np.array_split``), as in the paper's code.
    """
    p_yx = np.asarray(p_yx, np.float64)
    if p_yx.ndim != 2 or not 1 <= num_splits <= p_yx.shape[0]:
        raise ValueError(
            f"p_yx must be [N, K] with N >= num_splits >= 1, got shape {p_yx.shape} "
            f"and num_splits={num_splits}."
        )
    if not np.allclose(p_yx.sum(axis=1), 1.0, atol=1e-4) or np.any(p_yx < 0):
        raise ValueError(
            "p_yx rows must be probability vectors; use inception_score_from_logits for logits."
        )
    scores = []
    for part in np.array_split(p_yx, num_splits):
        p_y = part.mean(axis=0, keepdims=True)  # [1, K]
        kl = scipy.special.rel_entr(part, p_y).sum(axis=1)  # [n], KL(p(y|x) || p(y))
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def inception_score_from_logits(logits, num_splits: int = 10) -> tuple[float, float]:
    """:func:`inception_score` of p(y|x) = softmax(logits) (computed in float64)."""
    return inception_score(
        scipy.special.softmax(np.asarray(logits, np.float64), axis=1), num_splits
    )
