"""Readers of the datasets on this machine, in numpy alone (no TensorFlow).

`read_split(name, split)` gives a split of `digits` (scikit-learn's bundled digits) or of
a local Fashion-MNIST (IDX files) as uint8 arrays, in the order TFDS would write them
(`tfds_order`), so a run reads the same rows in the same order with or without TFDS.
"""

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np

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


def tfds_order(split: str, keys) -> np.ndarray:
    """`keys` in the order TFDS writes a split's examples: ascending h(key), where h is
    the 128-bit md5 of the split name followed by str(key) (tfds.core.hashing, the split
    name as salt), i.e. the row order of `tfds.load(name, split=split)`."""
    salt = hashlib.md5(split.encode())

    def h(key):
        md5 = salt.copy()
        md5.update(str(int(key)).encode())
        return int(md5.hexdigest(), 16)

    return np.asarray(sorted(keys, key=h), dtype=np.int64)


def read_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images [N, 8, 8, 1] uint8, labels [N] uint8) of a digits split: scikit-learn's pixel
    values v in 0..16 stored as round(v * 255 / 16), keyed by their index in load_digits()."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    rows = tfds_order(split, digits_split_indices()[split])
    return images[rows], digits.target[rows].astype(np.uint8)


def read_split(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images [N, H, W, C] uint8, labels [N] uint8) of an offline dataset's split, rows in
    `tfds_order` (Fashion-MNIST's keys: the rows' positions in its IDX files)."""
    if name == "digits":
        return read_digits(split)
    if name == "fashion_mnist":
        images, labels = read_fashion_mnist(fashion_mnist_dir(), split)
        rows = tfds_order(split, range(len(images)))
        return images[rows], labels[rows]
    raise DataError(f"{name!r} is not an offline dataset; only digits and fashion_mnist are.")
