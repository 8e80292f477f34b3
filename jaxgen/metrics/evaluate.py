"""Scoring generated samples of an offline dataset with its classifier feature network.

    results = evaluate_samples("samples.npz", "fashion_mnist")
    results["fid_fashion_mnist_classifier"]  # FID (fashion_mnist classifier features)
    jaxgen.files.write_json("runs/x/eval.json", results)

Every result key ends with the feature network's name (``<quantity>_<dataset>_classifier``)
and ``results["labels"]`` gives each key's human name: these numbers are comparable with
numbers from the same network version only, never with Inception FID.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.ndimage
from PIL import Image

from jaxgen import data
from jaxgen.metrics.cache import cached_stats
from jaxgen.metrics.classifier import (
    FeatureNet,
    argmax_accuracy,
    load_feature_net,
    net_outputs,
)
from jaxgen.metrics.gaussian import GaussianStats, frechet_distance, gaussian_stats
from jaxgen.metrics.inception_score import inception_score_from_logits
from jaxgen.metrics.kid import kernel_inception_distance
from jaxgen.metrics.manifold import precision_recall
from jaxgen.metrics.modes import mode_coverage

DEFAULT_METRICS = ("fid", "kid", "is", "pr")
# Largest excess over [-1, 1] tolerated in float samples (round-off of a tanh/clip output).
_RANGE_ATOL = 1e-3


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/jaxgen/stats`` (default ``~/.cache/jaxgen/stats``)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "jaxgen" / "stats"


def load_samples(samples, channels: int) -> np.ndarray:
    """Images from an array [N, H, W, C], a path to an ``.npz`` holding ``samples``, or a
    directory of PNGs (read in file-name order, converted to ``channels`` channels)."""
    if not isinstance(samples, str | os.PathLike):
        return np.asarray(samples)
    path = Path(samples)
    if path.is_dir():
        files = sorted(path.glob("*.png"))
        if not files:
            raise FileNotFoundError(f"no .png files in the samples directory {path}.")
        mode = "L" if channels == 1 else "RGB"
        images = [np.asarray(Image.open(f).convert(mode)) for f in files]
        if len({im.shape for im in images}) > 1:
            raise ValueError(f"the PNGs in {path} differ in size; samples must share one shape.")
        return np.stack(images).reshape(len(images), *images[0].shape[:2], channels)
    if path.suffix == ".npz" and path.is_file():
        with np.load(path) as npz:
            if "samples" not in npz.files:
                raise ValueError(f"{path} holds {npz.files}; expected an array named 'samples'.")
            return npz["samples"]
    raise FileNotFoundError(f"samples {path} is neither an .npz file nor a directory of PNGs.")


def check_samples(images: np.ndarray, shape: tuple) -> np.ndarray:
    """``images`` if they are [N, *shape] uint8, or float in [-1, 1]; else one clear error."""
    if images.ndim != 4 or images.shape[1:] != tuple(shape):
        raise ValueError(
            f"samples must be [N, {', '.join(map(str, shape))}] images, got shape {images.shape}."
        )
    if images.dtype == np.uint8:
        return images
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"samples must be uint8 (0..255) or float in [-1, 1], got {images.dtype}.")
    lo, hi = float(images.min()), float(images.max())
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1 - _RANGE_ATOL or hi > 1 + _RANGE_ATOL:
        raise ValueError(
            f"float samples must lie in [-1, 1], got values in [{lo:.4g}, {hi:.4g}]; "
            "map them with x / 127.5 - 1 or pass uint8 images."
        )
    return images


def _gaussian(features: np.ndarray) -> GaussianStats:
    return GaussianStats(*gaussian_stats(features), len(features))


def image_stats(net: FeatureNet, images, batch_size: int = 500) -> GaussianStats:
    """Gaussian statistics of the classifier features of images [N, H, W, C]."""
    return _gaussian(net_outputs(net.apply, images, batch_size)[0])


@dataclasses.dataclass
class _Reference:
    """A dataset split seen through the feature network: its features (computed at most
    once) and their Gaussian statistics (cached on disk, keyed by split and network)."""

    net: FeatureNet
    split: str
    cache_dir: Path
    data_dir: str | None
    batch_size: int

    @functools.cached_property
    def features(self) -> np.ndarray:
        images, _ = data.load_split(self.net.dataset, self.split, self.data_dir)
        return net_outputs(self.net.apply, images, self.batch_size)[0]

    @functools.cached_property
    def stats(self) -> GaussianStats:
        key = {
            "dataset": self.net.dataset, "split": self.split, "feature_net": self.net.id,
            "feature_net_sha256": self.net.sha256,
        }  # fmt: skip
        return cached_stats(self.cache_dir, key, lambda: _gaussian(self.features))


class _Inputs(NamedTuple):
    features: np.ndarray  # [N, F] of the samples
    logits: np.ndarray  # [N, K] of the samples
    reference: _Reference
    seed: int


def _fid(x: _Inputs) -> dict:
    ref = x.reference.stats
    return {"fid": frechet_distance(ref.mu, ref.sigma, *gaussian_stats(x.features))}


def _kid(x: _Inputs) -> dict:
    mean, std = kernel_inception_distance(x.reference.features, x.features, rng=x.seed)
    return {"kid": mean, "kid_std": std}


def _inception_score(x: _Inputs) -> dict:
    mean, std = inception_score_from_logits(x.logits)
    return {"is": mean, "is_std": std}


def _precision_recall(x: _Inputs) -> dict:
    """On equal-size random subsets of both sets (the k-NN radii depend on the set size)."""
    real, fake = x.reference.features, x.features
    n = min(len(real), len(fake))
    rng = np.random.default_rng(x.seed)
    real = real[rng.choice(len(real), n, replace=False)]
    fake = fake[rng.choice(len(fake), n, replace=False)]
    precision, recall = precision_recall(real, fake)
    return {"precision": precision, "recall": recall}


def _modes(x: _Inputs) -> dict:
    coverage = mode_coverage(np.argmax(x.logits, axis=1), x.logits.shape[1])
    return {
        "classes_covered": coverage.classes_covered,
        "kl_to_uniform": coverage.kl_to_uniform,
        "class_histogram": coverage.histogram.tolist(),
    }


class _Metric(NamedTuple):
    fn: Callable[[_Inputs], dict]
    basis: str  # what of the classifier it reads: its "features" or its "predictions"


METRICS = {
    "fid": _Metric(_fid, "features"),
    "kid": _Metric(_kid, "features"),
    "is": _Metric(_inception_score, "predictions"),
    "pr": _Metric(_precision_recall, "features"),
    "modes": _Metric(_modes, "predictions"),
}
LABELS = {
    "fid": "FID", "kid": "KID", "kid_std": "KID std", "is": "IS", "is_std": "IS std",
    "precision": "precision", "recall": "recall", "classes_covered": "classes covered",
    "kl_to_uniform": "KL(class histogram || uniform)", "class_histogram": "class histogram",
}  # fmt: skip


def evaluate_samples(
    samples,
    dataset: str,
    metrics: Sequence[str] = DEFAULT_METRICS,
    reference_split: str = "test",
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    *,
    batch_size: int = 500,
    data_dir: str | None = None,
    classes=None,
) -> dict:
    """Scores ``samples`` against ``dataset``/``reference_split`` with the dataset's
    classifier (:func:`~jaxgen.metrics.classifier.load_feature_net`).

    ``samples``: uint8 [N, H, W, C] images, float ones in [-1, 1], a path to an ``.npz``
    holding ``samples`` or a directory of PNGs. ``metrics`` picks from "fid" (Frechet
    distance of the features, Heusel et al. 2017), "kid" (Binkowski et al. 2018), "is"
    (Salimans et al. 2016, on the classifier's p(y|x)), "pr" (improved precision/recall,
    Kynkaanniemi et al. 2019) and "modes" (class histogram, classes covered, KL to
    uniform). The reference statistics are cached in ``cache_dir`` (default
    :func:`default_cache_dir`); ``seed`` drives KID's and precision/recall's subsets.
    ``classes``: int [N], the class each sample was drawn for (a conditional model); adds
    "accuracy", the fraction of samples whose classifier argmax is their class.

    Returns ``{"<quantity>_<dataset>_classifier": value, ..., "labels": {key: human
    name}}`` plus the dataset, split, network id and sha256, sample count and seed.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {list(METRICS)}.")
    spec = data.dataset_spec(dataset)
    if reference_split not in spec.splits:
        raise ValueError(f"dataset {dataset!r} has no split {reference_split!r}: {spec.splits}.")
    images = check_samples(load_samples(samples, spec.shape[-1]), spec.shape)
    if classes is not None and np.shape(classes) != (len(images),):
        raise ValueError(
            f"classes has shape {np.shape(classes)}; pass one class per sample: ({len(images)},)."
        )
    net = load_feature_net(dataset)
    features, logits = net_outputs(net.apply, images, batch_size)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    reference = _Reference(net, reference_split, cache_dir, data_dir, batch_size)
    inputs = _Inputs(features, logits, reference, seed)
    results = {
        "dataset": dataset, "reference_split": reference_split, "feature_net": net.id,
        "feature_net_sha256": net.sha256, "num_samples": len(images), "seed": seed,
    }  # fmt: skip
    labels = {}
    for name in metrics:
        metric = METRICS[name]
        for quantity, value in metric.fn(inputs).items():
            key = f"{quantity}_{net.name}"
            results[key] = value
            labels[key] = f"{LABELS[quantity]} ({dataset} classifier {metric.basis})"
    if classes is not None:
        key = f"accuracy_{net.name}"
        results[key] = argmax_accuracy(logits, classes)
        labels[key] = f"accuracy for the conditioning label ({dataset} classifier predictions)"
    return {**results, "labels": labels}


def add_gaussian_noise(images: np.ndarray, sigma: float, eps: np.ndarray) -> np.ndarray:
    """clip(x + sigma * eps, -1, 1) for images x in [-1, 1] and fixed noise eps ~ N(0, I)."""
    return np.clip(images + sigma * eps, -1.0, 1.0)


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Each image [N, H, W, C] convolved with an isotropic Gaussian of ``sigma`` pixels."""
    return scipy.ndimage.gaussian_filter(images, sigma=(0, sigma, sigma, 0))


def fid_sanity_protocol(
    net: FeatureNet,
    reference_images: np.ndarray,
    test_images: np.ndarray,
    noise_sigmas: Sequence[float],
    blur_sigmas: Sequence[float],
    seed: int = 0,
    batch_size: int = 500,
) -> dict:
    """FID (classifier features) of uint8 ``test_images`` against ``reference_images``:
    clean (the floor: two samples of the data distribution), then under Gaussian noise
    (:func:`add_gaussian_noise`, one eps drawn from ``seed`` for every sigma) and under
    Gaussian blur of each sigma. A sound feature network gives a floor near 0 and FID
    rising monotonically with both degradations.
    """
    reference = image_stats(net, reference_images, batch_size)
    x = data.to_float(test_images)
    eps = np.random.default_rng(seed).standard_normal(x.shape, dtype=np.float32)

    def fid(images):
        stats = image_stats(net, images, batch_size)
        return frechet_distance(reference.mu, reference.sigma, stats.mu, stats.sigma)

    return {
        "feature_net": net.id, "feature_net_sha256": net.sha256,
        "num_reference": len(reference_images), "num_test": len(test_images), "seed": seed,
        "floor": fid(x),
        "noise": [{"sigma": s, "fid": fid(add_gaussian_noise(x, s, eps))} for s in noise_sigmas],
        "blur": [{"sigma": s, "fid": fid(gaussian_blur(x, s))} for s in blur_sigmas],
    }  # fmt: skip
