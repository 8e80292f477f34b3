"""On-disk cache of reference-set feature statistics (e.g. FID statistics of a dataset)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from jaxgen.files import write_npz_atomic
from jaxgen.metrics.gaussian import GaussianStats

# A cache entry is only valid for one data set split seen through one feature network.
REQUIRED_KEY_PARTS = ("dataset", "split", "feature_net")


def stats_cache_path(path_dir: str | os.PathLike, key_parts: Mapping) -> Path:
    """``path_dir/stats_<sha256(key)[:16]>.npz`` with key = sorted-key JSON of key_parts."""
    digest = hashlib.sha256(_cache_key(key_parts).encode()).hexdigest()[:16]
    return Path(path_dir) / f"stats_{digest}.npz"


def _cache_key(key_parts: Mapping) -> str:
    missing = [part for part in REQUIRED_KEY_PARTS if part not in key_parts]
    if missing:
        raise ValueError(
            f"stats cache key_parts {dict(key_parts)} lack {missing}; give at least "
            f"{list(REQUIRED_KEY_PARTS)} (feature_net = network name and version)."
        )
    return json.dumps(dict(key_parts), sort_keys=True)


def cached_stats(
    path_dir: str | os.PathLike,
    key_parts: Mapping,
    compute_fn: Callable[[], GaussianStats],
) -> GaussianStats:
    """Load statistics for ``key_parts`` from ``path_dir``, or compute and save them.

    ``key_parts`` must hold ``dataset``, ``split`` and ``feature_net`` (name + version,
    e.g. ``"fid_inception_v3/pt_2015-12-05"``) and may hold more (image size, count...),
    all JSON-serialisable. The file stores ``mu``, ``sigma``, ``count`` and the JSON
    ``key``, which is checked on load. Writes go to a temporary file in the same
    directory, then renamed (``jaxgen.files``): an interrupted run never leaves a partial
    entry.
    """
    key = _cache_key(key_parts)
    path = stats_cache_path(path_dir, key_parts)
    if path.exists():
        with np.load(path) as npz:
            stored_key = str(npz["key"])
            if stored_key != key:
                raise ValueError(
                    f"stats cache {path} holds key {stored_key}, expected {key}; "
                    "delete the file to recompute it."
                )
            return GaussianStats(npz["mu"], npz["sigma"], int(npz["count"]))
    stats = compute_fn()
    write_npz_atomic(path, mu=stats.mu, sigma=stats.sigma, count=stats.count, key=np.array(key))
    return GaussianStats(np.asarray(stats.mu), np.asarray(stats.sigma), int(stats.count))
