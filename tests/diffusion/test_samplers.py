"""Tests for jaxgen.diffusion.samplers: oracle recovery, agreement between the samplers and
with the posterior q(x_{t-1} | x_t, x_0), determinism, inpainting, guidance, and one compiled
scan per chain. (q_sample against the step-by-step forward process: tests/losses.)"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import (
    classifier_free_guidance,
    ddim_sample,
    ddim_step,
    ddim_timesteps,
    ddpm_sample,
    ddpm_sigma_t,
    ddpm_step,
    guided_eps_fn,
    inpaint,
    make_schedule,
    posterior_mean_variance,
)

from .helpers import main_while_loops, oracle, scan_lengths, squashing

LINEAR = make_schedule("linear", 1000)
COSINE = make_schedule("cosine", 200)
SHAPE = (4, 8, 8, 1)
X0 = jax.random.uniform(jax.random.key(0), SHAPE, minval=-1.0, maxval=1.0)
X_T = jax.random.normal(jax.random.key(1), SHAPE)
KEY = jax.random.key(2)


def jit_sampler(sampler, eps_fn, **options):
    """jit of (schedule, x_T, key) -> x_0, the predictor and options static."""
    return jax.jit(functools.partial(sampler, eps_fn, **options))


@pytest.mark.parametrize(
    "schedule, variance", [(LINEAR, "beta"), (LINEAR, "posterior"), (COSINE, "beta")]
)
def test_ddpm_with_oracle_recovers_x0(schedule, variance):
    x_0 = jit_sampler(ddpm_sample, oracle(schedule, X0), variance=variance)(schedule, X_T, KEY)
    np.testing.assert_allclose(x_0, X0, atol=1e-4)


@pytest.mark.parametrize(
    "schedule, num_steps, eta",
    [(LINEAR, 1000, 0.0), (LINEAR, 50, 0.0), (COSINE, 20, 1.0), (LINEAR, 1, 0.0)],
)
def test_ddim_with_oracle_recovers_x0(schedule, num_steps, eta):
    sampler = jit_sampler(ddim_sample, oracle(schedule, X0), num_steps=num_steps, eta=eta)
    np.testing.assert_allclose(sampler(schedule, X_T, KEY), X0, atol=1e-4)


@pytest.mark.parametrize("t", [0, 500, 999])
def test_ddpm_step_mean_is_the_posterior_mean(t):
    # Algorithm 2's mean with the exact eps is mu~_t(x_t, x_0) of q(x_{t-1} | x_t, x_0) (eq. 7).
    x_t = X0 + 0.3 * X_T
    mean = ddpm_step(oracle(LINEAR, X0), LINEAR, x_t, jnp.int32(t), KEY, sigma_t=0.0)
    expected, _, _ = posterior_mean_variance(LINEAR, X0, x_t, jnp.full(4, t))
    np.testing.assert_allclose(mean, expected, rtol=1e-5, atol=1e-5)


def test_ddpm_sigma_t():
    np.testing.assert_allclose(ddpm_sigma_t(LINEAR, "beta") ** 2, LINEAR.beta_t, rtol=1e-6)
    beta = np.linspace(1e-4, 0.02, LINEAR.num_steps)  # float64 reference of the schedule
    abar = np.cumprod(1 - beta)
    beta_tilde = (1 - abar[:-1]) / (1 - abar[1:]) * beta[1:]
    posterior = ddpm_sigma_t(LINEAR, "posterior")
    np.testing.assert_allclose(posterior[1:] ** 2, beta_tilde, rtol=1e-5)
    assert posterior[0] == 0.0
    with pytest.raises(ValueError, match="Unknown variance 'fixed'"):
        ddpm_sigma_t(LINEAR, "fixed")


def test_ddim_with_eta_1_on_all_steps_is_ddpm_with_posterior_variance():
    # Song et al. 2021, eq. 16: the same chain, computed by different formulas.
    eps_fn = squashing(COSINE)
    ddpm = jit_sampler(ddpm_sample, eps_fn, variance="posterior")(COSINE, X_T, KEY)
    ddim = jit_sampler(ddim_sample, eps_fn, num_steps=200, eta=1.0)(COSINE, X_T, KEY)
    np.testing.assert_allclose(ddim, ddpm, rtol=1e-3, atol=1e-3)
    assert float(jnp.std(ddpm)) > 0.1


def test_ddim_with_eta_0_is_deterministic_given_x_T():
    sampler = jit_sampler(ddim_sample, squashing(LINEAR), num_steps=20, eta=0.0)
    x_0 = sampler(LINEAR, X_T, KEY)
    np.testing.assert_array_equal(sampler(LINEAR, X_T, jax.random.key(7)), x_0)
    other = sampler(LINEAR, jax.random.normal(jax.random.key(8), SHAPE), KEY)
    assert float(jnp.abs(other - x_0).mean()) > 0.1
    stochastic = jit_sampler(ddim_sample, squashing(LINEAR), num_steps=20, eta=1.0)
    a, b = stochastic(LINEAR, X_T, KEY), stochastic(LINEAR, X_T, jax.random.key(7))
    assert float(jnp.abs(a - b).mean()) > 0.1


def test_ddim_timesteps():
    tau = ddim_timesteps(1000, 50)
    assert tau.shape == (50,) and tau[0] == 999 and tau[-1] == 0
    assert np.all(np.diff(tau) < 0)
    np.testing.assert_array_equal(ddim_timesteps(10, 10), np.arange(9, -1, -1))
    np.testing.assert_array_equal(ddim_timesteps(1000, 1), [999])
    for bad in (0, 1001):
        with pytest.raises(ValueError, match=r"num_steps must be in 1..T = 1..1000"):
            ddim_timesteps(1000, bad)
    with pytest.raises(ValueError, match="eta must be in"):
        ddim_sample(oracle(LINEAR, X0), LINEAR, X_T, KEY, num_steps=5, eta=1.5)


@pytest.mark.parametrize(
    "sampler, length",
    [
        (functools.partial(ddpm_sample, variance="beta"), 100),
        (functools.partial(ddim_sample, num_steps=10, eta=1.0), 10),
    ],
)
def test_trajectory_ends_at_the_plain_samplers_x_0(sampler, length):
    # The same scan with its per-step x stacked: the same keys, the same chain.
    schedule = make_schedule("cosine", 100)
    fn = jax.jit(functools.partial(sampler, squashing(schedule)), static_argnames="trajectory")
    x_0 = fn(schedule, X_T, KEY)
    final, xs = fn(schedule, X_T, KEY, trajectory=True)
    assert xs.shape == (length, *SHAPE)
    np.testing.assert_array_equal(final, x_0)
    np.testing.assert_array_equal(xs[-1], x_0)
    assert float(jnp.abs(xs[0] - x_0).mean()) > 0.05  # the chain moves


def test_ddim_trajectory_visits_the_steps_of_tau():
    # Deterministic DDIM: state i is ddim_step from state i-1, tau_i -> tau_{i+1}.
    eps_fn = squashing(LINEAR)
    _, xs = ddim_sample(eps_fn, LINEAR, X_T, KEY, num_steps=4, trajectory=True)
    tau = [*ddim_timesteps(1000, 4).tolist(), -1]
    previous = X_T
    for i in range(4):
        expected = ddim_step(eps_fn, LINEAR, previous, tau[i], tau[i + 1], KEY, 0.0)
        np.testing.assert_allclose(xs[i], expected, rtol=1e-5, atol=1e-5)
        previous = xs[i]


MASK = jnp.zeros((8, 8, 1)).at[:, :4].set(1.0)  # left half known, broadcast over the batch


def test_inpaint_with_oracle_recovers_the_whole_image():
    x_0 = jax.jit(functools.partial(inpaint, oracle(LINEAR, X0)))(LINEAR, X0, MASK, X_T, KEY)
    np.testing.assert_allclose(x_0, X0, atol=1e-4)


def test_inpaint_keeps_the_known_region():
    mask = jnp.broadcast_to(MASK, SHAPE)
    x_0 = jax.jit(functools.partial(inpaint, squashing(COSINE)))(COSINE, X0, mask, X_T, KEY)
    np.testing.assert_array_equal(jnp.where(mask > 0, x_0, 0.0), jnp.where(mask > 0, X0, 0.0))
    assert float(jnp.abs(x_0 - X0)[..., 4:, :].mean()) > 0.1  # the rest is generated
    with pytest.raises(ValueError, match=r"mask \(8, 7, 1\).*must broadcast"):
        inpaint(oracle(COSINE, X0), COSINE, X0, MASK[:, :7], X_T, KEY)


def gaussian_eps_fn(schedule, cov):
    """The exact noise predictor of data x_0 ~ N(0, cov): E[eps | x_t] = sqrt(1 - alpha_bar)
    (alpha_bar cov + (1 - alpha_bar) I)^-1 x_t."""

    def eps_fn(x_t, t):
        a = schedule.alpha_bar_t[t][:, None, None]
        precision = jnp.linalg.inv(a * cov + (1 - a) * jnp.eye(len(cov)))
        return jnp.sqrt(1 - a[:, 0]) * jnp.einsum("bij,bj->bi", precision, x_t)

    return eps_fn


def test_inpaint_resampling_approaches_the_exact_conditional():
    """Data N(0, [[1, rho], [rho, 1]]) with the first coordinate known (a = 1.5): the
    generated second one should follow N(rho a, 1 - rho^2). With the exact predictor,
    replacement (U = 1) misses that mean; RePaint's resampling (U = 10) nearly meets it;
    with the oracle, both recover x_0."""
    rho, a, n = 0.9, 1.5, 4000
    schedule = make_schedule("linear", 100)
    cov = jnp.array([[1.0, rho], [rho, 1.0]])
    x_0 = jnp.tile(jnp.array([[a, 0.0]]), (n, 1))
    x_T = jax.random.normal(jax.random.key(3), (n, 2))
    mask = jnp.array([1.0, 0.0])
    eps_fn = gaussian_eps_fn(schedule, cov)
    b = {
        u: jax.jit(functools.partial(inpaint, eps_fn, resample=u))(schedule, x_0, mask, x_T, KEY)
        for u in (1, 10)
    }
    np.testing.assert_array_equal(b[10][:, 0], a)  # the known coordinate
    errors = {u: abs(float(b[u][:, 1].mean()) - rho * a) for u in b}
    assert errors[1] > 0.2 and errors[10] < 0.05, errors  # standard error ~0.007
    assert abs(float(b[10][:, 1].std()) - np.sqrt(1 - rho**2)) < 0.05
    recovered = jax.jit(functools.partial(inpaint, oracle(LINEAR, X0), resample=3))
    np.testing.assert_allclose(recovered(LINEAR, X0, MASK, X_T, KEY), X0, atol=1e-4)
    with pytest.raises(ValueError, match="resample=0; it counts passes per step"):
        inpaint(eps_fn, schedule, x_0, mask, x_T, KEY, resample=0)


def test_guided_eps_fn_combines_one_call_on_the_doubled_batch():
    calls = []

    def eps_fn_y(x_t, t, y):
        calls.append(x_t.shape)
        return jnp.sin(x_t + t.reshape(-1, 1, 1, 1) + 10.0 * y.reshape(-1, 1, 1, 1))

    y, t, w = jnp.array([0, 1, 2, 3]), jnp.full(4, 9), 2.5
    guided = guided_eps_fn(eps_fn_y, y, 10, w)(X_T, t)
    assert calls == [(8, 8, 8, 1)]
    expected = classifier_free_guidance(eps_fn_y(X_T, t, y), eps_fn_y(X_T, t, jnp.full(4, 10)), w)
    np.testing.assert_allclose(guided, expected, rtol=1e-6)
    unguided = guided_eps_fn(eps_fn_y, y, 10, 0.0)(X_T, t)
    np.testing.assert_allclose(unguided, eps_fn_y(X_T, t, y), rtol=1e-6)


@pytest.mark.parametrize(
    "sampler, length",
    [
        (functools.partial(ddpm_sample, variance="posterior"), 1000),
        (functools.partial(ddim_sample, num_steps=50, eta=0.5), 50),
        (lambda eps_fn, *args: inpaint(eps_fn, args[0], X0, MASK, *args[1:]), 1000),
    ],
)
def test_a_sampler_is_one_compiled_scan(sampler, length):
    # One scan over all steps (the predictor inside its body), one while loop when jitted.
    fn = functools.partial(sampler, lambda x_t, t: jnp.tanh(x_t))
    assert scan_lengths(jax.make_jaxpr(fn)(LINEAR, X_T, KEY).jaxpr) == [length]
    assert main_while_loops(jax.jit(fn).lower(LINEAR, X_T, KEY)) == 1
