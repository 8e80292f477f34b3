"""DiT (Peebles & Xie 2023, "Scalable Diffusion Models with Transformers"): a transformer
noise predictor with the U-Net's interface, eps_theta(x_t, t[, y]), so the DDPM objective,
every sampler and the evaluation take it as they take ``unet.UNet``.

    tokens = Linear(patchify_p(x_t)) + E_pos          [B, N, D], N = (H / p)(W / p)
    c      = MLP(sinusoidal(t)) (+ Embed(y))          [B, D]
    block:  (s1, a1, g1, s2, a2, g2) = Linear(silu(c)), zero-initialized (adaLN-Zero)
            x <- x + g1 * Attn(LN(x) * (1 + a1) + s1)
            x <- x + g2 * MLP(LN(x) * (1 + a2) + s2)
    out    = unpatchify(Linear(LN(x) * (1 + a) + s)), its (s, a) and Linear zero-initialized

LN without learned affine (the modulation takes its place); E_pos the fixed 2-D sin-cos
embedding. With adaLN-Zero every block starts as the identity and the network predicts 0.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.models.transformer import MLP
from jaxgen.models.unet import sinusoidal_embedding


def patchify(x: jax.Array, p: int) -> jax.Array:
    """[B, H, W, C] -> [B, (H/p)(W/p), p*p*C]: the p x p patches in row-major order, each
    flattened row-major (rows, columns, channels)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(tokens: jax.Array, p: int, height: int, width: int) -> jax.Array:
    """The inverse of ``patchify``: [B, N, p*p*C] -> [B, height, width, C]."""
    b, _, d = tokens.shape
    c = d // (p * p)
    x = tokens.reshape(b, height // p, width // p, p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, height, width, c)


def position_embedding_2d(rows: int, cols: int, dim: int) -> np.ndarray:
    """Fixed 2-D sin-cos position embedding [rows * cols, dim] (MAE / DiT): half the
    features the 1-D embedding of the row index, half that of the column index, each
    [sin(i w_k), cos(i w_k)], w_k = 10000^(-k / (dim/4)), k < dim/4."""
    if dim % 4:
        raise ValueError(
            f"DiT width must be a multiple of 4 for its position embedding, got {dim}."
        )
    w = 1.0 / 10000 ** (np.arange(dim // 4) / (dim / 4))
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")

    def embed(pos):
        angles = pos.reshape(-1, 1) * w
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    return np.concatenate([embed(i), embed(j)], axis=1).astype(np.float32)


def modulate(x: jax.Array, shift: jax.Array, scale: jax.Array) -> jax.Array:
    """x * (1 + scale) + shift, per example: x [B, N, D], shift and scale [B, D]."""
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """One DiT block with adaLN-Zero conditioning on c [B, D] (module docstring)."""

    num_heads: int
    mlp_ratio: int = 4

    @nn.compact
    def __call__(self, x: jax.Array, c: jax.Array) -> jax.Array:
        d = x.shape[-1]
        ada = nn.Dense(6 * d, kernel_init=nn.initializers.zeros, name="adaLN")(nn.silu(c))
        shift1, scale1, gate1, shift2, scale2, gate2 = jnp.split(ada, 6, axis=-1)
        norm = lambda name: nn.LayerNorm(use_bias=False, use_scale=False, name=name)  # noqa: E731
        h = modulate(norm("ln_attn")(x), shift1, scale1)
        attention = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, name="attn")
        x = x + gate1[:, None] * attention(h, h)
        h = modulate(norm("ln_mlp")(x), shift2, scale2)
        return x + gate2[:, None] * MLP(self.mlp_ratio * d, name="mlp")(h)


class DiT(nn.Module):
    """eps_theta(x_t [B, H, W, C], t [B] int, y [B] int | None) -> eps_pred [B, H, W, C],
    H and W multiples of `patch_size` (module docstring). With `num_classes`, y in
    0..num_classes-1 is a class and y = num_classes (``null_label``) the learned empty class
    of classifier-free guidance, as in the U-Net."""

    patch_size: int = 2
    width: int = 128
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: int = 4
    num_classes: int | None = None

    @property
    def null_label(self) -> int:
        """The label of the learned "empty" class (class-conditional models only)."""
        if self.num_classes is None:
            raise ValueError("DiT.null_label: this DiT is unconditional (num_classes=None).")
        return self.num_classes

    @nn.compact
    def __call__(self, x: jax.Array, t: jax.Array, y: jax.Array | None = None) -> jax.Array:
        b, h, w, channels = x.shape
        p, d = self.patch_size, self.width
        if h % p or w % p:
            raise ValueError(
                f"DiT: image {h}x{w} is not a whole number of {p}x{p} patches; pick "
                f"model.patch_size dividing both (e.g. 2 or 4 for 28x28, 7 for 28x28 too)."
            )
        tokens = nn.Dense(d, name="patch_embed")(patchify(x, p))
        tokens = tokens + position_embedding_2d(h // p, w // p, d)
        c = nn.Dense(d)(nn.silu(nn.Dense(d)(sinusoidal_embedding(t, d))))
        if y is not None:
            c = c + nn.Embed(self.num_classes + 1, d, name="label_embed")(y)
        for i in range(self.depth):
            tokens = DiTBlock(self.num_heads, self.mlp_ratio, name=f"block_{i}")(tokens, c)
        shift, scale = jnp.split(
            nn.Dense(2 * d, kernel_init=nn.initializers.zeros, name="final_adaLN")(nn.silu(c)),
            2,
            axis=-1,
        )
        tokens = modulate(nn.LayerNorm(use_bias=False, use_scale=False)(tokens), shift, scale)
        out = nn.Dense(p * p * channels, kernel_init=nn.initializers.zeros, name="final")(tokens)
        return unpatchify(out, p, h, w)
