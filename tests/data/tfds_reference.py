"""The TFDS builders jaxgen used to read its offline datasets with, kept as the reference
that jaxgen.data.offline must match row for row: they hand TFDS each example under its key
(index in scikit-learn's digits, position in the IDX files) and let TFDS order the rows.
Importing this module imports TensorFlow (tests import it after pytest.importorskip)."""

import numpy as np
import tensorflow_datasets as tfds
from sklearn.datasets import load_digits

from jaxgen.data import offline


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
        indices = offline.digits_split_indices()
        return {split: self._generate_examples(idx) for split, idx in indices.items()}

    def _generate_examples(self, indices):
        digits = load_digits()
        images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
        for i in indices:
            yield int(i), {"image": images[i], "label": int(digits.target[i])}


class FashionMnistIdx(tfds.core.GeneratorBasedBuilder):
    """Fashion-MNIST read from the IDX files in `idx_dir`, only the `splits` asked for."""

    VERSION = tfds.core.Version("3.0.1")

    def __init__(self, *, idx_dir, splits=("train", "test"), **kwargs):
        self._idx_dir, self._splits = idx_dir, splits
        super().__init__(**kwargs)

    def _info(self):
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(28, 28, 1)),
                    "label": tfds.features.ClassLabel(names=offline.FASHION_MNIST_CLASSES),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in self._splits}

    def _generate_examples(self, split):
        images, labels = offline.read_fashion_mnist(self._idx_dir, split)
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            yield i, {"image": image, "label": int(label)}


def read(builder, split):
    """(images, labels) of a split as TFDS serves them: prepared, in TFDS's row order."""
    builder.download_and_prepare()
    rows = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    return rows["image"], rows["label"]
