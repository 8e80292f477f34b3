"""Versioned classifier feature networks of the offline datasets (``fashion_mnist``, ``digits``).

InceptionV3 features mean little on 28x28 grey images, so the offline datasets are scored
with a small classifier trained on the dataset itself (:class:`~jaxgen.models.classifier.
ConvClassifier`, trained by ``experiments/train_classifier.py``). Its numbers are only
comparable with numbers from the same network: results name it
(``fid_fashion_mnist_classifier``), never "FID".

Weights live in ``jaxgen/metrics/weights/<dataset>_classifier_v<version>.npz``: one float32
array per parameter, keyed by its flax path joined with ``'/'`` (``Conv_0/kernel``), and a
JSON sidecar ``<same name>.json`` recording the version, the architecture, the seed, the
steps, the test accuracy, the command that produced the file and the file's sha256, which
:func:`load_feature_net` checks. Cached reference statistics are keyed by version and sha256,
so any change to what the network computes (architecture, feature layer) needs a new
version. Each dataset's version moves on its own (:data:`VERSIONS`), so retraining one
dataset's network leaves the numbers reported with the others' valid.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np
from flax import traverse_util

from jaxgen import data
from jaxgen.files import write_bytes_atomic, write_json
from jaxgen.models.classifier import ConvClassifier

# The current version of each dataset's network (the sidecar records its recipe).
VERSIONS = {"digits": 1, "fashion_mnist": 2}
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TRAIN_COMMAND = "python experiments/train_classifier.py --config.data.name={dataset}"

# images [B, H, W, C] in [-1, 1] -> (features [B, F], logits [B, K])
ApplyFn = Callable[[jax.Array], tuple[jax.Array, jax.Array]]


class FeatureNet(NamedTuple):
    """A loaded classifier: ``apply`` (jitted, see :data:`ApplyFn`), the ``dataset`` it was
    trained on, its ``version``, the weights' ``sha256`` and the sidecar ``info``."""

    apply: ApplyFn
    dataset: str
    version: int
    sha256: str
    info: dict

    @property
    def name(self) -> str:
        """``<dataset>_classifier``: the suffix of result keys computed with this network."""
        return f"{self.dataset}_classifier"

    @property
    def id(self) -> str:
        """``<dataset>_classifier/v<version>``: identifies the network in cache keys."""
        return f"{self.name}/v{self.version}"


def version(dataset: str) -> int:
    """The current version of ``dataset``'s network (1 for a dataset that has none yet)."""
    return VERSIONS.get(dataset, 1)


def weights_path(dataset: str, weights_dir=WEIGHTS_DIR) -> Path:
    """``weights_dir/<dataset>_classifier_v<version>.npz`` (its sidecar: suffix ``.json``)."""
    return Path(weights_dir) / f"{dataset}_classifier_v{version(dataset)}.npz"


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_apply(model: ConvClassifier, params: Mapping, image_shape: tuple) -> ApplyFn:
    """Jitted ``model.apply`` with ``params`` bound; rejects images not [B, *image_shape]."""
    forward = jax.jit(model.apply)

    def apply(images):
        if images.ndim != 4 or tuple(images.shape[1:]) != tuple(image_shape):
            raise ValueError(
                f"the feature network expects images [B, {', '.join(map(str, image_shape))}], "
                f"got shape {tuple(images.shape)}."
            )
        return forward({"params": params}, images)

    return apply


def net_outputs(apply: ApplyFn, images, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(features [N, F], logits [N, K]) float32 of images [N, H, W, C], fed ``batch_size`` at
    a time; uint8 batches are mapped to [-1, 1] (:func:`jaxgen.data.to_float`), float
    batches must already be in [-1, 1]."""
    features, logits = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        batch = data.to_float(batch) if batch.dtype == np.uint8 else batch.astype(np.float32)
        f, y = apply(batch)
        features.append(np.asarray(f))
        logits.append(np.asarray(y))
    if not features:
        raise ValueError("net_outputs got no images.")
    return np.concatenate(features), np.concatenate(logits)


def argmax_accuracy(logits, labels) -> float:
    """Fraction of rows of logits [N, K] whose argmax equals labels [N]."""
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels)))


def classifier_accuracy(apply: ApplyFn, images, labels, batch_size: int = 500) -> float:
    """Fraction of images [N, H, W, C] whose argmax logit equals labels [N]."""
    return argmax_accuracy(net_outputs(apply, images, batch_size)[1], labels)


def save_feature_net(
    dataset: str, model: ConvClassifier, params: Mapping, info: Mapping, weights_dir=WEIGHTS_DIR
) -> Path:
    """Write ``params`` (float32, '/'-joined paths) and the JSON sidecar (``info`` plus
    dataset, version, architecture, sha256), both atomically; returns the .npz path."""
    path = weights_path(dataset, weights_dir)
    flat = traverse_util.flatten_dict(jax.device_get(dict(params)), sep="/")
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v, np.float32) for k, v in flat.items()})
    content = buffer.getvalue()
    sidecar = {
        "dataset": dataset,
        "version": version(dataset),
        "model": {
            "num_classes": model.num_classes,
            "widths": list(model.widths),
            "feature_dim": model.feature_dim,
            "num_groups": model.num_groups,
            "convs_per_block": model.convs_per_block,
            "dropout_rate": model.dropout_rate,
        },
        **info,
        "num_params": int(sum(np.size(v) for v in flat.values())),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    write_bytes_atomic(path, content)
    write_json(path.with_suffix(".json"), sidecar)
    return path


def available_feature_nets(weights_dir=WEIGHTS_DIR) -> list[str]:
    """Datasets whose current-version classifier is in ``weights_dir``."""
    names = (
        p.name.split("_classifier_v")[0] for p in Path(weights_dir).glob("*_classifier_v*.npz")
    )
    return sorted(d for d in set(names) if weights_path(d, weights_dir).is_file())


def load_feature_net(dataset: str, weights_dir=WEIGHTS_DIR) -> FeatureNet:
    """The classifier of ``dataset``, after checking the weights' sha256 against the sidecar.

    Raises ``FileNotFoundError`` naming the available networks and the training command
    when there is none, and ``ValueError`` when the weights file is not the one the
    sidecar describes (modified, truncated, or from another run).
    """
    path = weights_path(dataset, weights_dir)
    sidecar_path = path.with_suffix(".json")
    if not path.is_file() or not sidecar_path.is_file():
        raise FileNotFoundError(
            f"no classifier feature network v{version(dataset)} for dataset {dataset!r}: {path} "
            f"or its sidecar {sidecar_path.name} is missing. Available: "
            f"{', '.join(available_feature_nets(weights_dir)) or 'none'}. Train one with "
            f"`{TRAIN_COMMAND.format(dataset=dataset)}`."
        )
    info = json.loads(sidecar_path.read_text())
    sha256 = file_sha256(path)
    if sha256 != info["sha256"]:
        raise ValueError(
            f"classifier weights {path} have sha256 {sha256[:16]}..., but {sidecar_path.name} "
            f"records {info['sha256'][:16]}...: the weights file was modified or corrupted. "
            f"Restore it (`git checkout -- {path.name}` in {path.parent}) or retrain it with "
            f"`{info['command']}`."
        )
    with np.load(path) as npz:
        params = traverse_util.unflatten_dict({k: npz[k] for k in npz.files}, sep="/")
    model = ConvClassifier(**{**info["model"], "widths": tuple(info["model"]["widths"])})
    apply = make_apply(model, params, data.dataset_spec(dataset).shape)
    return FeatureNet(apply, dataset, info["version"], sha256, info)
