"""Small convolutional classifier: the feature network of the offline datasets' metrics
(FID / KID / precision-recall on its penultimate features, IS and mode coverage on its
class probabilities), trained by experiments/train_classifier.py."""

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
import optax


class ConvClassifier(nn.Module):
    """x [B, H, W, C] in [-1, 1] -> (features [B, feature_dim], logits [B, num_classes]).

    Per width: Conv 3x3 -> GroupNorm (Wu & He 2018; no batch statistics, so the network is
    a pure function of its params) -> ReLU -> 2x2 max pool ('SAME': 28 -> 14 -> 7 -> 4,
    8 -> 4 -> 2 -> 1). Then flatten -> Dense(feature_dim): the features, taken before the
    ReLU (after it, about half the units of the trained Fashion-MNIST network are zero on
    every image, which leaves FID a singular covariance); ReLU and a last Dense map them to
    the logits.
    """

    num_classes: int = 10
    widths: Sequence[int] = (32, 64, 128)
    feature_dim: int = 128
    num_groups: int = 8

    @nn.compact
    def __call__(self, x):
        for width in self.widths:
            x = nn.Conv(width, (3, 3))(x)
            x = nn.relu(nn.GroupNorm(num_groups=self.num_groups)(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
        features = nn.Dense(self.feature_dim)(x.reshape(x.shape[0], -1))
        return features, nn.Dense(self.num_classes)(nn.relu(features))


def objective(model, params, model_state, batch, key, step):
    """Batch mean cross-entropy -log softmax(logits)_y; metrics: the batch accuracy."""
    _, logits = model.apply({"params": params}, batch["image"])
    labels = batch["label"]
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)  # [B]
    accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == labels)
    return jnp.mean(loss), ({"accuracy": accuracy}, model_state)
