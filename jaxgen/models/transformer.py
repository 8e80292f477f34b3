"""Transformer blocks (Vaswani et al. 2017) in the pre-LN form of GPT-2 and ViT (Xiong et al.
2020): the machinery of CLIP's encoders, DALL-E's decoder and Imagen's text conditioning.

    x <- x + SelfAttention(LN(x))            (causal: position i attends to j <= i only)
    x <- x + CrossAttention(LN(x), context)  (when a context is given)
    x <- x + MLP(LN(x)),   MLP(h) = W2 gelu(W1 h + b1) + b2,  hidden width mlp_ratio * D

Attention is flax's ``nn.MultiHeadDotProductAttention``: per head h,
softmax(Q_h K_h^T / sqrt(d_head) + mask) V_h, heads concatenated and projected.
Sequences are [B, N, D]; a context is [B, M, D_c].
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class MLP(nn.Module):
    """W2 gelu(W1 x + b1) + b2 with hidden width `hidden`, back to the input's width."""

    hidden: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.gelu(nn.Dense(self.hidden, name="fc1")(x))
        return nn.Dense(x.shape[-1], name="fc2")(h)


class TransformerBlock(nn.Module):
    """One pre-LN block: self-attention (causal if `causal`), cross-attention to `context`
    when one is given, MLP; each a residual branch after a LayerNorm."""

    num_heads: int
    mlp_ratio: int = 4
    causal: bool = False
    decode: bool = False  # one place per call, keys and values cached ('cache' collection)

    @nn.compact
    def __call__(
        self, x: jax.Array, context: jax.Array | None = None, mask: jax.Array | None = None
    ) -> jax.Array:
        """x [B, N, D]; context [B, M, D_c] or None; mask [B, 1, N, N] (True: may attend),
        e.g. nn.make_attention_mask of a padding mask, combined with the causal one. With
        `decode`, x is [B, 1, D], the next place, and attends to the cached places before
        it and itself (flax's autoregressive cache; the first call, on a whole sequence,
        only makes the empty cache)."""
        if self.causal and not self.decode:
            causal = nn.make_causal_mask(jnp.ones(x.shape[:2], bool))
            mask = causal if mask is None else nn.combine_masks(mask, causal)
        attention = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads, decode=self.decode, name="self_attn"
        )
        h = nn.LayerNorm(name="ln_attn")(x)
        x = x + attention(h, h, mask=mask)
        if context is not None:
            cross = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, name="cross_attn")
            x = x + cross(nn.LayerNorm(name="ln_cross")(x), context)
        return x + MLP(self.mlp_ratio * x.shape[-1], name="mlp")(nn.LayerNorm(name="ln_mlp")(x))


class Transformer(nn.Module):
    """`depth` TransformerBlocks and a final LayerNorm: [B, N, D] -> [B, N, D]."""

    depth: int
    num_heads: int
    mlp_ratio: int = 4
    causal: bool = False
    decode: bool = False

    @nn.compact
    def __call__(
        self, x: jax.Array, context: jax.Array | None = None, mask: jax.Array | None = None
    ) -> jax.Array:
        for i in range(self.depth):
            block = TransformerBlock(
                self.num_heads, self.mlp_ratio, self.causal, self.decode, name=f"block_{i}"
            )
            x = block(x, context, mask)
        return nn.LayerNorm(name="ln_final")(x)
