"""Tests for jaxgen.losses.divergences against scipy/numpy float64 references."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats
from absl.testing import parameterized
from scipy.spatial.distance import jensenshannon

from jaxgen.losses import (
    bernoulli_log_likelihood,
    discretized_log_likelihood,
    entropy,
    gaussian_log_likelihood,
    js_divergence,
    kl_diag_gaussians,
    kl_divergence,
    kl_standard_normal,
)

from ._helpers import assert_finite, assert_per_example

RTOL = 1e-5


def _dirichlet(rng, shape, zeros=False):
    p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    if zeros:  # knock out one category per distribution, then renormalise
        p[..., 0] = 0.0
        p /= p.sum(-1, keepdims=True)
    return p.astype(np.float32)


class DiscreteTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.p = _dirichlet(rng, (4, 3, 5), zeros=True)  # [B, pixels, K] with p_0 = 0
        self.q = _dirichlet(rng, (4, 3, 5))
        self.logits_p = rng.normal(size=(4, 3, 5)).astype(np.float32) * 3
        self.logits_q = rng.normal(size=(4, 3, 5)).astype(np.float32) * 3

    @chex.variants(with_jit=True, without_jit=True)
    def test_entropy_matches_scipy(self):
        expected = scipy.stats.entropy(self.p.astype(np.float64), axis=-1).sum(-1)
        np.testing.assert_allclose(self.variant(entropy)(self.p), expected, rtol=RTOL)

    @chex.variants(with_jit=True, without_jit=True)
    def test_kl_matches_scipy(self):
        p, q = self.p.astype(np.float64), self.q.astype(np.float64)
        expected = scipy.stats.entropy(p, q, axis=-1).sum(-1)
        np.testing.assert_allclose(self.variant(kl_divergence)(self.p, self.q), expected, rtol=RTOL)

    @chex.variants(with_jit=True, without_jit=True)
    def test_js_matches_scipy(self):
        p, q = self.p.astype(np.float64), self.q.astype(np.float64)
        expected = (jensenshannon(p, q, axis=-1) ** 2).sum(-1)
        np.testing.assert_allclose(self.variant(js_divergence)(self.p, self.q), expected, rtol=RTOL)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(("entropy", "entropy"), ("kl", "kl"), ("js", "js"))
    def test_from_logits_matches_scipy(self, which):
        p = scipy.special.softmax(self.logits_p.astype(np.float64), axis=-1)
        q = scipy.special.softmax(self.logits_q.astype(np.float64), axis=-1)
        expected, fn = {
            "entropy": (scipy.stats.entropy(p, axis=-1), lambda a, b: entropy(a, from_logits=True)),
            "kl": (
                scipy.stats.entropy(p, q, axis=-1),
                lambda a, b: kl_divergence(a, b, from_logits=True),
            ),
            "js": (
                jensenshannon(p, q, axis=-1) ** 2,
                lambda a, b: js_divergence(a, b, from_logits=True),
            ),
        }[which]
        got = self.variant(fn)(self.logits_p, self.logits_q)
        np.testing.assert_allclose(got, expected.sum(-1), rtol=RTOL, atol=1e-6)

    def test_kl_is_infinite_where_q_is_zero_and_p_is_not(self):
        p = jnp.array([[0.5, 0.5]])
        q = jnp.array([[1.0, 0.0]])
        assert np.isposinf(kl_divergence(p, q)[0])
        assert np.isfinite(kl_divergence(q, p)[0])  # 0 log(0 / q) = 0

    def test_js_is_symmetric_and_bounded_by_log2(self):
        p = jnp.array([[1.0, 0.0]])
        q = jnp.array([[0.0, 1.0]])
        np.testing.assert_allclose(js_divergence(p, q), [np.log(2.0)], rtol=RTOL)
        np.testing.assert_allclose(
            js_divergence(self.p, self.q), js_divergence(self.q, self.p), rtol=RTOL
        )

    def test_gradients_finite_with_zero_probabilities(self):
        for fn in (
            lambda p: entropy(p).sum(),
            lambda p: kl_divergence(p, self.q).sum(),
            lambda p: js_divergence(p, self.q).sum(),
            lambda q: js_divergence(self.p, q).sum(),
        ):
            assert_finite(jax.grad(fn)(jnp.asarray(self.p)))

    def test_gradient_of_kl_wrt_p(self):
        # d/dp_k sum_j p_j log(p_j / q_j) = log(p_k / q_k) + 1 (free, unnormalised p).
        p, q = self.q, _dirichlet(np.random.default_rng(1), (4, 3, 5))
        grad = jax.grad(lambda p: kl_divergence(p, q).sum())(p)
        np.testing.assert_allclose(grad, np.log(p / q.astype(np.float64)) + 1, rtol=1e-4)

    @parameterized.parameters(100.0, -100.0)
    def test_extreme_logits_finite_values_and_gradients(self, scale):
        logits_p = jnp.array([[1.0, -1.0, 0.0]]) * scale  # softmax underflows to exactly 0
        logits_q = jnp.array([[-1.0, 1.0, 0.5]]) * scale
        p = scipy.special.softmax(np.float64(logits_p), -1)
        q = scipy.special.softmax(np.float64(logits_q), -1)
        cases = [
            (entropy(logits_p, from_logits=True), scipy.stats.entropy(p, axis=-1)),
            (kl_divergence(logits_p, logits_q, from_logits=True), None),
            (
                js_divergence(logits_p, logits_q, from_logits=True),
                jensenshannon(p, q, axis=-1) ** 2,
            ),
        ]
        # KL: p is a point mass on index 0 (scale > 0) or 1; KL = -log q at that index.
        lq = scipy.special.log_softmax(np.float64(logits_q), -1)
        cases[1] = (cases[1][0], -(p * lq).sum(-1) - scipy.stats.entropy(p, axis=-1))
        for got, expected in cases:
            np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-6)
        for fn in (kl_divergence, js_divergence):
            grads = jax.grad(lambda a, b, fn=fn: fn(a, b, from_logits=True).sum(), (0, 1))(
                logits_p, logits_q
            )
            assert_finite(grads)
        assert_finite(jax.grad(lambda a: entropy(a, from_logits=True).sum())(logits_p))

    def test_vmap_per_example(self):
        assert_per_example(entropy, self.p)
        assert_per_example(kl_divergence, self.p, self.q)
        assert_per_example(js_divergence, self.p, self.q)

    @parameterized.parameters(kl_divergence, js_divergence)
    def test_shape_mismatch_error(self, fn):
        with pytest.raises(ValueError, match=r"p shape \(4, 3\) != q shape \(4, 2\)"):
            fn(jnp.ones((4, 3)) / 3, jnp.ones((4, 2)) / 2)

    def test_shape_errors(self):
        """One distribution [K] or a batch [B, ..., K]; a scalar, or a single p against a
        batch of q, gets the layout error."""
        with pytest.raises(ValueError, match=r"entropy: p has shape \(\).*\[B, \.\.\., K\]"):
            entropy(jnp.asarray(0.5))
        with pytest.raises(ValueError, match=r"kl_divergence: p has shape \(3,\)"):
            kl_divergence(jnp.ones(3) / 3, jnp.ones((2, 3)) / 3)


def _mc_kl(rng, mu_q, logvar_q, mu_p, logvar_p, num_samples=20_000):
    """Monte Carlo KL(q || p) per example, with its standard error, in float64."""
    sd_q, sd_p = np.exp(0.5 * logvar_q), np.exp(0.5 * logvar_p)
    z = mu_q + sd_q * rng.standard_normal((num_samples, *mu_q.shape))
    log_ratio = scipy.stats.norm.logpdf(z, mu_q, sd_q) - scipy.stats.norm.logpdf(z, mu_p, sd_p)
    per_sample = log_ratio.reshape(num_samples, mu_q.shape[0], -1).sum(-1)  # [N, B]
    return per_sample.mean(0), per_sample.std(0) / np.sqrt(num_samples)


class GaussianKLTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(1)
        self.rng = rng
        shape = (3, 2, 2)
        self.mu_q, self.mu_p = (rng.normal(size=shape).astype(np.float32) for _ in range(2))
        self.logvar_q, self.logvar_p = (
            rng.uniform(-1, 1, size=shape).astype(np.float32) for _ in range(2)
        )

    @chex.variants(with_jit=True, without_jit=True)
    def test_kl_standard_normal_matches_monte_carlo(self):
        got = self.variant(kl_standard_normal)(self.mu_q, self.logvar_q)
        zeros = np.zeros_like(self.mu_q, np.float64)
        mean, se = _mc_kl(self.rng, np.float64(self.mu_q), np.float64(self.logvar_q), zeros, zeros)
        np.testing.assert_array_less(np.abs(got - mean), 5 * se)

    @chex.variants(with_jit=True, without_jit=True)
    def test_kl_diag_gaussians_matches_monte_carlo(self):
        args = (self.mu_q, self.logvar_q, self.mu_p, self.logvar_p)
        got = self.variant(kl_diag_gaussians)(*args)
        mean, se = _mc_kl(self.rng, *(np.float64(a) for a in args))
        np.testing.assert_array_less(np.abs(got - mean), 5 * se)

    def test_kl_diag_gaussians_against_standard_normal_and_self(self):
        zeros = jnp.zeros_like(self.mu_q)
        np.testing.assert_allclose(
            kl_diag_gaussians(self.mu_q, self.logvar_q, zeros, zeros),
            kl_standard_normal(self.mu_q, self.logvar_q),
            rtol=RTOL,
        )
        same = kl_diag_gaussians(self.mu_q, self.logvar_q, self.mu_q, self.logvar_q)
        np.testing.assert_array_equal(same, np.zeros(3))

    def test_kl_accurate_when_q_is_close_to_p(self):
        # KL ~ (d^2 / 4) per dim for logvar_q = logvar_p + d: cancellation-prone in float32.
        d = 1e-3
        logvar_p = np.float32(self.logvar_p)
        logvar_q = logvar_p + np.float32(d)
        dd = np.float64(logvar_q) - np.float64(logvar_p)
        expected = 0.5 * (np.expm1(dd) - dd).reshape(3, -1).sum(-1)
        got = kl_diag_gaussians(self.mu_p, logvar_q, self.mu_p, logvar_p)
        np.testing.assert_allclose(got, expected, rtol=1e-3)

    def test_grad_kl_standard_normal(self):
        # dKL/dmu = mu, dKL/dlogvar = (exp(logvar) - 1) / 2.
        g_mu, g_lv = jax.grad(lambda m, lv: kl_standard_normal(m, lv).sum(), (0, 1))(
            self.mu_q, self.logvar_q
        )
        np.testing.assert_allclose(g_mu, self.mu_q, rtol=RTOL)
        np.testing.assert_allclose(g_lv, 0.5 * np.expm1(np.float64(self.logvar_q)), rtol=1e-4)

    def test_vmap_per_example(self):
        assert_per_example(kl_standard_normal, self.mu_q, self.logvar_q)
        assert_per_example(kl_diag_gaussians, self.mu_q, self.logvar_q, self.mu_p, self.logvar_p)

    def test_shape_mismatch_error(self):
        with pytest.raises(ValueError, match=r"mu_q shape \(4, 3\) != mu_p shape \(4, 2\)"):
            kl_diag_gaussians(
                jnp.ones((4, 3)), jnp.ones((4, 3)), jnp.ones((4, 2)), jnp.ones((4, 2))
            )
        with pytest.raises(ValueError, match=r"mu shape \(4, 3\) != logvar shape \(4,\)"):
            kl_standard_normal(jnp.ones((4, 3)), jnp.ones(4))


class LikelihoodTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(2)
        self.x = rng.normal(size=(3, 4, 2)).astype(np.float32)
        self.mu = rng.normal(size=(3, 4, 2)).astype(np.float32)
        self.logvar = rng.uniform(-2, 1, size=(3, 4, 2)).astype(np.float32)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(
        ("fixed_unit", None), ("fixed_scalar", "scalar"), ("learned", "full"), ("channel", "chan")
    )
    def test_gaussian_log_likelihood_matches_scipy(self, logvar_kind):
        x, mu = np.float64(self.x), np.float64(self.mu)
        if logvar_kind is None:
            got = self.variant(gaussian_log_likelihood)(self.x, self.mu)
            logvar = np.zeros(())
        else:
            logvar = {
                "scalar": np.float32(-0.7),
                "full": self.logvar,
                "chan": self.logvar[:, :1, :],
            }[logvar_kind]
            got = self.variant(gaussian_log_likelihood)(self.x, self.mu, logvar)
        sd = np.exp(0.5 * np.float64(logvar))
        expected = scipy.stats.norm.logpdf(x, mu, sd).reshape(3, -1).sum(-1)
        np.testing.assert_allclose(got, expected, rtol=RTOL)

    def test_gaussian_log_likelihood_grad_mu(self):
        # d/dmu log N(x; mu, s^2) = (x - mu) / s^2.
        grad = jax.grad(lambda m: gaussian_log_likelihood(self.x, m, self.logvar).sum())(self.mu)
        expected = (np.float64(self.x) - self.mu) * np.exp(-np.float64(self.logvar))
        np.testing.assert_allclose(grad, expected, rtol=1e-4)

    @chex.variants(with_jit=True, without_jit=True)
    def test_bernoulli_matches_scipy(self):
        rng = np.random.default_rng(3)
        x = rng.integers(0, 2, size=(3, 5)).astype(np.float32)
        logits = rng.normal(size=(3, 5)).astype(np.float32) * 4
        expected = scipy.stats.bernoulli.logpmf(x, scipy.special.expit(np.float64(logits)))
        got = self.variant(bernoulli_log_likelihood)(x, logits)
        np.testing.assert_allclose(got, expected.sum(-1), rtol=RTOL)

    def test_bernoulli_soft_targets(self):
        x = np.array([[0.25, 0.5, 0.9]], np.float32)
        logits = np.array([[0.3, -2.0, 1.5]], np.float32)
        x64, l64 = np.float64(x), np.float64(logits)
        expected = x64 * scipy.special.log_expit(l64) + (1 - x64) * scipy.special.log_expit(-l64)
        np.testing.assert_allclose(bernoulli_log_likelihood(x, logits), expected.sum(-1), rtol=RTOL)

    def test_bernoulli_extreme_logits(self):
        x = jnp.array([[1.0, 0.0, 1.0, 0.0]])
        logits = jnp.array([[100.0, -100.0, -100.0, 100.0]])
        # log sigmoid(100) ~ -4e-44, log sigmoid(-100) = -100 - log1p(e^-100) ~ -100.
        np.testing.assert_allclose(bernoulli_log_likelihood(x, logits), [-200.0], rtol=RTOL)
        grad = jax.grad(lambda lg: bernoulli_log_likelihood(x, lg).sum())(logits)
        np.testing.assert_allclose(grad, x - jax.nn.sigmoid(logits), atol=1e-6)  # x - p
        np.testing.assert_allclose(grad, [[0.0, 0.0, 1.0, -1.0]], atol=1e-6)

    def test_vmap_per_example(self):
        assert_per_example(gaussian_log_likelihood, self.x, self.mu, self.logvar)
        assert_per_example(bernoulli_log_likelihood, np.float32(self.x > 0), self.mu)

    def test_shape_errors(self):
        with pytest.raises(ValueError, match=r"x shape \(3, 4, 2\) != mu shape \(3, 4\)"):
            gaussian_log_likelihood(self.x, self.mu[..., 0])
        with pytest.raises(ValueError, match=r"logvar shape \(3, 4, 3\) does not broadcast"):
            gaussian_log_likelihood(self.x, self.mu, jnp.zeros((3, 4, 3)))
        with pytest.raises(ValueError, match=r"x shape \(3, 5\) != logits shape \(3, 4\)"):
            bernoulli_log_likelihood(jnp.zeros((3, 5)), jnp.zeros((3, 4)))


def _ref_log_bin_prob(x, mu, s, distribution, num_bins=256):
    """log P(bin of x) in float64 with scipy's log CDF / log survival function."""
    dist = {"gaussian": scipy.stats.norm, "logistic": scipy.stats.logistic}[distribution]
    h = 1.0 / (num_bins - 1)
    a, b = (x - h - mu) / s, (x + h - mu) / s
    left = (a + b) < 0
    # log(F(b) - F(a)) on the left of the mean, log(S(a) - S(b)) on the right.
    hi = np.where(left, dist.logcdf(b), dist.logsf(a))
    lo = np.where(left, dist.logcdf(a), dist.logsf(b))
    with np.errstate(divide="ignore"):
        inside = hi + np.log(-np.expm1(lo - hi))
    return np.where(x < -1 + h, dist.logcdf(b), np.where(x > 1 - h, dist.logsf(a), inside))


class DiscretizedTest(chex.TestCase):
    GRID = np.linspace(-1.0, 1.0, 256)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters("gaussian", "logistic")
    def test_matches_scipy(self, distribution):
        # One row per scale: bin width from ~2000 scales (log_scale -7) to ~5e-5 (5).
        log_scale = np.array([[-7.0], [-3.0], [-1.0], [0.5], [5.0]], np.float32)
        rng = np.random.default_rng(4)
        x = rng.choice(self.GRID, size=(5, 40)).astype(np.float32)
        x[:, :2] = [-1.0, 1.0]  # both edge bins
        mu = rng.uniform(-1.1, 1.1, size=(5, 40)).astype(np.float32)
        mu[:, 2] = x[:, 2]  # centred bins
        fn = self.variant(lambda *a: discretized_log_likelihood(*a, distribution=distribution))
        got = fn(x, mu, log_scale)
        s = np.exp(np.float64(log_scale))
        per_dim = _ref_log_bin_prob(np.float64(x), np.float64(mu), s, distribution)
        np.testing.assert_allclose(got, per_dim.sum(-1), rtol=2e-6)

    @parameterized.parameters("gaussian", "logistic")
    def test_probabilities_sum_to_one(self, distribution):
        x = jnp.asarray(self.GRID, jnp.float32).reshape(256, 1)  # every bin, one per "example"
        mu = jnp.full_like(x, 0.3)
        log_scales = jnp.array([-6.0, -2.0, 3.0])
        per_scale = lambda s: discretized_log_likelihood(x, mu, s, distribution=distribution)
        log_p = jax.jit(jax.vmap(per_scale))(log_scales)  # [3, 256]
        np.testing.assert_allclose(jnp.sum(jnp.exp(log_p), axis=1), np.ones(3), rtol=1e-5)

    @parameterized.parameters("gaussian", "logistic")
    def test_learned_per_element_scale(self, distribution):
        rng = np.random.default_rng(5)
        x = rng.choice(self.GRID, size=(3, 2, 2, 3)).astype(np.float32)
        mu = rng.uniform(-1, 1, size=x.shape).astype(np.float32)
        log_scale = rng.uniform(-4, 0, size=x.shape).astype(np.float32)
        got = jax.jit(discretized_log_likelihood, static_argnames="distribution")(
            x, mu, log_scale, distribution=distribution
        )
        ref = _ref_log_bin_prob(x, mu, np.exp(np.float64(log_scale)), distribution)
        np.testing.assert_allclose(got, ref.reshape(3, -1).sum(-1), rtol=2e-6)
        assert_per_example(
            lambda *a: discretized_log_likelihood(*a, distribution=distribution), x, mu, log_scale
        )

    @parameterized.parameters("gaussian", "logistic")
    def test_extreme_parameters_finite_values_and_gradients(self, distribution):
        # Tiny and huge scales, and the mean far outside the data range.
        x = jnp.array([[-1.0, 1.0, 0.0, 0.5, -0.5, 0.0]])
        mu = jnp.array([[1.0, -1.0, 0.0, -50.0, 50.0, 0.0]])
        log_scale = jnp.array([[-9.0, -9.0, -9.0, -3.0, -3.0, 9.0]])
        fn = lambda m, s: discretized_log_likelihood(x, m, s, distribution=distribution).sum()
        value, grads = jax.jit(jax.value_and_grad(fn, (0, 1)))(mu, log_scale)
        assert_finite((value, grads))
        ref = _ref_log_bin_prob(
            np.float64(x), np.float64(mu), np.exp(np.float64(log_scale)), distribution
        )
        np.testing.assert_allclose(value, ref.sum(), rtol=1e-5)

    def test_errors(self):
        with pytest.raises(ValueError, match="unknown distribution 'laplace'"):
            discretized_log_likelihood(
                jnp.zeros((2, 3)), jnp.zeros((2, 3)), 0.0, distribution="laplace"
            )
        with pytest.raises(ValueError, match=r"x shape \(2, 3\) != mu shape \(2, 4\)"):
            discretized_log_likelihood(jnp.zeros((2, 3)), jnp.zeros((2, 4)), 0.0)
