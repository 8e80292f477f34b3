"""CLIP (Radford et al. 2021): a ViT image encoder and a causal transformer text encoder
projected into one embedding space, trained with losses.clip_loss.

    ViT (Dosovitskiy et al. 2021): image [B, H, W, C] -> p x p patches, linear embedding,
      a learned [CLS] token and learned positions -> Transformer -> the [CLS] feature ->
      linear projection (no bias) to the embedding.
    Text: tokens [B, L] -> token and learned position embeddings -> causal Transformer ->
      the feature at the EOS token (the sequence's summary; with the causal mask, padding
      after EOS cannot change it) -> linear projection to the embedding.
    log_temperature t: a learned scalar, initialised to log(1 / 0.07); logits exp(t) <u, v>
      (exp(t) capped at 100 as in CLIP: `temperature_scale`).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.models.transformer import Transformer

EOS = 2  # jaxgen.data.captions' end-of-sequence id
MAX_SCALE = 100.0


class ViT(nn.Module):
    """Image [B, H, W, C] in [-1, 1] -> [B, embed_dim] (the projected [CLS] feature)."""

    patch: int
    width: int
    depth: int
    num_heads: int
    embed_dim: int

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        p = self.patch
        x = nn.Conv(self.width, (p, p), strides=(p, p), padding="VALID", name="patches")(images)
        x = x.reshape(x.shape[0], -1, self.width)  # [B, N, width]
        cls = self.param("cls", nn.initializers.normal(0.02), (1, 1, self.width))
        x = jnp.concatenate([jnp.broadcast_to(cls, (x.shape[0], 1, self.width)), x], axis=1)
        x = x + self.param("positions", nn.initializers.normal(0.02), x.shape[1:])
        x = Transformer(self.depth, self.num_heads, name="transformer")(x)
        return nn.Dense(self.embed_dim, use_bias=False, name="projection")(x[:, 0])


class TextEncoder(nn.Module):
    """Tokens [B, L] int (each row holds one EOS) -> [B, embed_dim]: the projected feature
    of a causal transformer at the EOS position."""

    vocab_size: int
    width: int
    depth: int
    num_heads: int
    embed_dim: int

    @nn.compact
    def __call__(self, tokens: jax.Array, token_features: bool = False) -> jax.Array:
        """With `token_features`: the transformer's output at every place [B, L, width]
        (what Imagen's U-Net attends to), not the projected EOS feature."""
        x = nn.Embed(self.vocab_size, self.width, name="tokens")(tokens)
        x = x + self.param("positions", nn.initializers.normal(0.01), x.shape[1:])
        x = Transformer(self.depth, self.num_heads, causal=True, name="transformer")(x)
        if token_features:
            return x
        eos = jnp.argmax(tokens == EOS, axis=1)  # [B]
        return nn.Dense(self.embed_dim, use_bias=False, name="projection")(
            x[jnp.arange(x.shape[0]), eos]
        )


class CLIP(nn.Module):
    """The two encoders and the learned log temperature: __call__(images, tokens) ->
    (image embeddings [B, E], text embeddings [B, E], log_temperature)."""

    image: ViT
    text: TextEncoder

    def setup(self) -> None:
        self.log_temperature = self.param(
            "log_temperature", lambda _: jnp.asarray(jnp.log(1 / 0.07), jnp.float32)
        )

    def encode_image(self, images: jax.Array) -> jax.Array:
        return self.image(images)

    def encode_text(self, tokens: jax.Array) -> jax.Array:
        return self.text(tokens)

    def encode_text_tokens(self, tokens: jax.Array) -> jax.Array:
        """[B, L, text width]: the text transformer's features at every place."""
        return self.text(tokens, token_features=True)

    def __call__(
        self, images: jax.Array, tokens: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        return self.image(images), self.text(tokens), temperature_scale(self.log_temperature)


def temperature_scale(log_temperature: jax.Array) -> jax.Array:
    """log_temperature with exp(.) capped at MAX_SCALE (CLIP's clip at 100)."""
    return jnp.minimum(log_temperature, jnp.log(MAX_SCALE))
