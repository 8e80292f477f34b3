"""The image-to-image generators of pix2pix (Isola et al. 2017, "Image-to-Image Translation
with Conditional Adversarial Networks") and CycleGAN (Zhu et al. 2017): one encoder-decoder,
a U-Net for pix2pix and a ResNet generator for CycleGAN, which differ by two flags. Their
discriminator is the PatchGAN of `jaxgen.models.gan.Discriminator`; they are trained by
`jaxgen.train.pix2pix` and `jaxgen.train.cyclegan`."""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.models import conv
from jaxgen.models import gan as gan_lib


class ResidualBlock(nn.Module):
    """x + conv3x3(relu(norm(conv3x3(x)))) followed by norm (Johnson et al. 2016)."""

    normalization: str = "instance"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = nn.Conv(x.shape[-1], (3, 3))(x)
        h = nn.relu(gan_lib.normalization(self.normalization, train)(h))
        h = nn.Conv(x.shape[-1], (3, 3))(h)
        return x + gan_lib.normalization(self.normalization, train)(h)


class EncoderDecoder(nn.Module):
    """Image-to-image generator x [B, H, W, C_in] -> [B, H, W, out_channels] in [-1, 1].

    Encoder: per width a 4x4 conv with stride 2, normalization (not on the first layer),
    LeakyReLU(0.2): e_1 .. e_n at H/2 .. H/2^n. Bottleneck: `num_res_blocks` residual
    blocks. Decoder: 4x4 fractionally-strided convs back through the widths, normalization,
    dropout at rate `dropout_rate` on the first three (applied at test time too: pix2pix's
    only noise source z), ReLU; a last one to out_channels with tanh.

    skip_connections=True, num_res_blocks=0, "batch": the U-Net of pix2pix (Isola et al.
    2017, Sec. 3.1.1; decoder level i sees [up(h), e_i], so low-level detail such as edge
    positions shuttles across). skip_connections=False, num_res_blocks > 0, "instance": the
    ResNet generator of CycleGAN (Johnson et al. 2016; Zhu et al. 2017, without the 7x7
    stride-1 stem and output layers).
    """

    out_channels: int
    widths: Sequence[int] = (64, 128, 256)
    skip_connections: bool = True
    num_res_blocks: int = 0
    normalization: str = "batch"
    dropout_rate: float = 0.5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        gan_lib.base_resolution(x.shape[1:], len(self.widths))  # checks the size divides
        skips, h = [], x
        for i, width in enumerate(self.widths):
            h = nn.Conv(width, (4, 4), strides=2)(h)
            if i > 0:
                h = gan_lib.normalization(self.normalization, train)(h)
            h = nn.leaky_relu(h, 0.2)
            skips.append(h)
        for _ in range(self.num_res_blocks):
            h = ResidualBlock(self.normalization)(h, train)
        for level, width in enumerate(reversed(self.widths[:-1])):
            h = conv.ConvTranspose(width, (4, 4), strides=(2, 2))(h)
            h = gan_lib.normalization(self.normalization, train)(h)
            if level < 3 and self.dropout_rate > 0:
                h = nn.Dropout(self.dropout_rate, deterministic=False)(h)
            h = nn.relu(h)
            if self.skip_connections:
                h = jnp.concatenate([h, skips[-2 - level]], axis=-1)
        return jnp.tanh(conv.ConvTranspose(self.out_channels, (4, 4), strides=(2, 2))(h))
