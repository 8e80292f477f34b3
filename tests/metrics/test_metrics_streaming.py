"""Streaming feature statistics, the statistics cache and the lazy package import."""

import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.metrics import cached_stats, feature_stats, gaussian_stats, stats_cache_path
from jaxgen.metrics.gaussian import GaussianStats

KEY = {"dataset": "digits", "split": "train", "feature_net": "toy/v1"}


def _feature_fn(images):  # [B, 4, 4, 1] -> [B, 3]
    flat = images.reshape(images.shape[0], -1)
    return jnp.stack([flat.mean(1), flat.max(1), jnp.sin(flat[:, 0])], axis=1)


def test_feature_stats_equal_one_shot_and_keep_capped_features():
    images = np.random.default_rng(0).uniform(-1, 1, size=(50, 4, 4, 1)).astype(np.float32)
    batches = (images[i : i + 16] for i in range(0, 50, 16))  # 16, 16, 16, 2
    result = feature_stats(_feature_fn, batches, max_features=20)
    all_features = np.asarray(_feature_fn(images))
    mu, sigma = gaussian_stats(all_features)
    assert result.stats.count == 50
    np.testing.assert_allclose(result.stats.mu, mu, rtol=1e-6)
    np.testing.assert_allclose(result.stats.sigma, sigma, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(result.features, all_features[:20], rtol=1e-6)
    assert feature_stats(_feature_fn, [images]).features is None


def test_feature_stats_errors():
    with pytest.raises(ValueError, match="no batches"):
        feature_stats(_feature_fn, [])
    with pytest.raises(ValueError, match=r"\[B, D\]"):
        feature_stats(lambda x: x, [np.zeros((2, 4, 4, 1))])


def _counting(stats):
    calls = []

    def compute():
        calls.append(1)
        return stats

    return compute, calls


def test_cache_hit_miss_and_atomic_files(tmp_path):
    stats = GaussianStats(np.arange(3.0), np.eye(3), 7)
    compute, calls = _counting(stats)
    first = cached_stats(tmp_path, KEY, compute)
    second = cached_stats(tmp_path, dict(reversed(KEY.items())), compute)  # same key, any order
    assert len(calls) == 1
    for got in (first, second):
        np.testing.assert_array_equal(got.mu, stats.mu)
        np.testing.assert_array_equal(got.sigma, stats.sigma)
        assert got.count == 7
    cached_stats(tmp_path, {**KEY, "split": "test"}, compute)
    cached_stats(tmp_path, {**KEY, "feature_net": "toy/v2"}, compute)
    assert len(calls) == 3
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".npz"] * 3  # no temp files left


def test_cache_validates_stored_key(tmp_path):
    compute, _ = _counting(GaussianStats(np.zeros(2), np.eye(2), 2))
    cached_stats(tmp_path, KEY, compute)
    other = {**KEY, "split": "test"}
    stats_cache_path(tmp_path, KEY).rename(stats_cache_path(tmp_path, other))
    with pytest.raises(ValueError, match="delete the file"):
        cached_stats(tmp_path, other, compute)


def test_cache_errors_leave_nothing_behind(tmp_path):
    def fails():
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cached_stats(tmp_path, KEY, fails)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="feature_net"):
        cached_stats(tmp_path, {"dataset": "digits", "split": "train"}, fails)


def test_package_import_is_light_and_lazy_names_resolve():
    code = (
        "import sys, jaxgen.metrics as m; assert 'jax' not in sys.modules, 'jax imported'; "
        "assert callable(m.precision_recall) and callable(m.precision_recall); "
        "assert m.InceptionV3.__name__ == 'InceptionV3'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
