"""TFDS builders for the datasets jaxgen needs offline.

Importing this module imports TensorFlow (for TFDS's preparation step) and hides every
GPU from it first, so TF never takes accelerator memory from JAX.
"""

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import tensorflow as tf

tf.config.set_visible_devices([], "GPU")

import tensorflow_datasets as tfds  # noqa: E402  (after hiding the GPUs from TF)

DIGITS_TEST_SIZE = 297
DIGITS_SPLIT_SEED = 0
FASHION_MNIST_CLASSES = (
    "t-shirt_top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle_boot",
)
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


class DataError(ValueError):
    """A dataset is missing, corrupt or asked for in a way it cannot serve."""


def digits_split_indices():
    """Fixed train/test split of scikit-learn's 1,797 digits: a permutation seeded with 0;
    the last 297 indices are the test split, the first 1,500 the train split."""
    perm = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(1797)
    return {"train": perm[:-DIGITS_TEST_SIZE], "test": perm[-DIGITS_TEST_SIZE:]}


class Digits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's bundled 8x8 handwritten digits, pixel values 0..16 scaled to 0..255."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {
            split: self._generate_examples(idx) for split, idx in digits_split_indices().items()
        }

    def _generate_examples(self, indices):
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
        for i in indices:
            yield int(i), {"image": images[i], "label": int(digits.target[i])}


def read_idx(path):
    """Reads an IDX file (optionally gzipped): magic 0x0000 0x08 ndim, big-endian dims, uint8."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DataError(f"{path} is not a uint8 IDX file (bad magic {data[:4]!r}).")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataError(
            f"{path} is truncated or corrupt: header says {dims} ({int(np.prod(dims))} bytes) "
            f"but it holds {body.size}. Reinstall it (apt-get install --reinstall "
            "dataset-fashion-mnist) or point JAXGEN_FASHION_MNIST_DIR at good files."
        )
    return body.reshape(dims)


def find_idx_file(directory, stem):
    """The IDX file `stem` in `directory`, plain or gzipped, or None."""
    for name in (stem, stem + ".gz"):
        if (Path(directory) / name).is_file():
            return Path(directory) / name
    return None


def fashion_mnist_dir():
    """Directory holding the Fashion-MNIST IDX files: $JAXGEN_FASHION_MNIST_DIR, then Debian's
    dataset-fashion-mnist path; None when neither exists (TFDS then downloads)."""
    env = os.environ.get("JAXGEN_FASHION_MNIST_DIR")
    if env:
        if not Path(env).is_dir():
            raise DataError(
                f"JAXGEN_FASHION_MNIST_DIR={env} is not a directory. Point it at the folder "
                "holding train-images-idx3-ubyte(.gz) etc., or unset it."
            )
        return Path(env)
    return Path(DEBIAN_FASHION_MNIST_DIR) if Path(DEBIAN_FASHION_MNIST_DIR).is_dir() else None


def read_fashion_mnist(directory, split):
    """(images [N, 28, 28, 1] uint8, labels [N] uint8) of one split from IDX files."""
    stems = FASHION_MNIST_FILES[split]
    paths = [find_idx_file(directory, s) for s in stems]
    for stem, path in zip(stems, paths, strict=True):
        if path is None:
            raise DataError(
                f"Fashion-MNIST file {stem}(.gz) is missing from {directory}. Install it with "
                "`apt-get install dataset-fashion-mnist` or set JAXGEN_FASHION_MNIST_DIR."
            )
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise DataError(
            f"Fashion-MNIST files in {directory} have shapes {images.shape} and {labels.shape}; "
            "expected [N, 28, 28] images and [N] labels."
        )
    return images[..., None], labels


class FashionMnistIdx(tfds.core.GeneratorBasedBuilder):
    """Fashion-MNIST (Xiao et al. 2017) read from local IDX files, same features as TFDS's
    `fashion_mnist`. The directory comes from the `idx_dir` argument or `fashion_mnist_dir()`."""

    VERSION = tfds.core.Version("3.0.1")

    def __init__(self, *, idx_dir=None, **kwargs):
        self._idx_dir = idx_dir
        super().__init__(**kwargs)

    def _info(self):
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(28, 28, 1)),
                    "label": tfds.features.ClassLabel(names=FASHION_MNIST_CLASSES),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        directory = self._idx_dir or fashion_mnist_dir()
        return {split: self._generate_examples(directory, split) for split in FASHION_MNIST_FILES}

    def _generate_examples(self, directory, split):
        images, labels = read_fashion_mnist(directory, split)
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            yield i, {"image": image, "label": int(label)}
