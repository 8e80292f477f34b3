"""Time-conditioned U-Net noise predictor eps_theta(x_t, t[, y]) of DDPM (Ho et al. 2020,
Appendix B: a PixelCNN++-like U-Net of wide-ResNet blocks with GroupNorm, the sinusoidal
time embedding added in every block, self-attention at low resolutions), with an optional
class embedding and a learned "empty" class for classifier-free guidance (Ho & Salimans
2021), or a sequence of context vectors (Imagen's text conditioning, Saharia et al. 2022:
their mean pooled into the embedding, cross-attention to them beside each self-attention)."""

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def sinusoidal_embedding(t: jax.Array, dim: int, max_period: float = 10_000.0) -> jax.Array:
    """Transformer position encoding (Vaswani et al. 2017) of the step index: [B] -> [B, dim].

    emb(t) = [sin(t w_0), ..., sin(t w_{d/2-1}), cos(t w_0), ..., cos(t w_{d/2-1})],
    w_i = max_period^(-i / (d/2 - 1)), as in Ho et al.'s code.
    """
    if dim % 2 or dim < 4:
        raise ValueError(f"sinusoidal_embedding: dim must be even and >= 4, got {dim}.")
    half = dim // 2
    w = jnp.exp(-math.log(max_period) * jnp.arange(half) / (half - 1))  # [d/2]
    angles = t.astype(jnp.float32)[:, None] * w[None, :]  # [B, d/2]
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


def group_norm(x: jax.Array, groups: int) -> jax.Array:
    """GroupNorm with gcd(groups, channels) groups, so any width works (32 in the paper)."""
    return nn.GroupNorm(num_groups=math.gcd(groups, x.shape[-1]))(x)


class ResBlock(nn.Module):
    """x + F(x, emb): GroupNorm, swish, 3x3 conv; + Dense(swish(emb)) per channel; GroupNorm,
    swish, 3x3 conv (zero-initialized, so the block starts as the identity); the skip is
    a 1x1 projection when the width changes."""

    width: int
    norm_groups: int = 32

    @nn.compact
    def __call__(self, x: jax.Array, emb: jax.Array) -> jax.Array:
        h = nn.Conv(self.width, (3, 3))(nn.swish(group_norm(x, self.norm_groups)))
        h = h + nn.Dense(self.width)(nn.swish(emb))[:, None, None, :]
        h = nn.swish(group_norm(h, self.norm_groups))
        h = nn.Conv(self.width, (3, 3), kernel_init=nn.initializers.zeros)(h)
        if x.shape[-1] != self.width:
            x = nn.Dense(self.width)(x)
        return x + h


class AttentionBlock(nn.Module):
    """x + Attention(GroupNorm(x)): multi-head self-attention over the H*W positions, output
    projection zero-initialized."""

    num_heads: int = 1
    norm_groups: int = 32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        y = group_norm(x, self.norm_groups).reshape(b, h * w, c)
        zeros = nn.initializers.zeros
        y = nn.MultiHeadDotProductAttention(self.num_heads, out_kernel_init=zeros)(y)
        return x + y.reshape(b, h, w, c)


class CrossAttentionBlock(nn.Module):
    """x + Attention(GroupNorm(x) -> context): the H*W positions query the context [B, M, D]
    (Imagen's cross-attention to the text tokens), output projection zero-initialized."""

    num_heads: int = 1
    norm_groups: int = 32

    @nn.compact
    def __call__(self, x: jax.Array, context: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        y = group_norm(x, self.norm_groups).reshape(b, h * w, c)
        zeros = nn.initializers.zeros
        y = nn.MultiHeadDotProductAttention(self.num_heads, out_kernel_init=zeros)(y, context)
        return x + y.reshape(b, h, w, c)


class UNet(nn.Module):
    """eps_theta(x_t [B, H, W, C], t [B] int, y [B] int | None) -> eps_pred [B, H, W, C].

    Encoder: a 3x3 conv to `width` channels, then per level i (full resolution first)
    `num_res_blocks` ResBlocks of width * width_mults[i] channels, each followed by an
    AttentionBlock when the level's height is in `attention_resolutions`; every level but
    the last ends with a stride-2 conv. Middle: ResBlock, AttentionBlock, ResBlock. Decoder:
    the levels in reverse, num_res_blocks + 1 ResBlocks each on the concatenation with the
    matching encoder activation (skip connection), a nearest-neighbour upsample to the next
    skip's size (so odd sizes such as 7x7 work) and a 3x3 conv between levels. Output:
    GroupNorm, swish, zero-initialized 3x3 conv to C channels.

    The time embedding is MLP(sinusoidal(t)) with 4 * width features (Dense, swish, Dense);
    with `num_classes` set, a learned class embedding of y is added to it, where y in
    0..num_classes-1 is a class and y = num_classes (``null_label``) the learned "empty"
    class of classifier-free guidance. With `context` set instead, y [B, M, D] is a sequence
    of context vectors (text token features, or one CLIP embedding as M = 1): Dense(mean_m
    y_m) is added to the embedding and every self-attention (the middle one too) is followed
    by a CrossAttentionBlock to y; the empty condition of guidance is y = 0. `out_channels`
    (default: C) serves models whose input carries extra channels (super-resolution's
    upsampled low-resolution image).
    """

    width: int = 64
    width_mults: Sequence[int] = (1, 2, 2)
    num_res_blocks: int = 2
    attention_resolutions: Sequence[int] = (16,)
    attention_heads: int = 1
    norm_groups: int = 32
    num_classes: int | None = None
    context: bool = False
    out_channels: int | None = None

    @property
    def null_label(self) -> int | float:
        """The empty condition of guidance: the learned "empty" class's label, or with
        `context` the zero context (0.0, broadcast to y's shape)."""
        if self.context:
            return 0.0
        if self.num_classes is None:
            raise ValueError("UNet.null_label: this U-Net is unconditional (num_classes=None).")
        return self.num_classes

    def _embed(self, t, y):
        """[B] steps (and [B] labels or [B, M, D] context) -> [B, 4 * width] embedding."""
        dim = 4 * self.width
        emb = sinusoidal_embedding(t, self.width)
        emb = nn.Dense(dim)(nn.swish(nn.Dense(dim)(emb)))
        if self.context:
            emb = emb + nn.Dense(dim)(y.mean(axis=1))
        elif y is not None:
            emb = emb + nn.Embed(self.num_classes + 1, dim)(y)
        return emb

    @nn.compact
    def __call__(self, x: jax.Array, t: jax.Array, y: jax.Array | None = None) -> jax.Array:
        y_shape = "[B, M, D]" if self.context else "[B] or None"
        if y is None:
            y_ok = True
        else:
            y_ok = y.ndim == 3 and len(y) == len(t) if self.context else y.shape == t.shape
        if x.ndim != 4 or t.shape != x.shape[:1] or not y_ok:
            raise ValueError(
                f"UNet expects x [B, H, W, C], t [B] and y {y_shape}; got x {x.shape}, "
                f"t {t.shape}, y {None if y is None else y.shape}."
            )
        if self.context and self.num_classes is not None:
            raise ValueError("UNet: set num_classes (labels) or context (vectors), not both.")
        if self.context and y is None:
            raise ValueError("UNet with context=True called without y: pass y [B, M, D].")
        if not self.context and (y is None) != (self.num_classes is None):
            raise ValueError(
                f"UNet with num_classes={self.num_classes} called with "
                f"{'no labels' if y is None else 'labels'}: pass y [B] (use null_label for the "
                "empty class) exactly when num_classes is set."
            )
        emb = self._embed(t, y)
        groups, heads = self.norm_groups, self.attention_heads

        def attend(h):
            h = AttentionBlock(heads, groups)(h)
            return CrossAttentionBlock(heads, groups)(h, y) if self.context else h

        def res_attn(h, width):
            h = ResBlock(width, groups)(h, emb)
            return attend(h) if h.shape[1] in self.attention_resolutions else h

        h = nn.Conv(self.width, (3, 3))(x)
        skips = [h]
        for level, mult in enumerate(self.width_mults):
            for _ in range(self.num_res_blocks):
                h = res_attn(h, self.width * mult)
                skips.append(h)
            if level < len(self.width_mults) - 1:
                h = nn.Conv(h.shape[-1], (3, 3), strides=2)(h)
                skips.append(h)

        h = ResBlock(h.shape[-1], groups)(h, emb)
        h = attend(h)
        h = ResBlock(h.shape[-1], groups)(h, emb)

        for level, mult in reversed(list(enumerate(self.width_mults))):
            for _ in range(self.num_res_blocks + 1):
                h = res_attn(jnp.concatenate([h, skips.pop()], axis=-1), self.width * mult)
            if level > 0:
                b, _, _, c = h.shape
                h = jax.image.resize(h, (b, *skips[-1].shape[1:3], c), "nearest")
                h = nn.Conv(c, (3, 3))(h)

        h = nn.swish(group_norm(h, groups))
        out = self.out_channels or x.shape[-1]
        return nn.Conv(out, (3, 3), kernel_init=nn.initializers.zeros)(h)


def from_config(m: Any, **conditioning: Any) -> UNet:
    """The UNet of a config's `model` block (width, width_mults, num_res_blocks,
    attention_resolutions, norm_groups; attention_heads, default 1) with `conditioning`
    (num_classes, context, out_channels)."""
    return UNet(
        width=m.width,
        width_mults=m.width_mults,
        num_res_blocks=m.num_res_blocks,
        attention_resolutions=m.attention_resolutions,
        attention_heads=m.get("attention_heads", 1),
        norm_groups=m.norm_groups,
        **conditioning,
    )
