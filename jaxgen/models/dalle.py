"""DALL-E (Ramesh et al. 2021): a decoder-only transformer over [caption tokens; image codes],
the image codes being a frozen VQ-VAE's (here in place of the paper's dVAE).

    sequence  s = [t_1 .. t_L, BOS, c_1 .. c_M]     (L = 0: an unconditional prior over codes)
    p(c | t)  = prod_m p(c_m | t, c_<m)              (causal self-attention over s)

Text tokens and image codes have their own embedding tables and output heads; positions are
learned over the L + M + 1 places. The input is s without its last code; the output at the
place of t_i predicts t_(i+1) and the output at the place of BOS or c_(m-1) predicts c_m.
Sampling draws c_1 .. c_M one at a time (``sample_codes``), with a temperature and top-k,
each place one pass of the network over flax's cache of keys and values.
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
    so code logits m are p(c_m | t, c_<m) and text logits i are p(t_(i+1) | t_<=i). With
    `decode`, ``next_code_logits`` runs one place at a time on cached keys and values."""

    text_vocab: int
    text_len: int  # L, 0 for an unconditional prior
    num_codes: int  # K, the VQ-VAE's codebook size
    code_len: int  # M, codes per image (h * w, raster order)
    width: int
    depth: int
    num_heads: int
    decode: bool = False

    def setup(self) -> None:
        self.code_embed = nn.Embed(self.num_codes + 1, self.width)  # + BOS
        places = (self.text_len + self.code_len, self.width)
        self.positions = self.param("positions", nn.initializers.normal(0.02), places)
        self.transformer = Transformer(self.depth, self.num_heads, causal=True, decode=self.decode)
        self.code_head = nn.Dense(self.num_codes)
        if self.text_len:
            self.text_embed = nn.Embed(self.text_vocab, self.width)
            self.text_head = nn.Dense(self.text_vocab)

    def __call__(
        self, text: jax.Array | None, codes: jax.Array
    ) -> tuple[jax.Array | None, jax.Array]:
        start = jnp.full((codes.shape[0], 1), self.num_codes)  # BOS: the code table's last row
        x = self.code_embed(jnp.concatenate([start, codes[:, :-1]], axis=1))
        if self.text_len:
            x = jnp.concatenate([self.text_embed(text), x], axis=1)
        x = self.transformer(x + self.positions)
        code_logits = self.code_head(x[:, self.text_len :])
        if not self.text_len:
            return None, code_logits
        return self.text_head(x[:, : self.text_len]), code_logits

    def next_code_logits(self, token: jax.Array, place: jax.Array) -> jax.Array:
        """Decode mode, one place of the sequence: token [B] (a text id at places < L, BOS or
        a code id after) -> code logits [B, K] of the code after it."""
        x = self.code_embed(jnp.minimum(token, self.num_codes))
        if self.text_len:
            words = self.text_embed(jnp.minimum(token, self.text_vocab - 1))
            x = jnp.where(place < self.text_len, words, x)
        h = self.transformer((x + self.positions[place])[:, None])
        return self.code_head(h[:, 0])


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
    lax.scan over the L + M places with cached keys and values (one place per network pass,
    not the whole sequence per code); code m gets key split(key, M)[m - 1].
    text: [num_samples, L] or None."""
    decoder = model.clone(decode=True)
    L, M = model.text_len, model.code_len
    tokens = jnp.zeros((num_samples, L + M), jnp.int32).at[:, L].set(model.num_codes)  # BOS
    if L:
        tokens = tokens.at[:, :L].set(text)
    shapes = jax.eval_shape(decoder.init, jax.random.key(0), text, tokens[:, L:])["cache"]
    cache = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes)
    keys = jax.random.split(key, M)

    def place(carry, p):
        tokens, cache = carry
        logits, variables = decoder.apply(
            {"params": params, "cache": cache},
            tokens[:, p],
            p,
            method=DALLE.next_code_logits,
            mutable=["cache"],
        )
        m = jnp.clip(p - L, 0, M - 1)  # the code these logits are for (from place L on)
        drawn = jax.random.categorical(keys[m], top_k_logits(logits, top_k) / temperature)
        following = jnp.minimum(p + 1, L + M - 1)  # c_m is the input of place L + m + 1
        keep = tokens[:, following]
        tokens = tokens.at[:, following].set(jnp.where((p >= L) & (p < L + M - 1), drawn, keep))
        return (tokens, variables["cache"]), jnp.where(p >= L, drawn, 0)

    _, drawn = lax.scan(place, (tokens, cache), jnp.arange(L + M))
    return drawn[L:].T
