"""DALL-E (Ramesh et al. 2021): a decoder-only transformer over [caption tokens; image codes],
the image codes being a frozen VQ-VAE's (here in place of the paper's dVAE).

    sequence  s = [t_1 .. t_L, BOS, c_1 .. c_M]     (L = 0: an unconditional prior over codes)
    p(c | t)  = prod_m p(c_m | t, c_<m)              (causal self-attention over s)

Text tokens and image codes have their own embedding tables and output heads; positions are
learned over the L + M + 1 places. The input is s without its last code; the output at the
place of t_i predicts t_(i+1) and the output at the place of BOS or c_(m-1) predicts c_m.
Sampling draws c_1 .. c_M one at a time (``sample_codes``), with a temperature and top-k.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxgen.models.transformer import Transformer
from jaxgen.models.types import PyTree


class DALLE(nn.Module):
    """(text [B, L] int or None, codes [B, M] int) -> (text logits [B, L, text_vocab] (None
    without text), code logits [B, M, num_codes]); output l predicts the token after place l,
    so code logits m are p(c_m | t, c_<m) and text logits i are p(t_(i+1) | t_<=i)."""

    text_vocab: int
    text_len: int  # L, 0 for an unconditional prior
    num_codes: int  # K, the VQ-VAE's codebook size
    code_len: int  # M, codes per image (h * w, raster order)
    width: int
    depth: int
    num_heads: int

    @nn.compact
    def __call__(
        self, text: jax.Array | None, codes: jax.Array
    ) -> tuple[jax.Array | None, jax.Array]:
        batch = codes.shape[0]
        start = jnp.full((batch, 1), self.num_codes)  # BOS: an extra row of the code table
        image = nn.Embed(self.num_codes + 1, self.width, name="code_embed")(
            jnp.concatenate([start, codes[:, :-1]], axis=1)
        )
        x = image
        if self.text_len:
            words = nn.Embed(self.text_vocab, self.width, name="text_embed")(text)
            x = jnp.concatenate([words, image], axis=1)
        places = self.text_len + self.code_len
        x = x + self.param("positions", nn.initializers.normal(0.02), (places, self.width))
        x = Transformer(self.depth, self.num_heads, causal=True, name="transformer")(x)
        code_logits = nn.Dense(self.num_codes, name="code_head")(x[:, self.text_len :])
        if not self.text_len:
            return None, code_logits
        return nn.Dense(self.text_vocab, name="text_head")(x[:, : self.text_len]), code_logits


def top_k_logits(logits: jax.Array, k: int) -> jax.Array:
    """logits with every entry below the k-th largest of its row set to -inf (k = 0: all)."""
    if not k or k >= logits.shape[-1]:
        return logits
    kth = lax.top_k(logits, k)[0][..., -1:]
    return jnp.where(logits < kth, -jnp.inf, logits)


def sample_codes(
    model: DALLE,
    params: PyTree,
    key: jax.Array,
    text: jax.Array | None,
    num_samples: int,
    temperature: float = 1.0,
    top_k: int = 0,
) -> jax.Array:
    """[num_samples, M] codes drawn c_m ~ softmax(top_k(l_m) / temperature), m = 1..M, in one
    lax.scan; l_m from the model on the codes drawn so far (later places hold 0s, which the
    causal mask hides from l_m). text: [num_samples, L] or None."""

    def draw(codes, inputs):
        m, key = inputs
        _, logits = model.apply({"params": params}, text, codes)
        chosen = jax.random.categorical(key, top_k_logits(logits[:, m], top_k) / temperature)
        return codes.at[:, m].set(chosen), None

    m = jnp.arange(model.code_len)
    codes = jnp.zeros((num_samples, model.code_len), jnp.int32)
    return lax.scan(draw, codes, (m, jax.random.split(key, model.code_len)))[0]
