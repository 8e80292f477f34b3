"""Datasets as deterministic, resumable iterators of device-sharded batches.

    it = jaxgen.data.load("digits", "train", batch_size=64, seed=0)
    batch = next(it)  # {'image': [64, 8, 8, 1] float32 in [-1, 1], 'label': [64] int32}

`digits` and a local Fashion-MNIST are read with numpy alone (jaxgen.data.offline): no
network, no TensorFlow. The others need TensorFlow Datasets, imported only when one of them
is asked for; TFDS prepares each once under `data_dir` (default: $TFDS_DATA_DIR or
~/tensorflow_datasets).
"""

import contextlib
import dataclasses
import fcntl
import functools
import os

import numpy as np

from jaxgen.data import captions, offline
from jaxgen.data.pipeline import DATA_AXIS, BatchIterator, data_mesh, to_float

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = [
    "DATASETS",
    "DATA_AXIS",
    "BatchIterator",
    "batch_shapes",
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
        if self.name in CAPTIONED:
            return DATASETS[CAPTIONED[self.name]].offline()
        if self.name == "digits":
            return True
        if self.name == "fashion_mnist":
            return offline.fashion_mnist_dir() is not None
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
# Captioned datasets: made by jaxgen.data.captions from a source dataset, with seed
# CAPTION_SEED (a fixed dataset, the same for every run); batches add 'tokens' [B, L].
CAPTIONED = {"fashion_captions": "fashion_mnist", "digits_captions": "digits"}
CAPTION_SEED = 0
DATASETS |= {
    name: DatasetSpec(
        name,
        (captions.SIDE, captions.SIDE, 3),
        DATASETS[source].num_classes,
        ("train", "test", "held_out"),
        f"captioned, tinted, placed {DATASETS[source].description} (jaxgen.data.captions)",
    )
    for name, source in CAPTIONED.items()
}


def batch_shapes(name, batch_size):
    """{key: (shape, dtype)} of the batches `load(name, ...)` serves, without loading it."""
    spec = dataset_spec(name)
    shapes = {"image": ((batch_size, *spec.shape), np.float32), "label": ((batch_size,), np.int32)}
    if name in CAPTIONED:
        shapes["tokens"] = ((batch_size, captions.Tokenizer().max_len), np.int32)
        shapes |= {k: ((batch_size,), np.int32) for k in ("colour", "size", "position")}
    return shapes


def dataset_spec(name):
    """The DatasetSpec of `name`; an unknown name lists the known ones."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Available: {', '.join(sorted(DATASETS))}.")
    return DATASETS[name]


@functools.cache
def tensorflow_datasets():
    """The tensorflow_datasets module, TensorFlow's GPUs hidden first (once, before TF
    initializes them), so TF never takes accelerator memory from JAX."""
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
    import tensorflow_datasets as tfds

    return tfds


def import_tfds(name):
    """`tensorflow_datasets()` for dataset `name`; one DataError naming the fix when
    TensorFlow or TFDS is not installed."""
    try:
        return tensorflow_datasets()
    except ImportError as e:
        offline_names = ", ".join(n for n, s in DATASETS.items() if s.offline())
        raise offline.DataError(
            f"Dataset {name!r} is read through TensorFlow Datasets, which cannot be imported "
            f"here ({e}). Install it with `pip install tensorflow-cpu tensorflow-datasets`, "
            f"or use a dataset read without TensorFlow (here: {offline_names or 'none'}; "
            "Fashion-MNIST from its IDX files: `apt-get install dataset-fashion-mnist` or "
            "JAXGEN_FASHION_MNIST_DIR)."
        ) from e


def tfds_builder(name, data_dir):
    """The TFDS builder of `name` (not prepared)."""
    return import_tfds(name).builder(name, data_dir=data_dir)


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


@functools.lru_cache(maxsize=4)
def load_captioned(name, split, data_dir=None):
    """The captions.CaptionedSplit `split` of captioned dataset `name`: train from the
    source's train split, test and held_out from its test split."""
    source = CAPTIONED[name]
    images, labels = load_split(source, "train" if split == "train" else "test", data_dir)
    return captions.make_split(images, labels, split, CAPTION_SEED, source)


def caption_tokens(name, texts) -> np.ndarray:
    """[N, L] int32 token ids of captions `texts` of captioned dataset `name`."""
    tokenizer = captions.Tokenizer(CAPTIONED[name])
    return np.stack([tokenizer.encode(t) for t in texts])


@functools.lru_cache(maxsize=8)
def load_split(name, split, data_dir=None):
    """(images [N, H, W, C] uint8, labels [N] int32) of a whole split, in TFDS's row order:
    read with numpy where the dataset is offline (`data_dir` unused), else prepared by TFDS;
    a captioned dataset's images and classes."""
    spec = dataset_spec(name)
    if split not in spec.splits:
        raise ValueError(f"Dataset {name!r} has no split {split!r}; it has {spec.splits}.")
    if name in CAPTIONED:
        s = load_captioned(name, split, data_dir)
        return s.image, s.item
    if spec.offline():
        images, labels = offline.read_split(name, split)
    else:
        builder = prepared_builder(name, data_dir)
        chunks = list(import_tfds(name).as_numpy(builder.as_dataset(split=split).batch(4096)))
        images = np.concatenate([c["image"] for c in chunks])
        labels = np.concatenate([c["label"] for c in chunks])
    images, labels = images.astype(np.uint8), labels.astype(np.int32)
    if images.shape[1:] != spec.shape:
        raise ValueError(f"{name}/{split} images have shape {images.shape[1:]}, not {spec.shape}.")
    return images, labels


def load(name, split, batch_size, seed, *, mesh=None, data_dir=None, shuffle=True):
    """A BatchIterator over `name`/`split` with global batch `batch_size` on `mesh`
    (default: all devices), shuffled each epoch from `seed`; a captioned dataset's batches
    add 'tokens' [B, L] (captions.Tokenizer) and its attributes 'colour', 'size',
    'position' [B]."""
    images, labels = load_split(name, split, data_dir)
    extras = {}
    if name in CAPTIONED:
        s = load_captioned(name, split, data_dir)
        tokenizer = captions.Tokenizer(CAPTIONED[name])
        extras = {"tokens": np.stack([tokenizer.encode(c) for c in s.captions])}
        extras |= {"colour": s.colour, "size": s.size, "position": s.position}
    mesh = mesh if mesh is not None else data_mesh()
    return BatchIterator(images, labels, batch_size, seed, mesh, shuffle, extras=extras)
