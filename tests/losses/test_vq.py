"""Tests for jaxgen.losses.vq."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.losses import (
    codebook_perplexity,
    ema_codebook_update,
    init_ema_codebook,
    vector_quantize,
    vq_loss,
)

from ._helpers import assert_per_example


def _data(seed=0, shape=(2, 3, 3, 4), num_codes=6):
    rng = np.random.default_rng(seed)
    z_e = rng.normal(size=shape).astype(np.float32)
    codebook = rng.normal(size=(num_codes, shape[-1])).astype(np.float32)
    return z_e, codebook


class QuantizeTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_nearest_codeword(self):
        z_e, codebook = _data()
        out = self.variant(vector_quantize)(z_e, codebook)
        d = ((np.float64(z_e)[..., None, :] - np.float64(codebook)) ** 2).sum(-1)  # [..., K]
        expected = d.argmin(-1)
        np.testing.assert_array_equal(out.indices, expected)
        assert out.indices.dtype == jnp.int32
        np.testing.assert_array_equal(out.codewords, codebook[expected])
        np.testing.assert_array_equal(out.z_q, codebook[expected])  # forward = e_k exactly

    @chex.variants(with_jit=True, without_jit=True)
    def test_straight_through_gradient_is_exact(self):
        z_e, codebook = _data(1)
        c = np.random.default_rng(2).normal(size=z_e.shape).astype(np.float32)
        # Linear f(z_q) = sum(c * z_q): dL/dz_q = c must arrive bit-for-bit at z_e.
        linear = lambda z_e, cb: jnp.sum(c * vector_quantize(z_e, cb).z_q)
        g_ze, g_cb = self.variant(jax.grad(linear, (0, 1)))(z_e, codebook)
        np.testing.assert_array_equal(g_ze, c)
        np.testing.assert_array_equal(g_cb, np.zeros_like(codebook))  # no codebook grad via z_q
        # Non-linear f(z_q) = sum(c * z_q^2): dL/dz_e = 2 c e_k, evaluated at the codeword.
        square = lambda z_e: jnp.sum(c * vector_quantize(z_e, codebook).z_q ** 2)
        e_k = np.float64(codebook)[vector_quantize(z_e, codebook).indices]
        np.testing.assert_allclose(self.variant(jax.grad(square))(z_e), 2 * c * e_k, rtol=1e-6)

    def test_vmap_per_example(self):
        z_e, codebook = _data(3)
        batched = jax.jit(vector_quantize)(z_e, codebook)
        single = jax.jit(jax.vmap(lambda z: vector_quantize(z[None], codebook).indices[0]))(z_e)
        np.testing.assert_array_equal(single, batched.indices)

    def test_shape_error(self):
        with pytest.raises(ValueError, match=r"codebook shape \(6, 3\) does not match z_e shape"):
            vector_quantize(jnp.zeros((2, 4, 4)), jnp.zeros((6, 3)))


class VQLossTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        self.z_e, self.codebook = _data(4)
        self.codewords = vector_quantize(self.z_e, self.codebook).codewords
        self.n = np.prod(self.z_e.shape[1:])  # elements per example

    @chex.variants(with_jit=True, without_jit=True)
    def test_values(self):
        loss, terms = self.variant(lambda z, e: vq_loss(z, e, beta=0.25))(self.z_e, self.codewords)
        sq = ((np.float64(self.z_e) - np.float64(self.codewords)) ** 2).reshape(2, -1).mean(-1)
        np.testing.assert_allclose(terms["codebook"], sq, rtol=1e-5)
        np.testing.assert_allclose(terms["commitment"], sq, rtol=1e-5)
        np.testing.assert_allclose(loss, 1.25 * sq, rtol=1e-5)
        assert_per_example(vq_loss, self.z_e, self.codewords)

    def test_gradients_route_to_codebook_and_encoder(self):
        def term(name, z_e, codebook):
            codewords = vector_quantize(z_e, codebook).codewords
            return vq_loss(z_e, codewords)[1][name].sum()

        diff = self.z_e - self.codewords  # [B, H, W, D]
        # Commitment: gradient 2 (z_e - e) / n to the encoder, none to the codebook.
        g_ze, g_cb = jax.grad(lambda z, c: term("commitment", z, c), (0, 1))(
            self.z_e, self.codebook
        )
        np.testing.assert_allclose(g_ze, 2 * diff / self.n, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(g_cb, np.zeros_like(self.codebook))
        # Codebook: gradient -2 sum_{i: k_i = j} (z_e_i - e_j) / n to code j, none to z_e.
        g_ze, g_cb = jax.grad(lambda z, c: term("codebook", z, c), (0, 1))(self.z_e, self.codebook)
        np.testing.assert_array_equal(g_ze, np.zeros_like(self.z_e))
        idx = vector_quantize(self.z_e, self.codebook).indices.reshape(-1)
        expected = np.zeros_like(self.codebook, dtype=np.float64)
        np.add.at(expected, np.asarray(idx), -2 * diff.reshape(-1, 4) / self.n)
        np.testing.assert_allclose(g_cb, expected, rtol=1e-5, atol=1e-7)

    def test_shape_error(self):
        with pytest.raises(ValueError, match=r"z_e shape \(2, 3\) != codewords shape \(2, 4\)"):
            vq_loss(jnp.zeros((2, 3)), jnp.zeros((2, 4)))


def _numpy_ema(cluster_size, embed_sum, z, idx, decay, eps):
    k = cluster_size.shape[0]
    counts = np.array([(idx == j).sum() for j in range(k)], np.float64)
    sums = np.stack([z[idx == j].sum(0) for j in range(k)])
    cluster_size = decay * cluster_size + (1 - decay) * counts
    embed_sum = decay * embed_sum + (1 - decay) * sums
    n = cluster_size.sum()
    smoothed = (cluster_size + eps) / (n + k * eps) * n
    return cluster_size, embed_sum, embed_sum / smoothed[:, None]


class EMATest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_matches_numpy_over_steps(self):
        z_e, codebook = _data(5, shape=(4, 4, 4, 3), num_codes=5)
        update = self.variant(lambda s, z, i: ema_codebook_update(s, z, i, decay=0.9, eps=1e-3))
        state = init_ema_codebook(codebook)
        ref = (np.ones(5), np.float64(codebook))
        for step in range(3):
            z = z_e + step  # drift the inputs so the codes move
            idx = vector_quantize(z, state.codebook).indices
            state = update(state, z, idx)
            ref = _numpy_ema(
                *ref[:2], np.float64(z).reshape(-1, 3), np.asarray(idx).ravel(), 0.9, 1e-3
            )
            for got, expected in zip(state, ref, strict=True):
                np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    def test_zero_decay_is_a_k_means_step(self):
        # gamma = 0 and eps -> 0: e_j = mean of the inputs assigned to j.
        z = jnp.array([[[0.0, 0.0], [1.0, 0.0], [10.0, 10.0], [12.0, 10.0]]])  # [1, 4, 2]
        state = init_ema_codebook(jnp.array([[0.0, 1.0], [11.0, 11.0]]))
        idx = jax.jit(vector_quantize)(z, state.codebook).indices
        new = jax.jit(ema_codebook_update)(state, z, idx, decay=0.0, eps=1e-9)
        np.testing.assert_allclose(new.codebook, [[0.5, 0.0], [11.0, 10.0]], rtol=1e-6)
        np.testing.assert_allclose(new.cluster_size, [2.0, 2.0])

    def test_init_state_is_a_fixed_point_without_data_pull(self):
        # Inputs equal to their codewords leave the codebook unchanged.
        codebook = jnp.array([[1.0, 2.0], [-3.0, 0.5], [0.0, 0.0]])
        z = codebook[None]  # every code used once, at its own position
        state = init_ema_codebook(codebook)
        new = ema_codebook_update(state, z, jnp.array([[0, 1, 2]]), decay=0.5, eps=0.0)
        np.testing.assert_allclose(new.codebook, codebook, rtol=1e-6)

    def test_axis_name_sums_over_shards(self):
        z_e, codebook = _data(6, shape=(4, 2, 2, 3), num_codes=4)
        state = init_ema_codebook(codebook)
        idx = vector_quantize(z_e, codebook).indices
        full = ema_codebook_update(state, z_e, idx)
        sharded = jax.jit(
            jax.vmap(
                lambda z, i: ema_codebook_update(state, z, i, axis_name="data"), axis_name="data"
            )
        )(z_e.reshape(2, 2, 2, 2, 3), idx.reshape(2, 2, 2, 2))
        for got, expected in zip(sharded, full, strict=True):
            np.testing.assert_allclose(got[0], expected, rtol=1e-5)
            np.testing.assert_allclose(got[1], expected, rtol=1e-5)

    def test_no_gradient_through_update(self):
        z_e, codebook = _data(7)
        idx = vector_quantize(z_e, codebook).indices
        grad = jax.grad(
            lambda z: ema_codebook_update(init_ema_codebook(codebook), z, idx).codebook.sum()
        )(z_e)
        np.testing.assert_array_equal(grad, np.zeros_like(z_e))

    def test_shape_error(self):
        state = init_ema_codebook(jnp.zeros((4, 3)))
        with pytest.raises(ValueError, match=r"indices shape \(2, 5\) != z_e shape \(2, 4, 3\)"):
            ema_codebook_update(state, jnp.zeros((2, 4, 3)), jnp.zeros((2, 5), jnp.int32))


class PerplexityTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_values(self):
        fn = self.variant(lambda i: codebook_perplexity(i, 8))
        np.testing.assert_allclose(fn(jnp.arange(8).reshape(2, 4)), 8.0, rtol=1e-6)
        np.testing.assert_allclose(fn(jnp.full((2, 4), 3)), 1.0, rtol=1e-6)
        idx = np.array([[0, 0, 0, 1], [1, 2, 2, 2]])
        p = np.array([3, 2, 3]) / 8
        np.testing.assert_allclose(fn(idx), np.exp(-(p * np.log(p)).sum()), rtol=1e-6)
