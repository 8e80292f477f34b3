"""Tests for jaxgen.losses.style."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.losses import content_loss, gram_matrix, style_loss, total_variation

from ._helpers import assert_per_example


def _feats(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _gatys_layer_loss(f, a):
    """Gatys et al. eq. 4 with unnormalised Grams, one example: f, a are [H, W, C]."""
    n, m = f.shape[-1], f.shape[0] * f.shape[1]
    ff, aa = f.reshape(m, n), a.reshape(m, n)
    g, s = ff.T @ ff, aa.T @ aa
    return ((g - s) ** 2).sum() / (4 * n**2 * m**2)


class StyleTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        self.layers = [_feats(0, (2, 6, 6, 3)), _feats(1, (2, 3, 3, 5))]
        self.style = [_feats(2, (2, 6, 6, 3)), _feats(3, (2, 3, 3, 5))]

    @chex.variants(with_jit=True, without_jit=True)
    def test_gram_matrix(self):
        f = np.float64(self.layers[0])
        expected = np.einsum("bhwi,bhwj->bij", f, f) / 36
        np.testing.assert_allclose(self.variant(gram_matrix)(self.layers[0]), expected, rtol=1e-5)
        assert_per_example(gram_matrix, self.layers[0])

    @chex.variants(with_jit=True, without_jit=True)
    def test_style_loss_matches_gatys(self):
        grams = [gram_matrix(s) for s in self.style]
        loss, terms = self.variant(lambda f, g: style_loss(f, g, [0.3, 0.7]))(self.layers, grams)
        expected = np.array(
            [
                [_gatys_layer_loss(np.float64(f[b]), np.float64(s[b])) for b in range(2)]
                for f, s in zip(self.layers, self.style, strict=True)
            ]
        )  # [L, B]
        np.testing.assert_allclose(terms["0"], expected[0], rtol=1e-4)
        np.testing.assert_allclose(terms["1"], expected[1], rtol=1e-4)
        np.testing.assert_allclose(loss, 0.3 * expected[0] + 0.7 * expected[1], rtol=1e-4)
        per_example = jax.jit(
            jax.vmap(
                lambda f0, f1, g0, g1: style_loss(
                    [f0[None], f1[None]], [g0[None], g1[None]], [0.3, 0.7]
                )[0][0]
            )
        )(*self.layers, *grams)
        np.testing.assert_allclose(per_example, loss, rtol=1e-5)

    def test_style_loss_defaults_dict_and_broadcast_target(self):
        # Default weights 1/L; named layers; one style image for the whole batch.
        feats = {"relu1": self.layers[0], "relu2": self.layers[1]}
        grams = {name: gram_matrix(s[:1]) for name, s in zip(feats, self.style, strict=True)}
        loss, terms = style_loss(feats, grams)
        assert set(terms) == {"relu1", "relu2"}
        for b in range(2):
            per_layer = [
                _gatys_layer_loss(np.float64(f[b]), np.float64(s[0]))
                for f, s in zip(self.layers, self.style, strict=True)
            ]
            np.testing.assert_allclose(loss[b], np.mean(per_layer), rtol=1e-4)

    def test_style_loss_gradient_vanishes_at_the_target(self):
        grams = [gram_matrix(s) for s in self.style]
        grad = jax.jit(jax.grad(lambda f: style_loss(f, grams)[0].sum()))(self.style)
        for g in grad:
            np.testing.assert_allclose(g, np.zeros_like(g), atol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_content_loss(self):
        f, p = self.layers[0], self.style[0]
        expected = 0.5 * ((np.float64(f) - p) ** 2).reshape(2, -1).sum(-1)
        np.testing.assert_allclose(self.variant(content_loss)(f, p), expected, rtol=1e-5)
        grad = jax.grad(lambda f: content_loss(f, p).sum())(f)  # Gatys eq. 2: F - P
        np.testing.assert_allclose(grad, f - p, rtol=1e-5, atol=1e-6)
        assert_per_example(content_loss, f, p)

    @chex.variants(with_jit=True, without_jit=True)
    def test_total_variation(self):
        x = _feats(4, (3, 5, 4, 2))
        x64 = np.float64(x)
        expected = 0.0
        for axis in (1, 2):
            expected = expected + np.abs(np.diff(x64, axis=axis)).reshape(3, -1).sum(-1)
        np.testing.assert_allclose(self.variant(total_variation)(x), expected, rtol=1e-5)
        assert_per_example(total_variation, x)
        # Constant images have none; a 0/1 checkerboard on H x W has 2 H W - H - W jumps.
        np.testing.assert_array_equal(total_variation(jnp.ones((1, 4, 4, 1))), [0.0])
        board = (np.indices((4, 5)).sum(0) % 2).astype(np.float32)[None, :, :, None]
        np.testing.assert_array_equal(total_variation(board), [2 * 20 - 4 - 5])

    def test_errors(self):
        grams = [gram_matrix(s) for s in self.style]
        with pytest.raises(ValueError, match=r"layer 1: target_grams shape \(2, 3, 3\)"):
            style_loss(self.layers, [grams[0], grams[0]])
        with pytest.raises(ValueError, match=r"must match and be non-empty"):
            style_loss(self.layers, grams[:1])
        with pytest.raises(ValueError, match=r"features shape \(2, 6, 6, 3\) != target_features"):
            content_loss(self.layers[0], self.style[1])
        with pytest.raises(ValueError, match=r"x has shape \(2, 6, 6\); expected images"):
            total_variation(jnp.zeros((2, 6, 6)))
