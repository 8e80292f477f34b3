"""Tests for jaxgen.losses.vae."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats

from jaxgen.losses import (
    beta_schedule,
    gaussian_log_likelihood,
    iwae_bound,
    kl_autoencoder_loss,
    negative_elbo,
    reparameterize,
)

from ._helpers import assert_per_example


class ReparameterizeTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_sample_moments(self):
        mu = jnp.array([[0.5, -1.0], [2.0, 0.0]])
        logvar = jnp.array([[0.0, -2.0], [1.0, 0.5]])
        n = 4000
        z = self.variant(lambda m, lv, k: reparameterize(m, lv, k, num_samples=n))(
            mu, logvar, jax.random.key(0)
        )
        assert z.shape == (n, 2, 2)
        var = np.exp(np.float64(logvar))
        np.testing.assert_array_less(np.abs(z.mean(0) - mu), 5 * np.sqrt(var / n))
        np.testing.assert_array_less(np.abs(z.var(0) - var), 5 * var * np.sqrt(2 / n))

    def test_single_sample_shape_and_gradient(self):
        mu = jnp.array([[0.5, -1.0, 0.2]])
        logvar = jnp.array([[0.3, -2.0, 1.0]])
        key = jax.random.key(1)
        z = reparameterize(mu, logvar, key)
        assert z.shape == mu.shape
        # dz/dmu = 1, dz/dlogvar = sigma * eps / 2 = (z - mu) / 2.
        g_mu, g_lv = jax.jit(jax.grad(lambda m, lv: reparameterize(m, lv, key).sum(), (0, 1)))(
            mu, logvar
        )
        np.testing.assert_allclose(g_mu, np.ones((1, 3)))
        np.testing.assert_allclose(g_lv, (z - mu) / 2, rtol=1e-5)
        keys = jax.random.split(key, 2)
        zs = jax.jit(jax.vmap(lambda k: reparameterize(mu, logvar, k)))(keys)
        assert zs.shape == (2, 1, 3) and not np.allclose(zs[0], zs[1])

    def test_shape_error(self):
        with pytest.raises(ValueError, match=r"mu shape \(2, 3\) != logvar shape \(2, 4\)"):
            reparameterize(jnp.zeros((2, 3)), jnp.zeros((2, 4)), jax.random.key(0))


class NegativeElboTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.mu = rng.normal(size=(3, 4)).astype(np.float32)
        self.logvar = rng.uniform(-1, 1, size=(3, 4)).astype(np.float32)
        self.log_px_z = rng.normal(-50, 5, size=(3,)).astype(np.float32)

    @chex.variants(with_jit=True, without_jit=True)
    def test_value_and_terms(self):
        loss, terms = self.variant(negative_elbo)(self.log_px_z, self.mu, self.logvar, 0.3)
        mu, lv = np.float64(self.mu), np.float64(self.logvar)
        # KL(N(mu, s^2) || N(0, 1)) = log(1 / s) + (s^2 + mu^2) / 2 - 1/2, per dimension.
        kl = (-0.5 * lv + 0.5 * (np.exp(lv) + mu**2) - 0.5).sum(-1)
        np.testing.assert_allclose(terms["kl"], kl, rtol=1e-5)
        np.testing.assert_allclose(terms["recon"], -self.log_px_z, rtol=1e-6)
        np.testing.assert_allclose(terms["elbo"], self.log_px_z - kl, rtol=1e-5)
        np.testing.assert_allclose(loss, -self.log_px_z + 0.3 * kl, rtol=1e-5)
        assert_per_example(negative_elbo, self.log_px_z, self.mu, self.logvar)

    def test_traced_beta_gradient(self):
        # d loss / d beta = KL.
        grad = jax.grad(lambda b: negative_elbo(self.log_px_z, self.mu, self.logvar, b)[0].sum())
        _, terms = negative_elbo(self.log_px_z, self.mu, self.logvar)
        np.testing.assert_allclose(jax.jit(grad)(0.5), terms["kl"].sum(), rtol=1e-5)

    def test_shape_error_for_unsummed_log_likelihood(self):
        with pytest.raises(ValueError, match=r"log_px_z shape \(3, 4\) != batch shape \(3,\)"):
            negative_elbo(jnp.zeros((3, 4)), self.mu, self.logvar)


class KLAutoencoderLossTest(chex.TestCase):
    """The latent diffusion autoencoder's loss on a latent grid [B, h, w, C], against numpy:
    the summed L1 / L2 distance plus kl_weight times the closed-form Gaussian KL."""

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(1)
        self.x = rng.uniform(-1, 1, size=(3, 8, 8, 1)).astype(np.float32)
        self.x_recon = rng.uniform(-1, 1, size=(3, 8, 8, 1)).astype(np.float32)
        self.mu = rng.normal(size=(3, 2, 2, 4)).astype(np.float32)
        self.logvar = rng.uniform(-3, 1, size=(3, 2, 2, 4)).astype(np.float32)

    @chex.variants(with_jit=True, without_jit=True)
    def test_value_and_terms(self):
        mu, lv = np.float64(self.mu), np.float64(self.logvar)
        # KL(N(mu, s^2) || N(0, 1)) = log(1 / s) + (s^2 + mu^2) / 2 - 1/2, per latent pixel.
        kl = (-0.5 * lv + 0.5 * (np.exp(lv) + mu**2) - 0.5).sum((1, 2, 3))
        diff = np.float64(self.x) - np.float64(self.x_recon)
        for distance, recon in (("l1", np.abs(diff)), ("l2", diff**2)):
            fn = self.variant(functools.partial(kl_autoencoder_loss, distance=distance))
            loss, terms = fn(self.x, self.x_recon, self.mu, self.logvar, 1e-3)
            np.testing.assert_allclose(terms["recon"], recon.sum((1, 2, 3)), rtol=1e-5)
            np.testing.assert_allclose(terms["kl"], kl, rtol=1e-5)
            np.testing.assert_allclose(loss, recon.sum((1, 2, 3)) + 1e-3 * kl, rtol=1e-5)
        assert_per_example(kl_autoencoder_loss, self.x, self.x_recon, self.mu, self.logvar)

    def test_zero_at_a_perfect_reconstruction_and_the_prior(self):
        zeros = jnp.zeros((2, 2, 2, 4))
        loss, _ = kl_autoencoder_loss(self.x[:2], self.x[:2], zeros, zeros, kl_weight=1.0)
        np.testing.assert_array_equal(loss, np.zeros(2))

    def test_errors(self):
        with pytest.raises(ValueError, match="unknown distance 'l3'; use one of l1, l2"):
            kl_autoencoder_loss(self.x, self.x_recon, self.mu, self.logvar, distance="l3")
        with pytest.raises(ValueError, match=r"x shape \(3, 8, 8, 1\) != x_recon shape"):
            kl_autoencoder_loss(self.x, self.x_recon[:, :4], self.mu, self.logvar)


class BetaScheduleTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_linear_warmup(self):
        fn = self.variant(lambda s: beta_schedule(s, beta=2.0, warmup_steps=100))
        got = [float(fn(s)) for s in (0, 25, 100, 1000)]
        np.testing.assert_allclose(got, [0.0, 0.5, 2.0, 2.0])

    @chex.variants(with_jit=True, without_jit=True)
    def test_constant(self):
        fn = self.variant(lambda s: beta_schedule(s, beta=0.25))
        np.testing.assert_allclose([float(fn(s)) for s in (0, 7, 10**6)], [0.25] * 3)

    def test_vmap_over_steps(self):
        steps = jnp.arange(0, 20, 5)
        got = jax.vmap(lambda s: beta_schedule(s, warmup_steps=10))(steps)
        np.testing.assert_allclose(got, [0.0, 0.5, 1.0, 1.0])

    def test_negative_warmup_error(self):
        with pytest.raises(ValueError, match="warmup_steps must be >= 0, got -1"):
            beta_schedule(0, warmup_steps=-1)


def _log_weights_prior_proposal(key, x, num_samples):
    """p(z) = N(0, 1), p(x | z) = N(z, 1), proposal q = p(z): returns the three [K, B] terms."""
    z = jax.random.normal(key, (num_samples, *x.shape))  # [K, B, 1]
    log_px_z = jax.vmap(lambda z: gaussian_log_likelihood(x, z))(z)
    log_pz = jax.vmap(lambda z: gaussian_log_likelihood(z, jnp.zeros_like(z)))(z)
    return log_px_z, log_pz, log_pz


class IWAETest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_matches_scipy_logsumexp(self):
        rng = np.random.default_rng(0)
        terms = [rng.normal(-20, 3, size=(7, 3)).astype(np.float32) for _ in range(3)]
        bound, extra = self.variant(iwae_bound)(*terms)
        log_w = np.float64(terms[0]) + terms[1] - terms[2]
        np.testing.assert_allclose(
            bound, scipy.special.logsumexp(log_w, axis=0) - np.log(7), rtol=1e-6
        )
        np.testing.assert_allclose(extra["elbo"], log_w.mean(0), rtol=1e-6)
        w = scipy.special.softmax(log_w, axis=0)
        np.testing.assert_allclose(extra["ess"], 1 / (w**2).sum(0), rtol=1e-5)

    def test_stable_for_very_negative_log_weights(self):
        log_px_z = jnp.array([[-10000.0], [-10001.0], [-10002.0]])
        zeros = jnp.zeros_like(log_px_z)
        bound, terms = jax.jit(iwae_bound)(log_px_z, zeros, zeros)
        expected = scipy.special.logsumexp([-10000.0, -10001.0, -10002.0]) - np.log(3)
        np.testing.assert_allclose(bound, [expected], rtol=1e-6)
        grad = jax.jit(jax.grad(lambda lw: iwae_bound(lw, zeros, zeros)[0].sum()))(log_px_z)
        np.testing.assert_allclose(grad[:, 0], scipy.special.softmax([0.0, -1.0, -2.0]), rtol=1e-5)
        assert 1.0 < float(terms["ess"][0]) < 3.0

    def test_exact_posterior_gives_log_marginal(self):
        # p(z) = N(0, 1), p(x|z) = N(z, 1): p(x) = N(0, 2), p(z|x) = N(x/2, 1/2). With q = p(z|x)
        # every weight equals p(x), so L_K = log p(x) for any K.
        x = jnp.array([[1.5], [-0.3]])

        @jax.jit
        def bound_fn(key):
            mu, logvar = x / 2, jnp.full_like(x, np.log(0.5))
            z = reparameterize(mu, logvar, key, num_samples=5)  # [K, B, 1]
            log_px_z = jax.vmap(lambda z: gaussian_log_likelihood(x, z))(z)
            log_pz = jax.vmap(lambda z: gaussian_log_likelihood(z, jnp.zeros_like(z)))(z)
            log_qz = jax.vmap(lambda z: gaussian_log_likelihood(z, mu, logvar))(z)
            return iwae_bound(log_px_z, log_pz, log_qz)

        bound, terms = bound_fn(jax.random.key(0))
        expected = scipy.stats.norm.logpdf([1.5, -0.3], 0.0, np.sqrt(2.0))
        np.testing.assert_allclose(bound, expected, rtol=1e-5)
        np.testing.assert_allclose(terms["ess"], [5.0, 5.0], rtol=1e-5)

    def test_bound_tightens_with_k(self):
        # Proposal q = prior: E[L_1] = ELBO = -log(2 pi)/2 - (x^2 + 1)/2 < E[L_64] <= log p(x).
        x = jnp.full((500, 1), 1.5)  # 500 independent replicates of one data point
        bound = jax.jit(
            lambda k, n: iwae_bound(*_log_weights_prior_proposal(k, x, n))[0], static_argnums=1
        )
        l1, l64 = bound(jax.random.key(1), 1), bound(jax.random.key(2), 64)
        elbo = -0.5 * np.log(2 * np.pi) - 0.5 * (1.5**2 + 1)
        log_px = scipy.stats.norm.logpdf(1.5, 0.0, np.sqrt(2.0))
        se1, se64 = l1.std() / np.sqrt(500), l64.std() / np.sqrt(500)
        assert abs(float(l1.mean()) - elbo) < 5 * se1
        assert float(l64.mean()) > float(l1.mean()) + 5 * (se1 + se64)
        assert float(l64.mean()) < log_px + 5 * se64
        assert abs(float(l64.mean()) - log_px) < 0.05  # bias O(1/K)

    def test_vmap_over_data_sets(self):
        rng = np.random.default_rng(1)
        terms = [rng.normal(size=(2, 4, 3)).astype(np.float32) for _ in range(3)]  # [N, K, B]
        batched = jax.jit(jax.vmap(lambda *t: iwae_bound(*t)[0]))(*terms)
        for n in range(2):
            np.testing.assert_allclose(batched[n], iwae_bound(*(t[n] for t in terms))[0], rtol=1e-6)

    def test_shape_errors(self):
        with pytest.raises(ValueError, match=r"log_px_z shape \(4, 3\) != log_pz shape \(4, 2\)"):
            iwae_bound(jnp.zeros((4, 3)), jnp.zeros((4, 2)), jnp.zeros((4, 3)))
        with pytest.raises(ValueError, match=r"expected \[K, B\]"):
            iwae_bound(*(jnp.zeros((4, 3, 2)),) * 3)
