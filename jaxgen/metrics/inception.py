"""InceptionV3 feature network of FID (Heusel et al. 2017), in flax.linen.

The architecture is the TensorFlow FID graph ``pt_inception-2015-12-05`` as ported by
pytorch-fid: torchvision's InceptionV3 with 1008 classes, no auxiliary head, and the
``FIDInceptionA/C/E_1/E_2`` blocks, whose pooling branch uses an average pool that
ignores padding (``count_include_pad=False``) in blocks A, C and E_1, and a max pool in
block E_2 (``Mixed_7c``). Every convolution (full float32 precision, no TF32) is followed
by batch norm (eps = 1e-3, running statistics) and a ReLU. Submodules carry pytorch-fid's
names, so a parameter path reads the same in both frameworks
(``Mixed_6b/branch7x7_2/conv/kernel`` <-> ``Mixed_6b.branch7x7_2.conv.weight``).

Input: images NHWC in [-1, 1] of any size, 1 or 3 channels; they are resized bilinearly
to 299x299 (half-pixel centres, no antialiasing, as ``F.interpolate(..., mode='bilinear',
align_corners=False)`` in pytorch-fid) and grey images are repeated over 3 channels.
Output: ``(pool3, logits)``: the 2048-d average-pooled features used by FID/KID/PR
(``[B, 2048]``) and the 1008-way logits used by the Inception Score (``[B, 1008]``).

Weights file format (``.npz``), read by :func:`load_inception_variables`: one array per
variable, keyed by its flattened flax path joined with ``'/'``, collection first, e.g.
``params/Conv2d_1a_3x3/conv/kernel`` ``[3, 3, 3, 32]`` (HWIO), ``params/Conv2d_1a_3x3/bn/
scale``, ``params/Conv2d_1a_3x3/bn/bias``, ``batch_stats/Conv2d_1a_3x3/bn/mean``,
``batch_stats/Conv2d_1a_3x3/bn/var``, ..., ``params/fc/kernel`` ``[2048, 1008]``,
``params/fc/bias``. Every variable of :class:`InceptionV3` must be present, with its shape,
and nothing else. ``python -m jaxgen.metrics.convert_pt_inception_to_npz`` writes such a
file from pytorch-fid's state dict; nothing is downloaded at run time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.models import npz_weights

INPUT_SIZE = 299
POOL3_DIM = 2048
NUM_LOGITS = 1008
WEIGHTS_OPTION = "metrics.inception_weights / --inception-weights"

# Full float32 convolutions (no TF32 on GPUs), as in the TF FID graph.
_PRECISION = jax.lax.Precision.HIGHEST


def resize_for_inception(images: jax.Array) -> jax.Array:
    """[B, H, W, C] images in [-1, 1], C in {1, 3} -> [B, 299, 299, 3], bilinear."""
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"InceptionV3 expects NHWC images with 1 or 3 channels, got shape {images.shape}."
        )
    batch = images.shape[0]
    images = jnp.broadcast_to(images, (*images.shape[:3], 3))
    return jax.image.resize(
        images.astype(jnp.float32),
        (batch, INPUT_SIZE, INPUT_SIZE, 3),
        method="bilinear",
        antialias=False,
    )


def _avg_pool_3x3_same(x: jax.Array) -> jax.Array:
    """3x3/1 average pool over valid (non-padding) pixels only: count_include_pad=False."""
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_same(x: jax.Array) -> jax.Array:
    return nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))


def _max_pool_3x3_s2(x: jax.Array) -> jax.Array:
    return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm(eps=1e-3, running stats) -> ReLU."""

    features: int
    kernel_size: tuple[int, int]
    strides: int = 1
    padding: tuple[int, int] = (0, 0)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        ph, pw = self.padding
        x = nn.Conv(
            self.features,
            self.kernel_size,
            strides=self.strides,
            padding=((ph, ph), (pw, pw)),
            use_bias=False,
            precision=_PRECISION,
            name="conv",
        )(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
        return nn.relu(x)


def _conv(name: str, features: int, kernel_size, strides: int = 1, padding=(0, 0)):
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    return BasicConv2d(features, kernel_size, strides, padding, name=name)


class InceptionA(nn.Module):
    """Mixed_5b/c/d (FIDInceptionA): 1x1, 5x5, double 3x3, avg-pool branches."""

    pool_features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b1 = _conv("branch1x1", 64, 1)(x)
        b5 = _conv("branch5x5_1", 48, 1)(x)
        b5 = _conv("branch5x5_2", 64, 5, padding=(2, 2))(b5)
        b3 = _conv("branch3x3dbl_1", 64, 1)(x)
        b3 = _conv("branch3x3dbl_2", 96, 3, padding=(1, 1))(b3)
        b3 = _conv("branch3x3dbl_3", 96, 3, padding=(1, 1))(b3)
        bp = _conv("branch_pool", self.pool_features, 1)(_avg_pool_3x3_same(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    """Mixed_6a: grid reduction 35 -> 17."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b3 = _conv("branch3x3", 384, 3, strides=2)(x)
        bd = _conv("branch3x3dbl_1", 64, 1)(x)
        bd = _conv("branch3x3dbl_2", 96, 3, padding=(1, 1))(bd)
        bd = _conv("branch3x3dbl_3", 96, 3, strides=2)(bd)
        return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
    """Mixed_6b..e (FIDInceptionC): factorised 7x7 branches, avg-pool branch."""

    channels_7x7: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c7 = self.channels_7x7
        b1 = _conv("branch1x1", 192, 1)(x)
        b7 = _conv("branch7x7_1", c7, 1)(x)
        b7 = _conv("branch7x7_2", c7, (1, 7), padding=(0, 3))(b7)
        b7 = _conv("branch7x7_3", 192, (7, 1), padding=(3, 0))(b7)
        bd = _conv("branch7x7dbl_1", c7, 1)(x)
        bd = _conv("branch7x7dbl_2", c7, (7, 1), padding=(3, 0))(bd)
        bd = _conv("branch7x7dbl_3", c7, (1, 7), padding=(0, 3))(bd)
        bd = _conv("branch7x7dbl_4", c7, (7, 1), padding=(3, 0))(bd)
        bd = _conv("branch7x7dbl_5", 192, (1, 7), padding=(0, 3))(bd)
        bp = _conv("branch_pool", 192, 1)(_avg_pool_3x3_same(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    """Mixed_7a: grid reduction 17 -> 8."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b3 = _conv("branch3x3_1", 192, 1)(x)
        b3 = _conv("branch3x3_2", 320, 3, strides=2)(b3)
        b7 = _conv("branch7x7x3_1", 192, 1)(x)
        b7 = _conv("branch7x7x3_2", 192, (1, 7), padding=(0, 3))(b7)
        b7 = _conv("branch7x7x3_3", 192, (7, 1), padding=(3, 0))(b7)
        b7 = _conv("branch7x7x3_4", 192, 3, strides=2)(b7)
        return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
    """Mixed_7b (FIDInceptionE_1, avg pool) and Mixed_7c (FIDInceptionE_2, max pool)."""

    max_pool: bool

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b1 = _conv("branch1x1", 320, 1)(x)
        b3 = _conv("branch3x3_1", 384, 1)(x)
        b3 = jnp.concatenate(
            [
                _conv("branch3x3_2a", 384, (1, 3), padding=(0, 1))(b3),
                _conv("branch3x3_2b", 384, (3, 1), padding=(1, 0))(b3),
            ],
            axis=-1,
        )
        bd = _conv("branch3x3dbl_1", 448, 1)(x)
        bd = _conv("branch3x3dbl_2", 384, 3, padding=(1, 1))(bd)
        bd = jnp.concatenate(
            [
                _conv("branch3x3dbl_3a", 384, (1, 3), padding=(0, 1))(bd),
                _conv("branch3x3dbl_3b", 384, (3, 1), padding=(1, 0))(bd),
            ],
            axis=-1,
        )
        pool = _max_pool_3x3_same if self.max_pool else _avg_pool_3x3_same
        bp = _conv("branch_pool", 192, 1)(pool(x))
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
    """FID InceptionV3: images [B, H, W, C] in [-1, 1] -> (pool3 [B, 2048], logits [B, 1008])."""

    @nn.compact
    def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = resize_for_inception(images)  # [B, 299, 299, 3]
        x = _conv("Conv2d_1a_3x3", 32, 3, strides=2)(x)  # [B, 149, 149, 32]
        x = _conv("Conv2d_2a_3x3", 32, 3)(x)  # [B, 147, 147, 32]
        x = _conv("Conv2d_2b_3x3", 64, 3, padding=(1, 1))(x)  # [B, 147, 147, 64]
        x = _max_pool_3x3_s2(x)  # [B, 73, 73, 64]
        x = _conv("Conv2d_3b_1x1", 80, 1)(x)  # [B, 73, 73, 80]
        x = _conv("Conv2d_4a_3x3", 192, 3)(x)  # [B, 71, 71, 192]
        x = _max_pool_3x3_s2(x)  # [B, 35, 35, 192]
        x = InceptionA(32, name="Mixed_5b")(x)  # [B, 35, 35, 256]
        x = InceptionA(64, name="Mixed_5c")(x)  # [B, 35, 35, 288]
        x = InceptionA(64, name="Mixed_5d")(x)  # [B, 35, 35, 288]
        x = InceptionB(name="Mixed_6a")(x)  # [B, 17, 17, 768]
        x = InceptionC(128, name="Mixed_6b")(x)
        x = InceptionC(160, name="Mixed_6c")(x)
        x = InceptionC(160, name="Mixed_6d")(x)
        x = InceptionC(192, name="Mixed_6e")(x)  # [B, 17, 17, 768]
        x = InceptionD(name="Mixed_7a")(x)  # [B, 8, 8, 1280]
        x = InceptionE(max_pool=False, name="Mixed_7b")(x)  # [B, 8, 8, 2048]
        x = InceptionE(max_pool=True, name="Mixed_7c")(x)  # [B, 8, 8, 2048]
        pool3 = jnp.mean(x, axis=(1, 2))  # [B, 2048]
        logits = nn.Dense(NUM_LOGITS, precision=_PRECISION, name="fc")(pool3)  # [B, 1008]
        return pool3, logits


def variable_shapes(model: InceptionV3 | None = None) -> dict[str, tuple[int, ...]]:
    """Flat ``'collection/module/.../leaf' -> shape`` of every variable, without computing."""
    images = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
    return npz_weights.variable_shapes(model or InceptionV3(), images)


def save_inception_variables(path: str | os.PathLike, variables: Mapping) -> None:
    """Write ``variables`` (``{'params': ..., 'batch_stats': ...}``) in the ``.npz`` format."""
    npz_weights.save_variables(path, variables)


def load_inception_variables(path: str | os.PathLike, model: InceptionV3 | None = None) -> dict:
    """Read an ``.npz`` weights file (format in the module docstring) into flax variables.

    Every variable of the model must be in the file with its exact shape and the file may
    hold nothing else; otherwise one ``ValueError`` lists the first offending keys.
    """
    return npz_weights.load_variables(
        path,
        variable_shapes(model),
        network="InceptionV3",
        fix=f"Set {WEIGHTS_OPTION} to an .npz file written by "
        "`python -m jaxgen.metrics.convert_pt_inception_to_npz`",
    )
