"""Tests for the noise-prediction loss (jaxgen.losses.diffusion) and the pieces of the
diffusion process it is built from (jaxgen.diffusion: schedules, q_sample, posterior, v,
classifier-free guidance), against closed forms."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from absl.testing import parameterized

from jaxgen import losses
from jaxgen.diffusion import (
    NoiseSchedule,
    classifier_free_guidance,
    cosine_schedule,
    eps_from_prediction,
    linear_schedule,
    posterior_mean_variance,
    q_sample,
    schedule_from_betas,
    v_target,
)
from jaxgen.losses import noise_prediction_loss

from ._helpers import assert_finite, assert_per_example


def _abar(schedule, t):
    return np.float64(schedule.alpha_bar_t)[np.asarray(t)].reshape(-1, 1, 1)


class ScheduleTest(chex.TestCase):
    def test_linear_schedule(self):
        s = linear_schedule(1000)
        assert isinstance(s, NoiseSchedule) and s.num_steps == 1000
        np.testing.assert_allclose(np.asarray(s.beta_t)[[0, -1]], [1e-4, 0.02], rtol=1e-6)
        np.testing.assert_allclose(np.diff(np.float64(s.beta_t)), (0.02 - 1e-4) / 999, rtol=1e-3)
        np.testing.assert_allclose(s.alpha_t, 1 - np.float64(s.beta_t), rtol=1e-6)
        beta = np.linspace(1e-4, 0.02, 1000)
        expected = [math.prod(1 - beta[: t + 1]) for t in (0, 9, 499, 999)]
        idx = np.array([0, 9, 499, 999])
        np.testing.assert_allclose(s.alpha_bar_t[idx], expected, rtol=1e-6)
        # 1 - alpha_bar_t keeps its relative precision at the first steps (~1e-4 there).
        np.testing.assert_allclose(s.one_minus_alpha_bar_t[idx], 1 - np.array(expected), rtol=1e-5)

    def test_cosine_schedule_follows_its_alpha_bar(self):
        T, s = 1000, 0.008
        sched = cosine_schedule(T, s=s)
        f = lambda t: np.cos((t / T + s) / (1 + s) * np.pi / 2) ** 2
        t = np.arange(1, T + 1)
        unclipped = np.float64(sched.beta_t) < 0.999
        assert unclipped[:-1].all() and not unclipped[-1]  # only beta_T hits max_beta
        np.testing.assert_allclose(sched.alpha_bar_t[:-1], (f(t) / f(0))[:-1], rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(sched.beta_t[-1], 0.999, rtol=1e-6)
        np.testing.assert_allclose(
            sched.alpha_bar_t, np.cumprod(1 - np.float64(sched.beta_t)), rtol=1e-5, atol=1e-12
        )

    def test_schedule_is_a_pytree(self):
        s = linear_schedule(10)
        leaves, treedef = jax.tree_util.tree_flatten(s)
        assert len(leaves) == 3
        doubled = jax.tree_util.tree_map(lambda a: 2 * a, s)
        assert isinstance(doubled, NoiseSchedule)
        assert jax.jit(lambda s: s.alpha_bar_t[-1])(s) == s.alpha_bar_t[-1]

    def test_invalid_betas(self):
        with pytest.raises(ValueError, match=r"values in \(0, 1\); got shape \(2,\)"):
            schedule_from_betas([0.5, 1.5])
        with pytest.raises(ValueError, match="num_steps must be >= 1"):
            linear_schedule(0)


class ForwardProcessTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        self.schedule = linear_schedule(20, beta_1=1e-3, beta_T=0.2)
        rng = np.random.default_rng(0)
        self.x0 = rng.uniform(-1, 1, size=(4, 3, 2)).astype(np.float32)
        self.eps = rng.normal(size=(4, 3, 2)).astype(np.float32)
        self.t = np.array([0, 5, 12, 19], np.int32)

    @chex.variants(with_jit=True, without_jit=True)
    def test_q_sample_value(self):
        got = self.variant(q_sample)(self.schedule, self.x0, self.t, self.eps)
        abar = _abar(self.schedule, self.t)
        expected = np.sqrt(abar) * self.x0 + np.sqrt(1 - abar) * self.eps
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        assert_per_example(
            lambda x0, t, e: q_sample(self.schedule, x0, t, e), self.x0, self.t, self.eps
        )

    def test_step_by_step_forward_matches_closed_form_in_distribution(self):
        # x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) noise, iterated in float64, against
        # q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) sampled with q_sample.
        n, x0 = 20_000, 0.8
        alpha = np.float64(self.schedule.alpha_t)
        rng = np.random.default_rng(1)
        x = np.full(n, x0)
        closed_eps = jax.random.normal(jax.random.key(0), (n, 1))
        for t in range(self.schedule.num_steps):
            x = np.sqrt(alpha[t]) * x + np.sqrt(1 - alpha[t]) * rng.standard_normal(n)
            if t not in (0, 6, 19):
                continue
            abar = float(self.schedule.alpha_bar_t[t])
            mean, var = np.sqrt(abar) * x0, 1 - abar
            assert abs(x.mean() - mean) < 5 * np.sqrt(var / n)
            assert abs(x.var() - var) < 5 * var * np.sqrt(2 / n)
            closed = q_sample(
                self.schedule, jnp.full((n, 1), x0), jnp.full((n,), t, jnp.int32), closed_eps
            )
            ks = scipy.stats.ks_2samp(x, np.asarray(closed)[:, 0])
            assert ks.pvalue > 1e-3, (t, ks)

    @chex.variants(with_jit=True, without_jit=True)
    def test_posterior_matches_gaussian_conditioning(self):
        # (x_{t-1}, x_t) | x_0 is jointly Gaussian: condition it in float64.
        x_t = self.x0 + 0.5 * self.eps
        mean, var, log_var = self.variant(posterior_mean_variance)(
            self.schedule, self.x0, x_t, self.t
        )
        abar = np.float64(self.schedule.alpha_bar_t)
        t = self.t[1:]  # index 0 has no x_{t-1} latent; tested below
        a_prev, a_t = abar[t - 1].reshape(-1, 1, 1), abar[t].reshape(-1, 1, 1)
        alpha_t = np.float64(self.schedule.alpha_t)[t].reshape(-1, 1, 1)
        x0 = np.float64(self.x0[1:])
        m_prev, v_prev = np.sqrt(a_prev) * x0, 1 - a_prev  # x_{t-1} | x_0
        m_t, v_t = np.sqrt(a_t) * x0, 1 - a_t  # x_t | x_0
        cov = np.sqrt(alpha_t) * v_prev  # Cov(x_{t-1}, x_t | x_0)
        expected_mean = m_prev + cov / v_t * (x_t[1:] - m_t)
        expected_var = np.broadcast_to(v_prev - cov**2 / v_t, x0.shape)
        np.testing.assert_allclose(mean[1:], expected_mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(var[1:], expected_var, rtol=1e-5)
        np.testing.assert_allclose(log_var[1:], np.log(expected_var), rtol=1e-5)
        assert mean.shape == var.shape == log_var.shape == x_t.shape
        for output in range(3):
            assert_per_example(
                lambda x0, x_t, t, i=output: posterior_mean_variance(self.schedule, x0, x_t, t)[i],
                self.x0,
                x_t,
                self.t,
            )

    def test_posterior_at_first_step(self):
        # Paper t = 1: q(x_0 | x_1, x_0) is the point mass at x_0; log variance clipped.
        t = np.zeros(4, np.int32)
        mean, var, log_var = posterior_mean_variance(self.schedule, self.x0, self.eps, t)
        np.testing.assert_allclose(mean, self.x0, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(var, np.zeros_like(self.x0))
        _, var1, _ = posterior_mean_variance(self.schedule, self.x0, self.eps, t + 1)
        np.testing.assert_allclose(log_var, np.log(np.float64(var1)), rtol=1e-6)
        assert_finite(log_var)

    @chex.variants(with_jit=True, without_jit=True)
    def test_v_target(self):
        v = self.variant(v_target)(self.schedule, self.x0, self.t, self.eps)
        abar = _abar(self.schedule, self.t)
        expected = np.sqrt(abar) * self.eps - np.sqrt(1 - abar) * self.x0
        np.testing.assert_allclose(v, expected, rtol=1e-5, atol=1e-6)
        assert_per_example(
            lambda x0, t, e: v_target(self.schedule, x0, t, e), self.x0, self.t, self.eps
        )
        # Salimans & Ho: x_0 = sqrt(abar) x_t - sqrt(1 - abar) v.
        x_t = q_sample(self.schedule, self.x0, self.t, self.eps)
        np.testing.assert_allclose(
            np.sqrt(abar) * x_t - np.sqrt(1 - abar) * v, self.x0, rtol=1e-4, atol=1e-5
        )

    def test_shape_errors(self):
        with pytest.raises(ValueError, match=r"t shape \(3,\) != batch shape \(4,\)"):
            q_sample(self.schedule, self.x0, self.t[:3], self.eps)
        with pytest.raises(ValueError, match=r"x0 shape \(4, 3, 2\) != eps shape \(4, 3\)"):
            v_target(self.schedule, self.x0, self.t, self.eps[..., 0])
        with pytest.raises(ValueError, match=r"x0 shape \(4, 3, 2\) != x_t shape \(4, 6\)"):
            posterior_mean_variance(self.schedule, self.x0, self.eps.reshape(4, 6), self.t)


class NoisePredictionLossTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        self.schedule = cosine_schedule(10)
        self.x0 = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, size=(256, 4, 4, 1)))

    def _oracle(self, target):
        """Exact eps (or v, or x_0) from x_t, recovered with the true x_0 and the t it is
        given."""
        abar = self.schedule.alpha_bar_t

        def fn(x_t, t):
            a = abar[t].reshape(-1, 1, 1, 1)
            eps = (x_t - jnp.sqrt(a) * self.x0) / jnp.sqrt(1 - a)
            targets = {"eps": eps, "v": jnp.sqrt(a) * eps - jnp.sqrt(1 - a) * self.x0}
            return targets.get(target, self.x0 + 0.0 * x_t)

        return fn

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters("eps", "v", "x0")
    def test_oracle_has_zero_loss(self, target):
        fn = self.variant(
            lambda x0, k: noise_prediction_loss(self.schedule, self._oracle(target), x0, k, target)
        )
        loss, terms = fn(self.x0, jax.random.key(0))
        assert loss.shape == (256,) and terms["t"].shape == (256,)
        np.testing.assert_allclose(loss, np.zeros(256), atol=1e-4)

    @parameterized.parameters("eps", "v", "x0")
    def test_eps_from_prediction_inverts_the_forward_process(self, target):
        """eps_from_prediction(target, x_t, t, the exact target) recovers the noise of
        q_sample(x_0, t, eps) for each of the loss's targets."""
        eps = jax.random.normal(jax.random.key(3), self.x0.shape)
        t = jnp.arange(256) % 10
        x_t = q_sample(self.schedule, self.x0, t, eps)
        exact = {"eps": eps, "v": v_target(self.schedule, self.x0, t, eps), "x0": self.x0}
        np.testing.assert_allclose(
            eps_from_prediction(self.schedule, target, x_t, t, exact[target]), eps,
            rtol=1e-4, atol=2e-4,
        )  # fmt: skip
        with pytest.raises(ValueError, match="Unknown prediction target 'score'"):
            eps_from_prediction(self.schedule, "score", x_t, t, eps)

    def test_wrong_target_is_penalised(self):
        # Predicting eps when the target is v costs E||eps - v||^2 > 0.
        loss, _ = noise_prediction_loss(
            self.schedule, self._oracle("eps"), self.x0, jax.random.key(1), target="v"
        )
        assert float(loss.mean()) > 0.1

    def test_zero_predictor_loss_is_noise_power_and_t_is_uniform(self):
        zero = lambda x_t, t: jnp.zeros_like(x_t)
        loss, terms = jax.jit(lambda k: noise_prediction_loss(self.schedule, zero, self.x0, k))(
            jax.random.key(2)
        )
        n = loss.size * 16  # E[eps^2] = 1; Var[eps^2] = 2
        assert abs(float(loss.mean()) - 1.0) < 5 * np.sqrt(2 / n)
        t = np.asarray(terms["t"])
        assert t.dtype == np.int32 and t.min() >= 0 and t.max() <= 9
        counts = np.bincount(t, minlength=10)
        assert scipy.stats.chisquare(counts).pvalue > 1e-3

    def test_gradient_reaches_network(self):
        # eps_fn = a * x_t: finite, non-zero gradient in a.
        grad = jax.grad(
            lambda a: noise_prediction_loss(
                self.schedule, lambda x_t, t: a * x_t, self.x0, jax.random.key(3)
            )[0].mean()
        )(0.5)
        assert np.isfinite(grad) and grad != 0

    def test_vmap_over_keys(self):
        keys = jax.random.split(jax.random.key(4), 3)
        zero = lambda x_t, t: jnp.zeros_like(x_t)
        losses, terms = jax.jit(
            jax.vmap(lambda k: noise_prediction_loss(self.schedule, zero, self.x0[:8], k))
        )(keys)
        assert losses.shape == (3, 8)
        assert not np.array_equal(terms["t"][0], terms["t"][1])

    def test_errors(self):
        with pytest.raises(ValueError, match="unknown target 'x_0'"):
            noise_prediction_loss(self.schedule, None, self.x0, jax.random.key(0), target="x_0")
        with pytest.raises(ValueError, match=r"eps_fn returned shape \(256, 16\)"):
            noise_prediction_loss(
                self.schedule, lambda x_t, t: x_t.reshape(256, 16), self.x0, jax.random.key(0)
            )


class GuidanceTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_combination(self):
        rng = np.random.default_rng(3)
        cond, uncond = (rng.normal(size=(3, 2, 2)).astype(np.float32) for _ in range(2))
        fn = self.variant(classifier_free_guidance)
        np.testing.assert_allclose(fn(cond, uncond, 0.0), cond, rtol=1e-6)
        np.testing.assert_allclose(fn(cond, uncond, 2.0), 3 * cond - 2 * uncond, rtol=1e-5)
        w = np.array([0.0, 1.0, 7.5], np.float32)
        expected = (1 + w[:, None, None]) * cond - w[:, None, None] * uncond
        np.testing.assert_allclose(fn(cond, uncond, w), expected, rtol=1e-5, atol=1e-6)
        assert_per_example(classifier_free_guidance, cond, uncond, w)

    def test_shape_errors(self):
        with pytest.raises(ValueError, match=r"w shape \(2,\) is neither a scalar nor"):
            classifier_free_guidance(jnp.zeros((3, 4)), jnp.zeros((3, 4)), jnp.ones(2))
        with pytest.raises(ValueError, match=r"eps_cond shape \(3, 4\) != eps_uncond shape"):
            classifier_free_guidance(jnp.zeros((3, 4)), jnp.zeros((3, 5)), 1.0)


def _oracle_eps_fn(schedule, x0):
    """The exact noise of x_t for data that is the point mass at x0 (one per example):
    eps = (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t)."""

    def eps_fn(x_t, t):
        abar = schedule.alpha_bar_t[t].reshape(-1, 1, 1, 1)
        return (x_t - jnp.sqrt(abar) * x0) / jnp.sqrt(schedule.one_minus_alpha_bar_t[t]).reshape(
            -1, 1, 1, 1
        )

    return eps_fn


@pytest.mark.parametrize("variance", ["beta", "posterior"])
def test_variational_bound_of_the_exact_denoiser_of_a_point_mass_is_its_closed_form(variance):
    """Data = a point mass at x_0 per example, eps_fn its exact noise: mu_theta is the
    posterior mean, so L_{t-1} = D/2 (r - 1 - log r), r = beta~_t / sigma_t^2 (0 for the
    posterior variance); L_T = KL(N(sqrt(abar_T) x_0, 1 - abar_T) || N(0, 1)); L_0 = -log of
    the N(x_0, beta~_2) mass of x_0's 8-bit bin (scipy). Catches a wrong mean, a swapped
    KL, a wrong decoder variance or bin, an index off by one."""
    T, D = 50, 4 * 4 * 1
    schedule = linear_schedule(T, beta_1=1e-4, beta_T=0.2)
    k = np.array([0, 17, 128, 255, 3, 64, 200, 254] * 4, np.float64).reshape(2, 4, 4, 1)
    x0 = k / 127.5 - 1.0  # on the 8-bit grid, edges included
    loss, terms = jax.jit(losses.variational_bound, static_argnums=(1, 4))(
        schedule, _oracle_eps_fn(schedule, jnp.float32(x0)), jnp.float32(x0), jax.random.PRNGKey(0),
        variance,
    )  # fmt: skip
    beta = np.float64(schedule.beta_t)
    abar = np.cumprod(1 - beta)
    beta_tilde = beta[1:] * (1 - abar[:-1]) / (1 - abar[1:])  # indices 1..T-1
    r = beta_tilde / (beta[1:] if variance == "beta" else beta_tilde)
    diffusion = D / 2 * np.sum(r - 1 - np.log(r))
    prior = 0.5 * np.sum(abar[-1] * x0**2 + (1 - abar[-1]) - 1 - np.log(1 - abar[-1]), (1, 2, 3))
    s, h = math.sqrt(beta_tilde[0]), 1 / 255
    mass = scipy.stats.norm.cdf(h / s) - scipy.stats.norm.cdf(-h / s)
    mass = np.where(np.abs(x0) == 1.0, scipy.stats.norm.cdf(h / s), mass)  # the edge bins
    decoder = -np.log(mass).sum((1, 2, 3))
    np.testing.assert_allclose(terms["diffusion"], diffusion, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(terms["prior"], prior, rtol=1e-4)
    np.testing.assert_allclose(terms["decoder"], decoder, rtol=1e-4)
    np.testing.assert_allclose(loss, prior + diffusion + decoder, rtol=1e-3)


def test_variational_bound_grows_with_the_denoisers_error():
    """A noise predictor off by delta adds, at each index t >= 1, the Gaussian KL's mean
    term |mu_q - mu_p|^2 / (2 sigma_t^2) = D delta^2 beta_t / (2 alpha_t (1 - abar_t)):
    closed form of how the bound charges prediction error (eq. 12 of Ho et al.)."""
    T, D, delta = 20, 8, 0.1
    schedule = linear_schedule(T, beta_1=1e-3, beta_T=0.2)
    x0 = jnp.zeros((3, 2, 2, 2))
    exact = _oracle_eps_fn(schedule, x0)
    args = (x0, jax.random.PRNGKey(1), "beta")
    _, good = losses.variational_bound(schedule, exact, *args)
    _, off = losses.variational_bound(schedule, lambda x, t: exact(x, t) + delta, *args)
    beta = np.float64(schedule.beta_t)
    abar = np.cumprod(1 - beta)
    extra = D * delta**2 * np.sum(beta[1:] / (2 * (1 - beta[1:]) * (1 - abar[1:])))
    np.testing.assert_allclose(off["diffusion"] - good["diffusion"], extra, rtol=1e-3)
    assert np.all(off["decoder"] > good["decoder"])
