"""Tests for jaxgen.losses.gan."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
from absl.testing import parameterized

from jaxgen.losses import (
    cycle_consistency_loss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    pix2pix_l1_loss,
    r1_penalty,
)

from ._helpers import assert_finite, assert_per_example

_log_d = scipy.special.log_expit  # log D = log sigmoid(l); log(1 - D) = log sigmoid(-l)

# Independent float64 references, written from the papers' equations.
D_REF = {
    "minimax": (lambda r: -_log_d(r), lambda f: -_log_d(-f)),
    "wasserstein": (lambda r: -r, lambda f: f),
    "hinge": (lambda r: np.maximum(0, 1 - r), lambda f: np.maximum(0, 1 + f)),
    "least_squares": (lambda r: 0.5 * (r - 1) ** 2, lambda f: 0.5 * f**2),
}
G_REF = {
    "saturating": lambda f: _log_d(-f),  # log(1 - D(G(z)))
    "non_saturating": lambda f: -_log_d(f),  # -log D(G(z))
    "wasserstein": lambda f: -f,
    "hinge": lambda f: -f,
    "least_squares": lambda f: 0.5 * (f - 1) ** 2,
}


class AdversarialLossTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.real = rng.normal(size=(4, 2, 2)).astype(np.float32) * 3  # patch logits
        self.fake = rng.normal(size=(4, 2, 2)).astype(np.float32) * 3

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters(*D_REF)
    def test_discriminator_loss(self, kind):
        loss, terms = self.variant(lambda r, f: discriminator_loss(r, f, kind))(
            self.real, self.fake
        )
        real_ref, fake_ref = D_REF[kind]
        real = real_ref(np.float64(self.real)).reshape(4, -1).mean(-1)
        fake = fake_ref(np.float64(self.fake)).reshape(4, -1).mean(-1)
        np.testing.assert_allclose(terms["real"], real, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(terms["fake"], fake, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(loss, real + fake, rtol=1e-5, atol=1e-6)
        assert_per_example(lambda r, f: discriminator_loss(r, f, kind), self.real, self.fake)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters(*G_REF)
    def test_generator_loss(self, kind):
        got = self.variant(lambda f: generator_loss(f, kind))(self.fake)
        expected = G_REF[kind](np.float64(self.fake)).reshape(4, -1).mean(-1)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        assert_per_example(lambda f: generator_loss(f, kind), self.fake)

    def test_generator_gradients_when_discriminator_rejects_fakes(self):
        # D(G(z)) = sigmoid(l) ~ 0. Both losses push l up (negative gradient), but
        # saturating: dL/dl = -sigmoid(l) -> 0;  non-saturating: dL/dl = -(1 - sigmoid(l)) -> -1.
        logits = jnp.array([-5.0, -10.0, -15.0])
        sat = jax.grad(lambda lg: generator_loss(lg, "saturating").sum())(logits)
        non_sat = jax.grad(lambda lg: generator_loss(lg, "non_saturating").sum())(logits)
        p = scipy.special.expit(np.float64(logits))
        np.testing.assert_allclose(sat, -p, rtol=1e-5)
        np.testing.assert_allclose(non_sat, -(1 - p), rtol=1e-5)
        assert np.all(sat < 0) and np.all(non_sat < 0)
        assert np.all(np.abs(sat) < 1e-2) and np.all(np.abs(non_sat) > 0.99)

    @parameterized.parameters(100.0, -100.0)
    def test_extreme_logits(self, logit):
        logits = jnp.full((2,), logit)
        d_loss, d_grads = jax.value_and_grad(
            lambda r, f: discriminator_loss(r, f)[0].sum(), (0, 1)
        )(logits, -logits)
        # softplus(-100) ~ 3.7e-44, softplus(100) = 100.
        np.testing.assert_allclose(d_loss, 0.0 if logit > 0 else 400.0, atol=1e-6)
        assert_finite(d_grads)
        for kind in ("saturating", "non_saturating"):
            value, grad = jax.value_and_grad(lambda f, k=kind: generator_loss(f, k).sum())(logits)
            np.testing.assert_allclose(value, 2 * G_REF[kind](np.float64(logit)), atol=1e-6)
            assert_finite((value, grad))

    def test_errors(self):
        with pytest.raises(ValueError, match="unknown kind 'relativistic'"):
            generator_loss(jnp.zeros(3), "relativistic")
        with pytest.raises(
            ValueError, match=r"real_logits shape \(4,\) != fake_logits shape \(4, 1\)"
        ):
            discriminator_loss(jnp.zeros(4), jnp.zeros((4, 1)))


def _linear_critic(w):
    return lambda x: jnp.sum(x * w, axis=tuple(range(1, x.ndim)))  # [B]


class PenaltyTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(1)
        self.x_real = rng.normal(size=(5, 3, 3, 2)).astype(np.float32)
        self.x_fake = rng.normal(size=(5, 3, 3, 2)).astype(np.float32)
        w = rng.normal(size=(3, 3, 2)).astype(np.float32)
        self.w_unit = w / np.linalg.norm(w)

    @chex.variants(with_jit=True, without_jit=True)
    def test_gradient_penalty_zero_for_unit_norm_linear_critic(self):
        fn = self.variant(lambda a, b, k: gradient_penalty(_linear_critic(self.w_unit), a, b, k))
        penalty, terms = fn(self.x_real, self.x_fake, jax.random.key(0))
        np.testing.assert_allclose(terms["grad_norm"], np.ones(5), rtol=1e-5)
        np.testing.assert_allclose(penalty, np.zeros(5), atol=1e-10)

    @chex.variants(with_jit=True, without_jit=True)
    def test_gradient_penalty_for_scaled_critic_and_its_parameter_gradient(self):
        # f(x) = w.x with ||w|| = 3: GP = (3 - 1)^2 = 4, dGP/dw = 2 (||w|| - 1) w / ||w||.
        w = 3 * self.w_unit
        gp = lambda w: gradient_penalty(
            _linear_critic(w), self.x_real, self.x_fake, jax.random.key(1)
        )[0]
        np.testing.assert_allclose(self.variant(gp)(w), np.full(5, 4.0), rtol=1e-5)
        grad = self.variant(jax.grad(lambda w: gp(w).mean()))(w)
        np.testing.assert_allclose(grad, 2 * 2 * self.w_unit, rtol=1e-4, atol=1e-6)

    def test_gradient_penalty_interpolates_uniformly(self):
        # f(x) = x^2 / 2 on scalars, x_real = 1, x_fake = 0: grad = x_hat = eps ~ U[0, 1].
        n = 2000
        critic = lambda x: 0.5 * jnp.sum(x**2, axis=1)
        _, terms = gradient_penalty(critic, jnp.ones((n, 1)), jnp.zeros((n, 1)), jax.random.key(2))
        eps = np.asarray(terms["grad_norm"])
        assert eps.min() >= 0 and eps.max() <= 1
        assert abs(eps.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
        assert abs(eps.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / n)  # Var of U^2 terms: 1/180

    def test_gradient_penalty_finite_gradient_for_constant_critic(self):
        # grad f = 0: GP = 1 and the norm's gradient at 0 must not be NaN.
        def gp(scale):
            critic = lambda x: scale * 0.0 * jnp.sum(x, axis=(1, 2, 3)) + scale
            return gradient_penalty(critic, self.x_real, self.x_fake, jax.random.key(3))[0].sum()

        value, grad = jax.jit(jax.value_and_grad(gp))(1.0)
        np.testing.assert_allclose(value, 5.0)
        assert_finite(grad)

    @chex.variants(with_jit=True, without_jit=True)
    def test_r1_penalty(self):
        w = 2 * self.w_unit
        got = self.variant(lambda x: r1_penalty(_linear_critic(w), x))(self.x_real)
        np.testing.assert_allclose(got, np.full(5, 4.0), rtol=1e-5)  # ||w||^2
        quadratic = lambda x: 0.5 * jnp.sum(x**2, axis=(1, 2, 3))  # grad = x
        expected = (np.float64(self.x_real) ** 2).reshape(5, -1).sum(-1)
        np.testing.assert_allclose(
            self.variant(lambda x: r1_penalty(quadratic, x))(self.x_real), expected, rtol=1e-5
        )

    def test_penalties_under_vmap(self):
        # vmap over two critics' weights.
        ws = jnp.stack([self.w_unit, 2 * self.w_unit])
        r1 = jax.jit(jax.vmap(lambda w: r1_penalty(_linear_critic(w), self.x_real)))(ws)
        np.testing.assert_allclose(r1, [[1.0] * 5, [4.0] * 5], rtol=1e-5)
        keys = jax.random.split(jax.random.key(4), 2)
        gp = jax.jit(
            jax.vmap(
                lambda w, k: gradient_penalty(_linear_critic(w), self.x_real, self.x_fake, k)[0]
            )
        )(ws, keys)
        np.testing.assert_allclose(gp, [[0.0] * 5, [1.0] * 5], atol=1e-5)

    def test_critic_shape_error(self):
        critic = lambda x: jnp.sum(x, axis=(1, 2))  # [B, C], not [B]
        with pytest.raises(ValueError, match=r"critic_fn returned shape \(5, 2\)"):
            r1_penalty(critic, self.x_real)
        with pytest.raises(ValueError, match=r"x_real shape \(5, 3, 3, 2\) != x_fake shape"):
            gradient_penalty(critic, self.x_real, self.x_fake[:4], jax.random.key(0))


class ImageTranslationTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(2)
        self.a, self.a_cyc = (rng.uniform(-1, 1, (3, 4, 4, 3)).astype(np.float32) for _ in "ab")
        self.b, self.b_cyc = (rng.uniform(-1, 1, (3, 6, 6, 1)).astype(np.float32) for _ in "ab")

    @chex.variants(with_jit=True, without_jit=True)
    def test_pix2pix_l1(self):
        got = self.variant(pix2pix_l1_loss)(self.a, self.a_cyc)
        expected = np.abs(np.float64(self.a) - self.a_cyc).reshape(3, -1).mean(-1)
        np.testing.assert_allclose(got, expected, rtol=1e-5)
        assert_per_example(pix2pix_l1_loss, self.a, self.a_cyc)
        grad = jax.grad(lambda x: pix2pix_l1_loss(x, self.a_cyc).sum())(self.a)
        np.testing.assert_allclose(grad, np.sign(self.a - self.a_cyc) / 48)

    @chex.variants(with_jit=True, without_jit=True)
    def test_cycle_consistency(self):
        loss, terms = self.variant(cycle_consistency_loss)(self.a, self.a_cyc, self.b, self.b_cyc)
        a = np.abs(np.float64(self.a) - self.a_cyc).reshape(3, -1).mean(-1)
        b = np.abs(np.float64(self.b) - self.b_cyc).reshape(3, -1).mean(-1)
        np.testing.assert_allclose(terms["a"], a, rtol=1e-5)
        np.testing.assert_allclose(terms["b"], b, rtol=1e-5)
        np.testing.assert_allclose(loss, a + b, rtol=1e-5)
        assert_per_example(cycle_consistency_loss, self.a, self.a_cyc, self.b, self.b_cyc)

    def test_errors(self):
        with pytest.raises(ValueError, match=r"x_a batch 3 .* != x_b batch 2"):
            cycle_consistency_loss(self.a, self.a_cyc, self.b[:2], self.b_cyc[:2])
        with pytest.raises(ValueError, match=r"x_fake shape \(3, 4, 4, 3\) != x_target shape"):
            pix2pix_l1_loss(self.a, self.b)
