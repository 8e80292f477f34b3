"""SRResNet and SRGAN's generator (Ledig et al. 2017, "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network"): residual blocks at the low
resolution, then sub-pixel convolutions (Shi et al. 2016) up to `factor` times the size.
SRGAN's discriminator is jaxgen.models.gan.Discriminator on the high-resolution image; its
training is jaxgen.train.pix2pix's image-to-image GAN step with the content loss."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


def pixel_shuffle(x: jax.Array, r: int) -> jax.Array:
    """Sub-pixel rearrangement (Shi et al. 2016): [B, H, W, C r^2] -> [B, H r, W r, C],
    out[b, h r + i, w r + j, c] = x[b, h, w, c r^2 + i r + j] (PyTorch's PixelShuffle)."""
    b, h, w, cr2 = x.shape
    if cr2 % (r * r):
        raise ValueError(f"pixel_shuffle: {cr2} channels are not a multiple of r^2 = {r * r}.")
    c = cr2 // (r * r)
    x = x.reshape(b, h, w, c, r, r).transpose(0, 1, 4, 2, 5, 3)
    return x.reshape(b, h * r, w * r, c)


class SRResNet(nn.Module):
    """Low-resolution x [B, h, w, C] in [-1, 1] -> [B, f h, f w, out_channels] in [-1, 1].

    9x9 conv, PReLU (h_0); `num_blocks` residual blocks x + conv3x3(PReLU(conv3x3(x))); a
    3x3 conv added to h_0 (the long skip); log2(factor) times a 3x3 conv to 4x the width,
    pixel_shuffle by 2, PReLU; a 9x9 conv to out_channels, tanh. No BatchNorm in the blocks
    (EDSR's finding, Lim et al. 2017: it only costs in super-resolution; the paper has it).
    """

    out_channels: int
    width: int = 64
    num_blocks: int = 16
    factor: int = 4

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if self.factor < 2 or self.factor & (self.factor - 1):
            raise ValueError(f"SRResNet: factor must be a power of 2 >= 2, got {self.factor}.")
        h0 = nn.PReLU()(nn.Conv(self.width, (9, 9))(x))
        h = h0
        for _ in range(self.num_blocks):
            h = h + nn.Conv(self.width, (3, 3))(nn.PReLU()(nn.Conv(self.width, (3, 3))(h)))
        h = h0 + nn.Conv(self.width, (3, 3))(h)
        for _ in range(int(math.log2(self.factor))):
            h = nn.PReLU()(pixel_shuffle(nn.Conv(4 * self.width, (3, 3))(h), 2))
        return jnp.tanh(nn.Conv(self.out_channels, (9, 9))(h))
