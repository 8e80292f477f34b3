"""Progressive growing of GANs (Karras et al. 2018, "Progressive Growing of GANs for Improved
Quality, Stability, and Variation"): a generator and a discriminator grown from 4x4 by
doubling the resolution, each new block faded in; pixel normalization, minibatch standard
deviation and the equalized learning rate.

    level l works at 4 * 2^l pixels. Fading in level l with alpha in [0, 1]:
    G:  x = (1 - alpha) up(toRGB_{l-1}(h_{l-1})) + alpha toRGB_l(block_l(up(h_{l-1})))
    D:  h = (1 - alpha) fromRGB_{l-1}(down(x)) + alpha block_l(fromRGB_l(x)), then the
        blocks of the lower levels

so at alpha = 0 the grown networks compute exactly what the previous level's did (tested).
up: nearest-neighbour doubling, down: 2x2 average pooling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def pixel_norm(x: jax.Array, eps: float = 1e-8) -> jax.Array:
    """b = a / sqrt(mean_c a_c^2 + eps) at every pixel (Karras et al. 2018, sec. 4.2)."""
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def minibatch_stddev(x: jax.Array) -> jax.Array:
    """x [B, H, W, C] with one more channel: the standard deviation over the batch of every
    feature at every position, averaged to one number, repeated over the batch and the
    positions (sec. 3: a statistic of the whole minibatch that lets D see variation)."""
    std = jnp.sqrt(jnp.var(x, axis=0) + 1e-8)  # [H, W, C]
    s = jnp.broadcast_to(jnp.mean(std), (*x.shape[:3], 1))
    return jnp.concatenate([x, s], axis=-1)


def up(x: jax.Array) -> jax.Array:
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def down(x: jax.Array) -> jax.Array:
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class EqualizedConv(nn.Module):
    """Convolution with the equalized learning rate (sec. 4.1): weights w ~ N(0, 1) stored,
    w * gain / sqrt(fan_in) used, so Adam's steps are alike for every layer; zero bias.
    kernel_size 4 with padding VALID is D's last 4x4 -> 1x1 layer; a 1x1-input Dense is
    kernel_size 1 on [B, 1, 1, C]."""

    features: int
    kernel_size: int = 3
    gain: float = math.sqrt(2.0)
    padding: str = "SAME"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        shape = (k, k, x.shape[-1], self.features)
        w = self.param("kernel", nn.initializers.normal(1.0), shape)
        scale = self.gain / math.sqrt(k * k * x.shape[-1])
        y = jax.lax.conv_general_dilated(
            x, w * scale, (1, 1), self.padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return y + self.param("bias", nn.initializers.zeros, (self.features,))


def lrelu(x: jax.Array) -> jax.Array:
    return nn.leaky_relu(x, 0.2)


class Generator(nn.Module):
    """z [B, latent_dim] -> images [B, 4 * 2^level, same, channels] at `level` (static),
    faded in by alpha. widths[l]: the feature maps of level l (4x4 first)."""

    widths: Sequence[int]
    channels: int

    def setup(self):
        w0 = self.widths[0]
        self.project = EqualizedConv(16 * w0, kernel_size=1, gain=math.sqrt(2.0) / 4)
        self.base = EqualizedConv(w0)  # the 4x4 block's conv after the projection
        self.blocks = [(EqualizedConv(w), EqualizedConv(w)) for w in self.widths[1:]]
        self.to_rgb = [EqualizedConv(self.channels, kernel_size=1, gain=1.0) for _ in self.widths]

    def features(self, z: jax.Array, level: int) -> tuple[jax.Array, jax.Array]:
        """(h_{level - 1} (None at level 0), h_level)."""
        h = self.project(pixel_norm(z)[:, None, None, :]).reshape(len(z), 4, 4, self.widths[0])
        h = pixel_norm(lrelu(h))
        h = pixel_norm(lrelu(self.base(h)))
        previous = None
        for i in range(1, level + 1):
            previous = h
            conv1, conv2 = self.blocks[i - 1]
            h = pixel_norm(lrelu(conv1(up(h))))
            h = pixel_norm(lrelu(conv2(h)))
        return previous, h

    def __call__(self, z: jax.Array, alpha: jax.Array, level: int) -> jax.Array:
        previous, h = self.features(z, level)
        rgb = self.to_rgb[level](h)
        if level == 0:
            return rgb
        return (1.0 - alpha) * up(self.to_rgb[level - 1](previous)) + alpha * rgb


class Discriminator(nn.Module):
    """images [B, 4 * 2^level, same, C] at `level` (static), faded in by alpha -> [B] scores
    (a Wasserstein critic). widths[l]: the feature maps of level l, as the generator's."""

    widths: Sequence[int]

    def setup(self):
        self.from_rgb = [EqualizedConv(w, kernel_size=1) for w in self.widths]
        self.blocks = [  # level l >= 1: conv to widths[l], conv to widths[l - 1], then down
            (EqualizedConv(self.widths[i]), EqualizedConv(self.widths[i - 1]))
            for i in range(1, len(self.widths))
        ]
        w0 = self.widths[0]
        self.final = (EqualizedConv(w0), EqualizedConv(w0, kernel_size=4, padding="VALID"))
        self.out = EqualizedConv(1, kernel_size=1, gain=1.0)

    def block(self, i: int, h: jax.Array) -> jax.Array:
        conv1, conv2 = self.blocks[i - 1]
        return down(lrelu(conv2(lrelu(conv1(h)))))

    def __call__(self, x: jax.Array, alpha: jax.Array, level: int) -> jax.Array:
        h = lrelu(self.from_rgb[level](x))
        if level > 0:
            h = self.block(level, h)
            skip = lrelu(self.from_rgb[level - 1](down(x)))
            h = (1.0 - alpha) * skip + alpha * h
            for i in range(level - 1, 0, -1):
                h = self.block(i, h)
        conv, conv4 = self.final
        h = lrelu(conv(minibatch_stddev(h)))
        h = lrelu(conv4(h))  # 4x4 -> 1x1
        return self.out(h).reshape(len(x))


def init_all_levels(module: nn.Module, key: jax.Array, x: jax.Array) -> dict:
    """Parameters of every level's layers: `module` applied at each level once at init (x:
    z for the generator; 4x4 images for the discriminator, upsampled per level)."""
    levels = range(len(module.widths))
    alpha = jnp.ones(())

    def all_levels(m, x):
        if isinstance(m, Generator):
            return [m(x, alpha, level) for level in levels]
        return [m(jnp.tile(x, (1, 2**level, 2**level, 1)), alpha, level) for level in levels]

    return module.init(key, x, method=all_levels)["params"]
