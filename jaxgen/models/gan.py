"""Generative adversarial networks: the flax.linen networks and their building blocks.

- `MLPGenerator`, `MLPDiscriminator`: the original GAN (Goodfellow et al. 2014).
- `Generator`, `Discriminator`: DCGAN (Radford et al. 2016), with flags for the conditional
  GAN (labels fed to both; Mirza & Osindero 2014), WGAN-GP's critic (Gulrajani et al. 2017),
  SN-GAN (Miyato et al. 2018), MSG-GAN (Karnewar & Wang 2020) and PatchGAN (Isola et al.
  2017).
- Building blocks shared with `jaxgen.models.pix2pix` and `jaxgen.models.stylegan`:
  `normalization`, labels as one-hot maps, `base_resolution`, `image_pyramid`.

They are trained by `jaxgen.train.gan`. Latents are z [B, latent_dim]. Every network takes
`train`: batch statistics and power iteration in training, running averages and stored
vectors otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.data import DATA_AXIS
from jaxgen.models import conv
from jaxgen.models.spectral_norm import SpectralNorm

# ---------------------------------------------------------------------------------------------
# Building blocks.

NORMALIZATIONS = ("batch", "instance", "layer", "none")
BN_MOMENTUM = 0.9  # running average <- m * running average + (1 - m) * batch statistic


def normalization(kind: str, train: bool) -> Callable[[jax.Array], jax.Array]:
    """The normalization layer `kind` as a callable x -> x: "batch" (Ioffe & Szegedy 2015;
    statistics over the global batch across the 'data' axis in training, running averages
    otherwise, momentum BN_MOMENTUM), "instance" (Ulyanov et al. 2016), "layer" (Ba et al. 2016)
    or "none"."""
    if kind == "batch":
        return nn.BatchNorm(
            use_running_average=not train,
            momentum=BN_MOMENTUM,
            axis_name=DATA_AXIS if train else None,
        )
    if kind == "instance":
        return nn.InstanceNorm()
    if kind == "layer":
        return nn.LayerNorm()
    if kind == "none":
        return lambda x: x
    raise ValueError(f"Unknown normalization {kind!r}; use one of {', '.join(NORMALIZATIONS)}.")


def one_hot_maps(y: jax.Array, num_classes: int, height: int, width: int) -> jax.Array:
    """Labels y [B] -> one-hot feature maps [B, height, width, num_classes]."""
    onehot = jax.nn.one_hot(y, num_classes)
    return jnp.broadcast_to(onehot[:, None, None, :], (y.shape[0], height, width, num_classes))


def with_label(h: jax.Array, y: jax.Array | None, num_classes: int) -> jax.Array:
    """Concatenates the one-hot label to the features h ([B, D] or [B, H, W, C]), the cGAN's
    conditioning of both networks (Mirza & Osindero 2014); h unchanged if num_classes == 0."""
    if not num_classes:
        return h
    if y is None:
        raise ValueError("This network is conditional (num_classes > 0); pass labels y [B].")
    if h.ndim == 2:
        return jnp.concatenate([h, jax.nn.one_hot(y, num_classes)], axis=-1)
    return jnp.concatenate([h, one_hot_maps(y, num_classes, *h.shape[1:3])], axis=-1)


def base_resolution(image_shape: Sequence[int], num_upsamplings: int) -> tuple[int, int]:
    """(H, W) / 2^n, the size a generator starts from; an error if it does not divide."""
    h, w = image_shape[:2]
    scale = 2**num_upsamplings
    if h % scale or w % scale:
        raise ValueError(
            f"Image size {h}x{w} is not divisible by 2^{num_upsamplings} = {scale}; use fewer "
            "widths (one per factor of 2)."
        )
    return h // scale, w // scale


def image_pyramid(x: jax.Array, num_scales: int) -> list[jax.Array]:
    """x [B, H, W, C] -> [x at H/2^(n-1), ..., x at H/2, x], coarse to fine (2x2 average
    pooling), the real images an MSG-GAN discriminator sees at every scale."""
    pyramid = [x]
    for _ in range(num_scales - 1):
        pyramid.insert(0, nn.avg_pool(pyramid[0], (2, 2), strides=(2, 2)))
    return pyramid


def finest(x: jax.Array | Sequence[jax.Array]) -> jax.Array:
    """The full-resolution image of a generator's output (the last of a multi-scale list)."""
    return x[-1] if isinstance(x, list | tuple) else x


# ---------------------------------------------------------------------------------------------
# Networks.


class MLPGenerator(nn.Module):
    """The original GAN's generator (Goodfellow et al. 2014): z [B, D] (+ one-hot y) -> Dense
    + ReLU per hidden width -> Dense -> tanh, reshaped to `image_shape`."""

    image_shape: Sequence[int]
    hidden: Sequence[int] = (256, 256)
    num_classes: int = 0

    @nn.compact
    def __call__(self, z: jax.Array, y: jax.Array | None = None, train: bool = False) -> jax.Array:
        h = with_label(z, y, self.num_classes)
        for width in self.hidden:
            h = nn.relu(nn.Dense(width)(h))
        x = jnp.tanh(nn.Dense(math.prod(self.image_shape))(h))
        return x.reshape(z.shape[0], *self.image_shape)


class MLPDiscriminator(nn.Module):
    """The original GAN's discriminator: x flattened (+ one-hot y) -> Dense + LeakyReLU(0.2)
    per hidden width -> Dense(1): logits [B] (the paper's maxout units and dropout replaced
    by LeakyReLU)."""

    hidden: Sequence[int] = (256, 256)
    num_classes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, y: jax.Array | None = None, train: bool = False) -> jax.Array:
        h = with_label(x.reshape(x.shape[0], -1), y, self.num_classes)
        for width in self.hidden:
            h = nn.leaky_relu(nn.Dense(width)(h), 0.2)
        return nn.Dense(1)(h)[:, 0]


class Generator(nn.Module):
    """DCGAN generator (Radford et al. 2016): z [B, D] (+ one-hot y) -> [B, H, W, C] in [-1, 1].

    Project and reshape (one Dense to a base_h x base_w x widths[-1] map, not a hidden
    layer), then fractionally-strided 4x4 convolutions (stride 2) through the widths in
    reverse, batch norm and ReLU after every layer but the last, which maps to C channels
    and ends with tanh. With `multi_scale` (MSG-GAN, Karnewar & Wang 2020) it returns a
    list of len(widths) + 1 images, coarse to fine: a 1x1 conv + tanh ("toRGB") of the
    projection and of every hidden block, then the final image.
    """

    image_shape: Sequence[int]
    widths: Sequence[int] = (64, 128)  # the discriminator's order: G uses them reversed
    normalization: str = "batch"
    num_classes: int = 0
    multi_scale: bool = False

    def __post_init__(self):
        base_resolution(self.image_shape, len(self.widths))  # at construction, before tracing
        super().__post_init__()

    @nn.compact
    def __call__(
        self, z: jax.Array, y: jax.Array | None = None, train: bool = False
    ) -> jax.Array | list[jax.Array]:
        channels = self.image_shape[-1]
        bh, bw = base_resolution(self.image_shape, len(self.widths))
        h = nn.Dense(bh * bw * self.widths[-1])(with_label(z, y, self.num_classes))
        h = h.reshape(z.shape[0], bh, bw, self.widths[-1])
        h = nn.relu(normalization(self.normalization, train)(h))
        to_image = lambda h: jnp.tanh(nn.Conv(channels, (1, 1))(h))  # MSG-GAN's "toRGB"
        outputs = [to_image(h)] if self.multi_scale else []
        for width in reversed(self.widths[:-1]):
            h = conv.ConvTranspose(width, (4, 4), strides=(2, 2))(h)
            h = nn.relu(normalization(self.normalization, train)(h))
            if self.multi_scale:
                outputs.append(to_image(h))
        x = jnp.tanh(conv.ConvTranspose(channels, (4, 4), strides=(2, 2))(h))
        return [*outputs, x] if self.multi_scale else x


class Discriminator(nn.Module):
    """DCGAN discriminator / critic: x [B, H, W, C] (+ y) -> logits [B] (or [B, h, w]).

    Strided 4x4 convolutions (stride 2) per width, LeakyReLU(0.2), normalization after all
    but the first (Radford et al. 2016), then one linear map of the last feature map to a
    logit. Flags:
      normalization: "batch" (DCGAN), "layer" or "none" (WGAN-GP's critic needs per-example
        outputs), "instance".
      spectral_norm: every weight (conv and the output layer) divided by its largest
        singular value (SN-GAN, Miyato et al. 2018); u vectors in the 'spectral' collection.
      num_classes > 0: one-hot label maps concatenated to the input (Mirza & Osindero 2014).
      patch: a PatchGAN (Isola et al. 2017): a last 4x4 conv to one channel, logits
        [B, h, w], one per receptive field ("patch") of the input.
    x may be a list of images, coarse to fine (MSG-GAN, Karnewar & Wang 2020): the finest
    enters the first layer, each coarser one is concatenated to the features of its size
    (the combine function phi_simple), the coarsest to the last map before the output.
    """

    widths: Sequence[int] = (64, 128)
    normalization: str = "batch"
    spectral_norm: bool = False
    num_classes: int = 0
    patch: bool = False

    @nn.compact
    def __call__(
        self,
        x: jax.Array | Sequence[jax.Array],
        y: jax.Array | None = None,
        train: bool = False,
    ) -> jax.Array:
        def layer(module, h):
            if self.spectral_norm:
                return SpectralNorm(module)(h, update_stats=train)
            return module(h)

        def add_scale(h, i):  # phi_simple: concatenate the input image of h's size
            if not 0 < i < len(scales):
                return h
            if scales[-1 - i].shape[1:3] != h.shape[1:3]:
                raise ValueError(
                    f"Multi-scale input of size {scales[-1 - i].shape[1:3]} meets features of "
                    f"size {h.shape[1:3]}; scales must halve from one to the next."
                )
            return jnp.concatenate([h, scales[-1 - i]], axis=-1)

        scales = list(x) if isinstance(x, list | tuple) else [x]
        if len(scales) > len(self.widths) + 1:
            raise ValueError(
                f"{len(scales)} input scales but {len(self.widths)} discriminator blocks; use "
                "as many discriminator widths as generator widths."
            )
        h = with_label(scales[-1], y, self.num_classes)
        for i, width in enumerate(self.widths):
            h = layer(nn.Conv(width, (4, 4), strides=2), add_scale(h, i))
            if i > 0:
                h = normalization(self.normalization, train)(h)
            h = nn.leaky_relu(h, 0.2)
        h = add_scale(h, len(self.widths))
        if self.patch:
            return layer(nn.Conv(1, (4, 4)), h)[..., 0]
        return layer(nn.Dense(1), h.reshape(h.shape[0], -1))[:, 0]
