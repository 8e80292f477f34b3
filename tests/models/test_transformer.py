"""Transformer blocks: one block against a numpy transcription of its equations, causality
by the Jacobian, cross-attention, permutation equivariance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.models.transformer import Transformer, TransformerBlock

B, N, D, HEADS = 2, 5, 8, 2


def layer_norm(x, p, eps=1e-6):
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * p["scale"] + p["bias"]


def attention(q_in, kv_in, p, mask=None):
    """softmax(Q_h K_h^T / sqrt(d) + mask) V_h per head, heads projected back."""
    q, k, v = (np.einsum("bnd,dhk->bnhk", x, p[n]["kernel"]) + p[n]["bias"]
               for x, n in ((q_in, "query"), (kv_in, "key"), (kv_in, "value")))  # fmt: skip
    logits = np.einsum("bnhk,bmhk->bhnm", q, k) / np.sqrt(q.shape[-1])
    if mask is not None:
        logits = np.where(mask, logits, -np.inf)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    heads = np.einsum("bhnm,bmhk->bnhk", weights, v)
    return np.einsum("bnhk,hkd->bnd", heads, p["out"]["kernel"]) + p["out"]["bias"]


def gelu(x):  # flax's nn.gelu: the tanh approximation
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def block_reference(x, p, context=None, causal=False):
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), p)
    mask = np.tril(np.ones((N, N), bool))[None, None] if causal else None
    h = layer_norm(x, p["ln_attn"])
    x = x + attention(h, h, p["self_attn"], mask)
    if context is not None:
        x = x + attention(layer_norm(x, p["ln_cross"]), context, p["cross_attn"])
    h = gelu(layer_norm(x, p["ln_mlp"]) @ p["mlp"]["fc1"]["kernel"] + p["mlp"]["fc1"]["bias"])
    return x + h @ p["mlp"]["fc2"]["kernel"] + p["mlp"]["fc2"]["bias"]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("with_context", [False, True])
def test_block_matches_its_equations_in_numpy(causal, with_context):
    kx, kc, kp = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(kx, (B, N, D))
    context = jax.random.normal(kc, (B, 3, 6)) if with_context else None
    block = TransformerBlock(HEADS, causal=causal)
    params = block.init(kp, x, context)["params"]
    params = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(kp, a.shape), params)  # LN too
    got = block.apply({"params": params}, x, context)
    ctx = None if context is None else np.asarray(context, np.float64)
    want = block_reference(np.asarray(x, np.float64), params, ctx, causal)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert ("cross_attn" in params) == with_context


def test_causal_transformer_never_looks_ahead():
    """d out_i / d x_j = 0 for every j > i (exactly), and != 0 for j <= i."""
    model = Transformer(depth=2, num_heads=HEADS, causal=True)
    x = jax.random.normal(jax.random.PRNGKey(1), (1, N, D))
    params = model.init(jax.random.PRNGKey(2), x)
    jac = jax.jacobian(lambda x: model.apply(params, x))(x)[0, :, :, 0, :, :]  # [N, D, N, D]
    influence = np.abs(np.asarray(jac)).sum(axis=(1, 3))  # [i, j]
    future = np.triu(np.ones((N, N), bool), k=1)
    assert np.all(influence[future] == 0)
    assert np.all(influence[~future] > 0)
    full = Transformer(depth=2, num_heads=HEADS)  # the same without the mask looks ahead
    jac = jax.jacobian(lambda x: full.apply(params, x))(x)[0, :, :, 0, :, :]
    assert np.all(np.abs(np.asarray(jac)).sum(axis=(1, 3))[future] > 0)


def test_without_positions_attention_is_permutation_equivariant():
    model = Transformer(depth=2, num_heads=HEADS)
    x = jax.random.normal(jax.random.PRNGKey(3), (B, N, D))
    params = model.init(jax.random.PRNGKey(4), x)
    perm = jnp.array([3, 0, 4, 1, 2])
    np.testing.assert_allclose(
        model.apply(params, x[:, perm]), model.apply(params, x)[:, perm], rtol=1e-5, atol=1e-5
    )


def test_padding_mask_hides_padded_keys():
    """Keys masked out do not change the output of the positions that see no padding."""
    model = Transformer(depth=1, num_heads=HEADS)
    x = jax.random.normal(jax.random.PRNGKey(5), (1, N, D))
    params = model.init(jax.random.PRNGKey(6), x)
    valid = jnp.arange(N)[None] < 3
    mask = jax.numpy.asarray(jax.vmap(lambda v: v[:, None] & v[None, :])(valid))[:, None]
    changed = x.at[:, 3:].set(jax.random.normal(jax.random.PRNGKey(7), (1, N - 3, D)))
    a, b = (model.apply(params, v, mask=mask)[:, :3] for v in (x, changed))
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
