"""Datasets as deterministic, resumable iterators of device-sharded batches.

    it = jaxgen.data.load("digits", "train", batch_size=64, seed=0)
    batch = next(it)  # {'image': [64, 8, 8, 1] float32 in [-1, 1], 'label': [64] int32}

TFDS prepares each dataset once under `data_dir` (default: $TFDS_DATA_DIR or
~/tensorflow_datasets); `digits` and a local Fashion-MNIST need no network.
"""

import contextlib
import dataclasses
import fcntl
import functools
import os

import numpy as np

from jaxgen.data.pipeline import DATA_AXIS, BatchIterator, data_mesh, to_float

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = [
    "DATASETS",
    "DATA_AXIS",
    "BatchIterator",
    "data_mesh",
    "dataset_spec",
    "load",
    "load_split",
    "to_float",
]


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What a model needs to know of a dataset, without loading it."""

    name: str
    shape: tuple  # (H, W, C)
    num_classes: int
    splits: tuple
    description: str
    levels: int = 256  # distinct pixel values of the uint8 images (their discretization)

    def offline(self):
        """True when the data is on this machine (no download needed)."""
        if self.name == "digits":
            return True
        if self.name == "fashion_mnist":
            from jaxgen.data.builders import fashion_mnist_dir

            return fashion_mnist_dir() is not None
        return False


DATASETS = {
    s.name: s
    for s in (
        DatasetSpec(
            "digits", (8, 8, 1), 10, ("train", "test"), "scikit-learn 8x8 digits", levels=17
        ),  # values 0..16 stored as round(v * 255 / 16)
        DatasetSpec("fashion_mnist", (28, 28, 1), 10, ("train", "test"), "Fashion-MNIST"),
        DatasetSpec("mnist", (28, 28, 1), 10, ("train", "test"), "MNIST (TFDS download)"),
        DatasetSpec("cifar10", (32, 32, 3), 10, ("train", "test"), "CIFAR-10 (TFDS download)"),
    )
}


def dataset_spec(name):
    """The DatasetSpec of `name`; an unknown name lists the known ones."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Available: {', '.join(sorted(DATASETS))}.")
    return DATASETS[name]


def tfds_builder(name, data_dir):
    """The TFDS builder serving `name`: jaxgen's offline builders where they apply."""
    from jaxgen.data import builders

    tfds = builders.tfds
    if name == "digits":
        return builders.Digits(data_dir=data_dir)
    if name == "fashion_mnist" and builders.fashion_mnist_dir() is not None:
        return builders.FashionMnistIdx(data_dir=data_dir)
    return tfds.builder(name, data_dir=data_dir)


@contextlib.contextmanager
def prepare_lock(builder):
    """Holds an exclusive flock on <data_dir>/<dataset>.lock while the block runs, so that
    processes preparing the same dataset at once (two runs started together on a fresh
    machine) build it one after the other instead of racing to rename TFDS's incomplete
    directory. Remote data dirs (gs://...) are not locked."""
    dataset_dir = os.fspath(builder.data_path.parent)
    if "://" in dataset_dir:
        yield
        return
    os.makedirs(os.path.dirname(dataset_dir), exist_ok=True)
    with open(dataset_dir + ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def prepared_builder(name, data_dir=None):
    """``tfds_builder(name, data_dir)`` with its data prepared (built once, under
    ``prepare_lock``; a builder made after the lock sees what another process wrote)."""
    builder = tfds_builder(name, data_dir)
    if not builder.data_path.exists():
        with prepare_lock(builder):
            builder = tfds_builder(name, data_dir)
            builder.download_and_prepare()
    return builder


@functools.lru_cache(maxsize=8)
def load_split(name, split, data_dir=None):
    """(images [N, H, W, C] uint8, labels [N] int32) of a whole split, prepared by TFDS."""
    spec = dataset_spec(name)
    if split not in spec.splits:
        raise ValueError(f"Dataset {name!r} has no split {split!r}; it has {spec.splits}.")
    from jaxgen.data.builders import tfds

    builder = prepared_builder(name, data_dir)
    chunks = list(tfds.as_numpy(builder.as_dataset(split=split).batch(4096)))
    images = np.concatenate([c["image"] for c in chunks]).astype(np.uint8)
    labels = np.concatenate([c["label"] for c in chunks]).astype(np.int32)
    if images.shape[1:] != spec.shape:
        raise ValueError(f"{name}/{split} images have shape {images.shape[1:]}, not {spec.shape}.")
    return images, labels


def load(name, split, batch_size, seed, *, mesh=None, data_dir=None, shuffle=True):
    """A BatchIterator over `name`/`split` with global batch `batch_size` on `mesh`
    (default: all devices), shuffled each epoch from `seed`."""
    images, labels = load_split(name, split, data_dir)
    return BatchIterator(
        images, labels, batch_size, seed, mesh if mesh is not None else data_mesh(), shuffle
    )
