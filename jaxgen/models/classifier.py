"""Small convolutional classifier: the feature network of the offline datasets' metrics
(FID / KID / precision-recall on its penultimate features, IS and mode coverage on its
class probabilities), trained by experiments/train_classifier.py."""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxgen.models.types import Batch, ObjectiveOutput, PyTree

BACKGROUND = -1.0  # black in [-1, 1]: the value shifted-in pixels take


class ConvClassifier(nn.Module):
    """x [B, H, W, C] in [-1, 1] -> (features [B, feature_dim], logits [B, num_classes]).

    Per width: `convs_per_block` x (Conv 3x3 -> GroupNorm (Wu & He 2018; no batch
    statistics, so the network is a pure function of its params) -> ReLU), then a 2x2 max
    pool ('SAME': 28 -> 14 -> 7 -> 4, 8 -> 4 -> 2 -> 1). Then flatten -> Dropout (training
    only) -> Dense(feature_dim): the features, taken before the ReLU (after it, about half
    the units of the trained Fashion-MNIST network are zero on every image, which leaves FID
    a singular covariance); ReLU and a last Dense map them to the logits.
    """

    num_classes: int = 10
    widths: Sequence[int] = (32, 64, 128)
    feature_dim: int = 128
    num_groups: int = 8
    convs_per_block: int = 1
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
        for width in self.widths:
            for _ in range(self.convs_per_block):
                x = nn.Conv(width, (3, 3))(x)
                x = nn.relu(nn.GroupNorm(num_groups=self.num_groups)(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x.reshape(x.shape[0], -1))
        features = nn.Dense(self.feature_dim)(x)
        return features, nn.Dense(self.num_classes)(nn.relu(features))


def augment(
    images: jax.Array, key: jax.Array, *, flip: bool = False, max_shift: int = 0
) -> jax.Array:
    """Per image of images [B, H, W, C]: a horizontal flip x[:, ::-1] with probability 1/2
    (if `flip`), then a translation by (dy, dx) ~ U{-s, ..., s}^2, s = `max_shift`:
    x'[i, j] = x[i - dy, j - dx], BACKGROUND where (i - dy, j - dx) is outside the image
    (pad by s, crop at (s - dy, s - dx))."""
    if max_shift < 0 or max_shift >= min(images.shape[1:3]):
        raise ValueError(
            f"max_shift must be in [0, {min(images.shape[1:3])}) for images of shape "
            f"{tuple(images.shape[1:3])}, got {max_shift}; 0 turns shifting off."
        )
    s = max_shift

    def one(image, key):  # image [H, W, C]
        flip_key, shift_key = jax.random.split(key)
        if flip:
            image = jnp.where(jax.random.bernoulli(flip_key), image[:, ::-1], image)
        if s:
            padded = jnp.pad(image, ((s, s), (s, s), (0, 0)), constant_values=BACKGROUND)
            corner = jax.random.randint(shift_key, (2,), 0, 2 * s + 1)  # s - (dy, dx)
            image = lax.dynamic_slice(padded, (corner[0], corner[1], 0), image.shape)
        return image

    return jax.vmap(one)(images, jax.random.split(key, images.shape[0]))


def objective(
    model: ConvClassifier,
    params: PyTree,
    model_state: PyTree,
    batch: Batch,
    key: jax.Array,
    step: jax.Array | int,
    *,
    flip: bool = False,
    max_shift: int = 0,
) -> ObjectiveOutput:
    """Batch mean cross-entropy -log softmax(logits)_y on the images augmented by
    :func:`augment` (dropout in training mode; keys from the step's key); metrics: the
    batch accuracy."""
    augment_key, dropout_key = jax.random.split(key)
    images = augment(batch["image"], augment_key, flip=flip, max_shift=max_shift)
    _, logits = model.apply({"params": params}, images, train=True, rngs={"dropout": dropout_key})
    labels = batch["label"]
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)  # [B]
    accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == labels)
    return jnp.mean(loss), ({"accuracy": accuracy}, model_state)
