"""Inception Score (Salimans et al. 2016)."""

import numpy as np
import pytest

from jaxgen.metrics import inception_score, inception_score_from_logits


def test_confident_uniform_predictions_score_num_classes():
    p_yx = np.eye(10)[np.arange(100) % 10]  # every split holds each class once
    mean, std = inception_score(p_yx, num_splits=10)
    assert mean == pytest.approx(10.0, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_identical_predictions_score_one():
    p_yx = np.tile([0.2, 0.5, 0.3], (40, 1))
    assert inception_score(p_yx, num_splits=4) == pytest.approx((1.0, 0.0))


def test_two_class_hand_computation():
    p_yx = np.array([[0.9, 0.1], [0.1, 0.9]])  # p(y) = [0.5, 0.5]
    kl = 0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5)
    assert inception_score(p_yx, num_splits=1)[0] == pytest.approx(np.exp(kl), rel=1e-12)


def test_logits_match_probabilities_and_splits_differ():
    logits = np.random.default_rng(0).normal(scale=3.0, size=(60, 7))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    from_logits = inception_score_from_logits(logits, num_splits=3)
    np.testing.assert_allclose(from_logits, inception_score(probs, num_splits=3), rtol=1e-10)
    assert from_logits[1] > 0
    assert 1.0 < from_logits[0] < 7.0


def test_confident_logits_with_underflow():
    logits = 1000.0 * np.eye(5)[np.arange(50) % 5]  # softmax underflows to exact 0/1
    assert inception_score_from_logits(logits, num_splits=5)[0] == pytest.approx(5.0)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="logits"):
        inception_score(np.ones((4, 3)), num_splits=1)
    with pytest.raises(ValueError, match="num_splits"):
        inception_score(np.full((4, 2), 0.5), num_splits=5)
