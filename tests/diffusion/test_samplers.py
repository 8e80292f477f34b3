"""Tests for jaxgen.diffusion.samplers: oracle recovery, agreement between the samplers and
with the posterior q(x_{t-1} | x_t, x_0), determinism, inpainting, guidance, DPM-Solver++(2M)
against the closed-form flow of Gaussian data (accuracy, order 2), and one compiled scan per
chain. (q_sample against the step-by-step forward process: tests/losses.)"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import (
    classifier_free_guidance,
    ddim_invert,
    ddim_sample,
    ddim_step,
    ddim_timesteps,
    ddpm_sample,
    ddpm_sigma_t,
    ddpm_step,
    dpm_solver_2m_coefficients,
    dpm_solver_2m_sample,
    dynamic_threshold,
    guided_eps_fn,
    inpaint,
    make_schedule,
    posterior_mean_variance,
    sdedit,
    static_threshold,
    thresholded_eps_fn,
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


def dpm_solver_2m(eps_fn, schedule, x_T, key, num_steps, trajectory=False):
    """``dpm_solver_2m_sample`` with the other samplers' arguments (it takes no key)."""
    return dpm_solver_2m_sample(eps_fn, schedule, x_T, num_steps, trajectory)


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
    np.testing.assert_array_equal(ddim_timesteps(1000, 3, start=10), [10, 5, 0])
    with pytest.raises(ValueError, match=r"num_steps must be in 1..11 \(from index 10\)"):
        ddim_timesteps(1000, 12, start=10)
    with pytest.raises(ValueError, match=r"start must be an index in 0..T-1 = 0..999"):
        ddim_timesteps(1000, 3, start=1000)
    with pytest.raises(ValueError, match="eta must be in"):
        ddim_sample(oracle(LINEAR, X0), LINEAR, X_T, KEY, num_steps=5, eta=1.5)


@pytest.mark.parametrize(
    "sampler, length",
    [
        (functools.partial(ddpm_sample, variance="beta"), 100),
        (functools.partial(ddim_sample, num_steps=10, eta=1.0), 10),
        (functools.partial(dpm_solver_2m, num_steps=10), 10),
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


@pytest.mark.parametrize(
    "schedule, num_steps", [(LINEAR, 50), (COSINE, 20), (LINEAR, 4), (LINEAR, 1)]
)
def test_dpm_solver_2m_with_oracle_recovers_x0(schedule, num_steps):
    # The oracle's data prediction is x_0 at every step, for which the exponential integrator
    # is exact: each step maps alpha_s x_0 + sigma_s eps to alpha_t x_0 + sigma_t eps.
    sampler = jit_sampler(dpm_solver_2m, oracle(schedule, X0), num_steps=num_steps)
    np.testing.assert_allclose(sampler(schedule, X_T, KEY), X0, atol=1e-4)


def test_dpm_solver_2m_coefficients():
    # float64 reference of the linear schedule; steps 1, M-1 and M are first order (c = 0).
    beta = np.linspace(1e-4, 0.02, 1000)
    abar = np.cumprod(1 - beta)
    lam = 0.5 * np.log(abar / (1 - abar))
    np.testing.assert_allclose(LINEAR.lambda_t, lam, rtol=1e-5, atol=1e-5)
    m = 10
    t, a, b, c = dpm_solver_2m_coefficients(LINEAR, m)
    tau = ddim_timesteps(1000, m)
    h = lam[tau[1:]] - lam[tau[:-1]]  # [M - 1]; h_M = inf
    np.testing.assert_array_equal(t, tau)
    sigma = np.sqrt(1 - abar)
    np.testing.assert_allclose(a, [*(sigma[tau[1:]] / sigma[tau[:-1]]), 0.0], rtol=1e-5)
    np.testing.assert_allclose(b, [*(-np.sqrt(abar[tau[1:]]) * np.expm1(-h)), 1.0], rtol=1e-5)
    np.testing.assert_allclose(c, [0.0, *(h[1 : m - 2] / (2 * h[: m - 3])), 0.0, 0.0], rtol=1e-4)
    assert np.all(np.asarray(c[1 : m - 2]) > 0.3)


def test_dpm_solver_2m_first_order_steps_are_ddim():
    # The first-order step is DDIM's (eta = 0): up to M = 3 steps the chains agree; at M = 10
    # the first state agrees, and the second-order steps after it lead elsewhere.
    eps_fn = squashing(LINEAR)
    for m in (1, 3):
        dpm = jit_sampler(dpm_solver_2m, eps_fn, num_steps=m)(LINEAR, X_T, KEY)
        ddim = jit_sampler(ddim_sample, eps_fn, num_steps=m)(LINEAR, X_T, KEY)
        np.testing.assert_allclose(dpm, ddim, rtol=1e-5, atol=1e-5)
    _, xs = jit_sampler(dpm_solver_2m, eps_fn, num_steps=10, trajectory=True)(LINEAR, X_T, KEY)
    _, ddim_xs = jit_sampler(ddim_sample, eps_fn, num_steps=10, trajectory=True)(LINEAR, X_T, KEY)
    np.testing.assert_allclose(xs[0], ddim_xs[0], rtol=1e-5, atol=1e-5)
    assert float(jnp.abs(xs[-1] - ddim_xs[-1]).mean()) > 1e-3  # 6e-3


# Gaussian data x_0 ~ N(MU, diag(S^2)), one mean and standard deviation per dimension.
MU = jnp.array([0.5, -1.0, 2.0, 0.0])
S = jnp.array([0.5, 1.0, 0.2, 2.0])


def gaussian_data_eps_fn(schedule):
    """The exact noise predictor of x_0 ~ N(MU, diag(S^2)): x_t = sqrt(alpha_bar) x_0 +
    sqrt(1 - alpha_bar) eps and eps are jointly Gaussian, so E[eps | x_t] = Cov(eps, x_t) /
    Var(x_t) (x_t - E x_t) = sqrt(1 - alpha_bar) (x_t - sqrt(alpha_bar) MU) / (alpha_bar S^2 +
    1 - alpha_bar)."""

    def eps_fn(x_t, t):
        alpha_bar = schedule.alpha_bar_t[t][:, None]
        one_minus = schedule.one_minus_alpha_bar_t[t][:, None]
        return (
            jnp.sqrt(one_minus) * (x_t - jnp.sqrt(alpha_bar) * MU) / (alpha_bar * S**2 + one_minus)
        )

    return eps_fn


def gaussian_flow(schedule, n=2000):
    """(x_T, x_0) [n, 4]: x_T from q(x_T) = N(sqrt(alpha_bar_T) MU, alpha_bar_T S^2 + 1 -
    alpha_bar_T) at index T-1, as sqrt(alpha_bar_T) MU + sqrt(...) z with z standardized per
    dimension, and its image under the probability-flow ODE, x_0 = MU + S z (sample mean MU and
    standard deviation S exactly). The ODE of Gaussian data is linear per dimension and maps
    each marginal q(x_t) to the next, so it keeps z: x_t = sqrt(alpha_bar_t) MU +
    sqrt(alpha_bar_t S^2 + 1 - alpha_bar_t) z."""
    z = jax.random.normal(jax.random.key(4), (n, 4))
    z = (z - z.mean(0)) / z.std(0)
    alpha_bar = schedule.alpha_bar_t[-1]
    x_T = jnp.sqrt(alpha_bar) * MU + jnp.sqrt(alpha_bar * S**2 + 1 - alpha_bar) * z
    return x_T, MU + S * z


def flow_error(sampler, schedule, num_steps):
    """Root mean square of x_0 - the exact flow's x_0 on ``gaussian_flow``'s x_T."""
    x_T, x_0 = gaussian_flow(schedule)
    fn = jit_sampler(sampler, gaussian_data_eps_fn(schedule), num_steps=num_steps)
    return float(jnp.sqrt(jnp.mean((fn(schedule, x_T, KEY) - x_0) ** 2)))


@pytest.mark.parametrize("schedule", [LINEAR, make_schedule("cosine", 1000)])
def test_dpm_solver_2m_maps_noise_to_gaussian_data(schedule):
    x_T, exact = gaussian_flow(schedule)
    sampler = jit_sampler(dpm_solver_2m, gaussian_data_eps_fn(schedule), num_steps=100)
    x_0 = sampler(schedule, x_T, KEY)
    np.testing.assert_allclose(x_0.mean(0), MU, atol=1e-4)  # the flow keeps the mean
    np.testing.assert_allclose(x_0.std(0), S, rtol=0.02)
    assert float(jnp.sqrt(jnp.mean((x_0 - exact) ** 2))) < 3e-3


@pytest.mark.parametrize("schedule", [LINEAR, make_schedule("cosine", 1000)])
@pytest.mark.parametrize("num_steps", [10, 20])
def test_dpm_solver_2m_is_more_accurate_than_ddim(schedule, num_steps):
    dpm = flow_error(dpm_solver_2m, schedule, num_steps)
    ddim = flow_error(ddim_sample, schedule, num_steps)
    assert dpm < 0.6 * ddim, (dpm, ddim)


def test_dpm_solver_2m_converges_with_order_2():
    # Halving the step: the error falls 4 times for a second-order solver, 2 times for DDIM.
    ratios = {}
    for name, sampler in (("dpm", dpm_solver_2m), ("ddim", ddim_sample)):
        errors = [flow_error(sampler, LINEAR, m) for m in (40, 80, 160)]
        ratios[name] = [errors[0] / errors[1], errors[1] / errors[2]]
    assert all(3.5 < r < 5.0 for r in ratios["dpm"]), ratios
    assert all(1.8 < r < 2.2 for r in ratios["ddim"]), ratios


def test_dpm_solver_2m_is_deterministic():
    sampler = jax.jit(dpm_solver_2m_sample, static_argnums=(0, 3))
    eps_fn = squashing(LINEAR)
    x_0 = sampler(eps_fn, LINEAR, X_T, 20)
    np.testing.assert_array_equal(sampler(eps_fn, LINEAR, X_T, 20), x_0)
    other = sampler(eps_fn, LINEAR, jax.random.normal(jax.random.key(8), SHAPE), 20)
    assert float(jnp.abs(other - x_0).mean()) > 0.1


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
        (functools.partial(dpm_solver_2m, num_steps=20), 20),
        (lambda eps_fn, *args: inpaint(eps_fn, args[0], X0, MASK, *args[1:]), 1000),
    ],
)
def test_a_sampler_is_one_compiled_scan(sampler, length):
    # One scan over all steps (the predictor inside its body), one while loop when jitted.
    fn = functools.partial(sampler, lambda x_t, t: jnp.tanh(x_t))
    assert scan_lengths(jax.make_jaxpr(fn)(LINEAR, X_T, KEY).jaxpr) == [length]
    assert main_while_loops(jax.jit(fn).lower(LINEAR, X_T, KEY)) == 1


def test_dynamic_threshold_against_numpy():
    x0 = 3.0 * np.asarray(jax.random.normal(jax.random.key(5), SHAPE))
    s = np.maximum(np.percentile(np.abs(x0).reshape(4, -1), 99.5, axis=1), 1.0)[:, None, None, None]
    np.testing.assert_allclose(dynamic_threshold(x0), np.clip(x0, -s, s) / s, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dynamic_threshold(X0), X0)  # inside [-1, 1]: s = 1, unchanged
    np.testing.assert_allclose(static_threshold(x0), np.clip(x0, -1, 1))


@pytest.mark.parametrize("threshold", [static_threshold, dynamic_threshold])
def test_thresholded_sampling_ends_at_the_thresholded_prediction(threshold):
    """With the oracle of a target outside [-1, 1], every step's data prediction is the
    target thresholded, so deterministic DDIM ends there; inside [-1, 1] nothing changes."""
    for target in (X0, 3.0 * X0):
        eps_fn = thresholded_eps_fn(oracle(LINEAR, target), LINEAR.alpha_bar_t, threshold)
        x_0 = jit_sampler(ddim_sample, eps_fn, num_steps=20)(LINEAR, X_T, KEY)
        np.testing.assert_allclose(x_0, threshold(target), atol=1e-4)
    assert float(jnp.abs(threshold(3.0 * X0)).max()) <= 1.0


def test_reverse_process_applies_the_configured_threshold():
    from jaxgen.models.diffusion import reverse_process

    options = {"num_steps": 20, "eta": 0.0, "variance": "beta"}
    reverse = reverse_process("ddim", LINEAR, **options, threshold="static")
    x_0 = jax.jit(reverse, static_argnums=0)(oracle(LINEAR, 3.0 * X0), X_T, KEY)
    np.testing.assert_allclose(x_0, np.clip(3.0 * X0, -1, 1), atol=1e-4)
    with pytest.raises(ValueError, match="Unknown threshold 'clip'; choose one of"):
        reverse_process("ddim", LINEAR, **options, threshold="clip")


def test_sdedit_noises_to_t0_then_denoises_deterministically():
    """With the oracle of a target, SDEdit ends at the target from any strength (the
    deterministic DDIM chain from x_t0 follows the oracle); its start is q(x_t0 | x_input);
    a strength outside [0, 1] is refused."""
    target = -X0
    for strength in (0.1, 0.5, 1.0):
        x_0 = jax.jit(sdedit, static_argnums=(0, 4, 5))(
            oracle(LINEAR, target), LINEAR, X0, KEY, strength, 10
        )
        np.testing.assert_allclose(x_0, target, atol=1e-4)
    # the chain starts from q(x_t0 | x_input), t0 = round(s (T - 1)), eps from the key: a
    # predictor of eps = 0 makes one DDIM step return x_t0 / sqrt(alpha_bar_t0)
    t0 = round(0.3 * 999)
    x_0 = sdedit(lambda x_t, t: jnp.zeros_like(x_t), LINEAR, X0, KEY, 0.3, 1)
    a, eps = LINEAR.alpha_bar_t[t0], jax.random.normal(KEY, X0.shape)
    np.testing.assert_allclose(x_0, X0 + jnp.sqrt((1 - a) / a) * eps, atol=1e-5)
    with pytest.raises(ValueError, match="strength must be in"):
        sdedit(oracle(LINEAR, target), LINEAR, X0, KEY, 1.5, 10)


def test_ddim_inversion_undoes_ddim_sampling():
    """With a noise prediction that does not depend on x, each inversion step is the exact
    inverse of a DDIM step: ddim_sample(ddim_invert(x_0)) = x_0."""
    eps_fn = lambda x_t, t: jnp.broadcast_to(  # noqa: E731
        jnp.sin(t.astype(jnp.float32) / 37.0)[:, None, None, None] * X0[::-1], x_t.shape
    )
    for num_steps in (1, 7, 50):
        x_T = jax.jit(ddim_invert, static_argnums=(0, 3))(eps_fn, LINEAR, X0, num_steps)
        back = jit_sampler(ddim_sample, eps_fn, num_steps=num_steps)(LINEAR, x_T, KEY)
        np.testing.assert_allclose(back, X0, atol=1e-4)


@pytest.mark.parametrize("schedule", [LINEAR, make_schedule("cosine", 1000)])
def test_ddim_inversion_follows_the_exact_flow_of_gaussian_data(schedule):
    """Gaussian data with its exact noise predictor: the probability-flow ODE maps x_0 to a
    known x_T (``gaussian_flow``); the inversion approaches it at first order as the steps
    grow (RMS error 0.66 at 10 steps, 0.087 at 100); a wrong coefficient converges to
    something else."""
    x_T, x_0 = gaussian_flow(schedule)
    invert = jax.jit(ddim_invert, static_argnums=(0, 3))
    errors = [
        float(
            jnp.sqrt(
                jnp.mean((invert(gaussian_data_eps_fn(schedule), schedule, x_0, n) - x_T) ** 2)
            )
        )
        for n in (10, 100)
    ]
    assert errors[1] < 0.2 * errors[0], errors
    assert errors[1] < 0.15, errors
