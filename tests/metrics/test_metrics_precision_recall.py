"""Improved precision and recall (Kynkaanniemi et al. 2019)."""

import numpy as np
import pytest
import scipy.spatial

from jaxgen.metrics import knn_radii, precision_recall


def test_tiny_one_dimensional_case_by_hand():
    # k = 1. Real radii: 0 -> 1, 1 -> 1, 3 -> 2: balls [-1, 1], [0, 2], [1, 5] hold the fakes
    # 0.5, 0.6, 2.9 but not 6, 6.5: precision 3/5. Fake radii: 0.1, 0.1, 2.3, 0.5, 0.5; the
    # ball [0.6, 5.2] around 2.9 holds reals 1 and 3, no fake ball holds 0: recall 2/3.
    real = np.array([[0.0], [1.0], [3.0]])
    fake = np.array([[0.5], [0.6], [2.9], [6.0], [6.5]])
    np.testing.assert_allclose(knn_radii(fake, k=1), [0.1, 0.1, 2.3, 0.5, 0.5], atol=1e-6)
    precision, recall = precision_recall(real, fake, k=1)
    assert precision == pytest.approx(3 / 5)
    assert recall == pytest.approx(2 / 3)


def test_identical_sets_score_one():
    features = np.random.default_rng(0).normal(size=(200, 16))
    assert precision_recall(features, features) == (1.0, 1.0)


def test_disjoint_sets_score_zero():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(150, 16)), rng.normal(size=(120, 16)) + 50.0
    assert precision_recall(real, fake) == (0.0, 0.0)


def test_partial_overlap_and_block_size_invariance():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(101, 8))
    fake = np.concatenate([rng.normal(size=(60, 8)), rng.normal(size=(40, 8)) + 30.0])
    precision, recall = precision_recall(real, fake, k=3, block_size=1024)
    assert 0.4 < precision < 0.65  # the shifted 40% of fakes lie outside the real manifold
    assert recall > 0.5
    assert precision_recall(real, fake, k=3, block_size=7) == (precision, recall)


def test_knn_radii_match_brute_force():
    features = np.random.default_rng(3).normal(size=(97, 5))
    want = np.sort(scipy.spatial.distance.cdist(features, features), axis=1)[:, 3]
    np.testing.assert_allclose(knn_radii(features, k=3, block_size=10), want, rtol=1e-4)


def test_bad_k_raises():
    with pytest.raises(ValueError, match="k < N"):
        knn_radii(np.zeros((3, 2)), k=3)
