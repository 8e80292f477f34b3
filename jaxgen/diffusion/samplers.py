"""Reverse-process samplers of Gaussian diffusion models: DDPM ancestral sampling, DDIM,
DPM-Solver++(2M) and inpainting (classifier-free guidance wraps their noise predictor:
``guidance``).

Every sampler is a pure function of a noise predictor ``eps_fn(x_t [B, ...], t [B]) ->
eps_pred [B, ...]`` (the network closed over its parameters), a ``NoiseSchedule``, the
starting noise x_T and a PRNG key (but DPM-Solver++(2M), which draws no noise). Step indices
follow ``jaxgen.diffusion.schedules``: index t = 0..T-1 is the paper's step t + 1, so a
chain visits indices T-1, ..., 0 and ends at x_0, the data. Each sampler is one ``lax.scan``
over its steps: under ``jax.jit`` (with the integer options static) the whole chain compiles
to a single while loop, one dispatch, not T dispatches of a Python loop.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgen.diffusion.process import EpsFn, posterior_mean_variance, q_sample, reverse_mean
from jaxgen.diffusion.schedules import NoiseSchedule


def _posterior_variance(schedule: NoiseSchedule) -> jax.Array:
    """beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t for every index: [T].

    The variance of q(x_{t-1} | x_t, x_0) depends on neither x_t nor x_0; zeros stand in.
    """
    t = jnp.arange(schedule.num_steps)  # [T]
    zeros = jnp.zeros((schedule.num_steps, 1), schedule.beta_t.dtype)
    return posterior_mean_variance(schedule, zeros, zeros, t)[1][:, 0]


# variance option -> sigma_t^2 of Algorithm 2 for every index, [T] (Ho et al. 2020, Sec. 3.2)
_SIGMA_SQ = {
    "beta": lambda schedule: schedule.beta_t,
    "posterior": _posterior_variance,
}


def ddpm_sigma_t(schedule: NoiseSchedule, variance: str = "beta") -> jax.Array:
    """sigma_t of Algorithm 2 for every index t, [T].

    sigma_t^2 = beta_t ("beta") or sigma_t^2 = beta~_t = (1 - alpha_bar_{t-1}) /
    (1 - alpha_bar_t) beta_t ("posterior"); Ho et al. 2020, Sec. 3.2: the first is optimal
    for x_0 ~ N(0, I), the second for x_0 deterministically set to one point.
    """
    if variance not in _SIGMA_SQ:
        raise ValueError(f"Unknown variance {variance!r}; choose one of {sorted(_SIGMA_SQ)}.")
    return jnp.sqrt(_SIGMA_SQ[variance](schedule))


def _run_chain(step, x_T: jax.Array, key: jax.Array, steps, trajectory: bool = False):
    """x_T -> x_0 by one ``lax.scan`` of ``step(x_t, s, key) -> x_prev`` over the rows s of
    ``steps`` (a pytree of arrays sharing their leading axis, the chain's length S), one key
    per step. With `trajectory`, (x_0, xs): xs [S, B, ...] is x after each step (the scan's
    stacked outputs), xs[-1] = x_0."""
    keys = jax.random.split(key, jax.tree.leaves(steps)[0].shape[0])

    def body(x_t, s_key):
        x_prev = step(x_t, *s_key)
        return x_prev, x_prev if trajectory else None

    x_0, xs = lax.scan(body, x_T, (steps, keys))
    return (x_0, xs) if trajectory else x_0


def _step_indices(t: jax.Array, x_t: jax.Array) -> jax.Array:
    """The scalar index t as the [B] int32 array a noise predictor takes."""
    return jnp.full(x_t.shape[:1], t, jnp.int32)


def ddpm_step(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    x_t: jax.Array,
    t: jax.Array,
    key: jax.Array,
    sigma_t: jax.Array,
) -> jax.Array:
    """One step x_t -> x_{t-1} of ancestral sampling (Ho et al. 2020, Algorithm 2, line 4):

        x_{t-1} = 1 / sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t))
                  + sigma_t z,

    z ~ N(0, I) for paper t > 1, z = 0 at the last step (paper t = 1, index 0).

    Args:
      eps_fn: noise predictor (x_t [B, ...], t [B]) -> eps_pred [B, ...].
      schedule: the ``NoiseSchedule``.
      x_t: [B, ...] the latent at index t.
      t: scalar int index in 0..T-1.
      key: PRNG key of z.
      sigma_t: scalar noise scale of this step, ``ddpm_sigma_t(schedule, variance)[t]``.

    Returns:
      x_{t-1}: [B, ...].
    """
    t_b = _step_indices(t, x_t)
    mean = reverse_mean(schedule, x_t, t_b, eps_fn(x_t, t_b))
    z = jax.random.normal(key, x_t.shape, x_t.dtype)
    return mean + jnp.where(t > 0, sigma_t, 0.0) * z


def _reverse_indices(schedule: NoiseSchedule) -> jax.Array:
    """T-1, ..., 0: every index, from x_T down."""
    return jnp.arange(schedule.num_steps - 1, -1, -1, dtype=jnp.int32)


def ddpm_sample(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    x_T: jax.Array,
    key: jax.Array,
    variance: str = "beta",
    trajectory: bool = False,
):
    """Ancestral sampling over all T steps (Ho et al. 2020, Algorithm 2):

        x_T ~ N(0, I);  for t = T, ..., 1:  x_{t-1} = ``ddpm_step``(x_t, t);  return x_0.

    Args:
      eps_fn: noise predictor (x_t [B, ...], t [B]) -> eps_pred [B, ...].
      schedule: the ``NoiseSchedule`` (T steps).
      x_T: [B, ...] standard normal starting noise.
      key: PRNG key of the per-step noise z.
      variance: "beta" (sigma_t^2 = beta_t) or "posterior" (sigma_t^2 = beta~_t).
      trajectory: also return every x_{t-1}, x_{T-2} first (static).

    Returns:
      x_0: [B, ...] samples; with `trajectory`, (x_0, xs [T, B, ...]), xs[i] = x at index
      T-2-i (paper step T-1-i), xs[-1] = x_0.
    """
    sigma_t = ddpm_sigma_t(schedule, variance)

    def step(x_t, t, key):
        return ddpm_step(eps_fn, schedule, x_t, t, key, sigma_t[t])

    return _run_chain(step, x_T, key, _reverse_indices(schedule), trajectory)


def ddim_timesteps(T: int, num_steps: int, start: int | None = None) -> np.ndarray:
    """DDIM's sub-sequence tau of the T indices: ``num_steps`` indices evenly spaced from
    `start` (default T-1, x_T) down to 0, rounded; [num_steps] int32 (Song et al. 2021, Sec.
    4.2). With num_steps = 1 the single step jumps from x_start to x_0."""
    allowed = f"1..T = 1..{T}" if start is None else f"1..{start + 1} (from index {start})"
    start = T - 1 if start is None else start
    if not 0 <= start <= T - 1:
        raise ValueError(f"DDIM start must be an index in 0..T-1 = 0..{T - 1}, got {start}.")
    if not 1 <= num_steps <= start + 1:
        raise ValueError(f"DDIM num_steps must be in {allowed}, got {num_steps}.")
    return np.round(np.linspace(start, 0, num_steps)).astype(np.int32)


def ddim_step(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    x_t: jax.Array,
    t: jax.Array,
    t_prev: jax.Array,
    key: jax.Array,
    eta: float | jax.Array,
) -> jax.Array:
    """One DDIM step x_t -> x_{t_prev} (Song et al. 2021, eq. 12, sigma_t from eq. 16):

        x0_pred = (x_t - sqrt(1 - alpha_bar_t) eps_pred) / sqrt(alpha_bar_t),
        x_prev  = sqrt(alpha_bar_prev) x0_pred + sqrt(1 - alpha_bar_prev - sigma_t^2) eps_pred
                  + sigma_t eps,
        sigma_t = eta sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t))
                  sqrt(1 - alpha_bar_t / alpha_bar_prev),

    eps_pred = eps_theta(x_t, t), eps ~ N(0, I), alpha_bar_prev = 1 for t_prev = -1 (x_0).
    eta = 0 is deterministic; eta = 1 over all T steps is Algorithm 2 with sigma_t^2 = beta~_t.

    Args:
      eps_fn, schedule, x_t, key: as in ``ddpm_step``.
      t: scalar int index of x_t.
      t_prev: scalar int index of the output, < t; -1 for x_0.
      eta: in [0, 1], the stochasticity.

    Returns:
      x_{t_prev}: [B, ...].
    """
    eps_pred = eps_fn(x_t, _step_indices(t, x_t))
    alpha_bar_t, one_minus_t = schedule.alpha_bar_t[t], schedule.one_minus_alpha_bar_t[t]
    prev = jnp.maximum(t_prev, 0)
    alpha_bar_prev = jnp.where(t_prev >= 0, schedule.alpha_bar_t[prev], 1.0)
    one_minus_prev = jnp.where(t_prev >= 0, schedule.one_minus_alpha_bar_t[prev], 0.0)
    x0_pred = (x_t - jnp.sqrt(one_minus_t) * eps_pred) / jnp.sqrt(alpha_bar_t)
    sigma_t = eta * jnp.sqrt(one_minus_prev / one_minus_t * (1.0 - alpha_bar_t / alpha_bar_prev))
    # 1 - alpha_bar_prev - sigma_t^2 >= 0 for eta <= 1; the clip only removes rounding.
    direction = jnp.sqrt(jnp.maximum(one_minus_prev - sigma_t**2, 0.0)) * eps_pred
    eps = jax.random.normal(key, x_t.shape, x_t.dtype)
    return jnp.sqrt(alpha_bar_prev) * x0_pred + direction + sigma_t * eps


def ddim_sample(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    x_T: jax.Array,
    key: jax.Array,
    num_steps: int,
    eta: float | jax.Array = 0.0,
    trajectory: bool = False,
    start: int | None = None,
):
    """DDIM sampling (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models"): the
    generalized reverse process of eq. 12 (``ddim_step``) along the sub-sequence
    ``ddim_timesteps(T, num_steps, start)``, ending at x_0.

    Args:
      eps_fn: noise predictor (x_t [B, ...], t [B]) -> eps_pred [B, ...], trained on the T
        steps of `schedule`.
      schedule: the ``NoiseSchedule``.
      x_T: [B, ...] standard normal starting noise.
      key: PRNG key of the per-step noise (unused in effect when eta = 0).
      num_steps: number of network evaluations, 1..T (static).
      eta: 0 (deterministic DDIM) to 1 (DDPM-like).
      trajectory: also return the x of every step (static).
      start: the index x_T stands at (static; default T-1): SDEdit starts lower (``sdedit``).

    Returns:
      x_0: [B, ...] samples; with `trajectory`, (x_0, xs [S, B, ...]), xs[i] = x at index
      tau_{i+1} (``ddim_timesteps``; -1 for x_0 at i = S-1).
    """
    if isinstance(eta, int | float) and not 0.0 <= eta <= 1.0:
        raise ValueError(f"DDIM eta must be in [0, 1], got {eta}.")
    tau = ddim_timesteps(schedule.num_steps, num_steps, start)  # [S]
    tau_prev = np.append(tau[1:], np.int32(-1))  # [S], -1 is x_0

    def step(x_t, t_and_prev, key):
        return ddim_step(eps_fn, schedule, x_t, *t_and_prev, key, eta)

    return _run_chain(step, x_T, key, (jnp.asarray(tau), jnp.asarray(tau_prev)), trajectory)


def ddim_invert(
    eps_fn: EpsFn, schedule: NoiseSchedule, x_0: jax.Array, num_steps: int
) -> jax.Array:
    """DDIM inversion: the deterministic DDIM update (eta = 0) run from x_0 up to x_T along
    ``ddim_timesteps(T, num_steps)`` in reverse (Song et al. 2021, Sec. 4.3; Dhariwal &
    Nichol 2021, App. F), with the noise predicted at the known point:

        eps = eps_theta(x_prev, t),
        x_t = sqrt(alpha_bar_t) (x_prev - sqrt(1 - alpha_bar_prev) eps) / sqrt(alpha_bar_prev)
              + sqrt(1 - alpha_bar_t) eps,

    each step the inverse of ``ddim_step`` from t to t_prev where eps_theta(x_t, t) =
    eps_theta(x_prev, t), so ``ddim_sample`` of the result returns x_0 up to how much the
    prediction moves along one step (exactly when it does not depend on x).

    Args:
      eps_fn, schedule: as in ``ddim_sample``.
      x_0: [B, ...] data.
      num_steps: network evaluations, 1..T (static).

    Returns:
      x_T: [B, ...] the latent DDIM would decode back to about x_0.
    """
    tau = ddim_timesteps(schedule.num_steps, num_steps)[::-1]  # [S], up to T-1
    tau_prev = np.insert(tau[:-1], 0, np.int32(-1))  # [S], -1 is x_0

    def step(x_prev, t_and_prev):
        t, t_prev = t_and_prev
        eps = eps_fn(x_prev, _step_indices(t, x_prev))
        prev = jnp.maximum(t_prev, 0)
        alpha_bar_prev = jnp.where(t_prev >= 0, schedule.alpha_bar_t[prev], 1.0)
        one_minus_prev = jnp.where(t_prev >= 0, schedule.one_minus_alpha_bar_t[prev], 0.0)
        x0_pred = (x_prev - jnp.sqrt(one_minus_prev) * eps) / jnp.sqrt(alpha_bar_prev)
        x_t = jnp.sqrt(schedule.alpha_bar_t[t]) * x0_pred
        return x_t + jnp.sqrt(schedule.one_minus_alpha_bar_t[t]) * eps, None

    steps = (jnp.asarray(tau.copy()), jnp.asarray(tau_prev))
    return lax.scan(step, x_0, steps)[0]


def sdedit(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    x_input: jax.Array,
    key: jax.Array,
    strength: float,
    num_steps: int,
) -> jax.Array:
    """SDEdit (Meng et al. 2022, "SDEdit: Guided Image Synthesis and Editing with Stochastic
    Differential Equations"): image-to-image by noising, then denoising.

        t0 = round(strength (T - 1)),
        x_t0 = sqrt(alpha_bar_t0) x_input + sqrt(1 - alpha_bar_t0) eps   (q(x_t0 | x_input)),
        x_0 = deterministic DDIM from t0 down to 0 in min(num_steps, t0 + 1) steps.

    strength in [0, 1] (static): near 0 keeps the input (faithful), 1 starts from almost pure
    noise (realistic, unrelated). x_input [B, ...] in the data's range; key: eps's."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"SDEdit strength must be in [0, 1], got {strength}.")
    t0 = int(round(strength * (schedule.num_steps - 1)))
    eps = jax.random.normal(key, x_input.shape, x_input.dtype)
    x_t0 = q_sample(schedule, x_input, jnp.full(x_input.shape[:1], t0), eps)
    steps = min(num_steps, t0 + 1)
    return ddim_sample(eps_fn, schedule, x_t0, key, steps, eta=0.0, start=t0)


def dpm_solver_2m_coefficients(
    schedule: NoiseSchedule, num_steps: int
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """The per-step coefficients of ``dpm_solver_2m_sample`` with M = `num_steps`: (t, a, b,
    c), each [M], for steps i = 1..M from t_{i-1} to t_i (t_{M-1} = index 0, t_M = x_0):

        t_{i-1}  the index the network is evaluated at (``ddim_timesteps(T, M)``),
        a_i = sigma_{t_i} / sigma_{t_{i-1}},   b_i = -alpha_{t_i} (e^{-h_i} - 1),
        c_i = 1 / (2 r_i) = h_i / (2 h_{i-1}),  h_i = lambda_{t_i} - lambda_{t_{i-1}},

    with alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t), lambda_t =
    ``schedule.lambda_t``. c_1 = c_{M-1} = c_M = 0 (first-order steps); x_0 has sigma = 0,
    alpha = 1 (lambda = +inf), so a_M = 0 and b_M = 1.
    """
    tau = ddim_timesteps(schedule.num_steps, num_steps)  # [M]: t_0, ..., t_{M-1}
    tau_next = np.append(tau[1:], np.int32(-1))  # [M]: t_1, ..., t_M; -1 is x_0
    final = tau_next < 0  # [M], the last step only
    second_order = (np.arange(num_steps) > 0) & (np.arange(num_steps) < num_steps - 2)
    nxt = np.maximum(tau_next, 0)
    lam = schedule.lambda_t
    h = jnp.where(final, jnp.inf, lam[nxt] - lam[tau])  # [M]
    h_last = jnp.concatenate([h[:1], h[:-1]])  # h_{i-1}; h_0 is unused (c_1 = 0)
    sigma_ratio = jnp.sqrt(
        schedule.one_minus_alpha_bar_t[nxt] / schedule.one_minus_alpha_bar_t[tau]
    )
    a = jnp.where(final, 0.0, sigma_ratio)
    b = jnp.where(final, 1.0, -jnp.sqrt(schedule.alpha_bar_t[nxt]) * jnp.expm1(-h))
    c = jnp.where(second_order, h / (2.0 * h_last), 0.0)
    return jnp.asarray(tau), a, b, c


def dpm_solver_2m_sample(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    x_T: jax.Array,
    num_steps: int,
    trajectory: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of
    Diffusion Probabilistic Models", Algorithm 2): the deterministic multistep second-order
    solver of the diffusion ODE in its data-prediction form, on DDIM's sub-sequence
    t_0 > ... > t_{M-1} = ``ddim_timesteps(T, M)`` (index 0 last), then t_M = x_0.

    With alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t), lambda_t =
    log(alpha_t / sigma_t) and h_i = lambda_{t_i} - lambda_{t_{i-1}}, step i = 1..M
    evaluates the network once, at s = t_{i-1}:

        x0_{i-1} = (x_s - sigma_s eps_theta(x_s, s)) / alpha_s,     (data prediction)
        D_i      = (1 + 1 / (2 r_i)) x0_{i-1} - 1 / (2 r_i) x0_{i-2},   r_i = h_{i-1} / h_i,
        x_{t_i}  = sigma_{t_i} / sigma_s x_s - alpha_{t_i} (e^{-h_i} - 1) D_i.

    Steps 1, M-1 and M are first order, D_i = x0_{i-1}: DDIM's steps (eq. 12, eta = 0;
    the first-order solver is DDIM, Lu et al. 2022). Step 1 for want of x0_{-1} (Algorithm
    2); step M because x_0 has sigma = 0 and lambda = +inf, where h_M = inf and r_M = 0
    leave the correction undefined (x_0 = x0_{M-1}); step M-1, into index 0, because the
    time-uniform sub-sequence leaves a wide lambda gap before index 0 (linear schedule,
    M = 10: h_{M-1} = 3.6 after h_{M-2} = 0.8), across which the extrapolation of weight
    1 / (2 r) overshoots (the lower_order_final option of the authors' implementation, used
    there for few steps only). A fixed number of first-order steps keeps the global order
    2. With M <= 3 every step is first order: DDIM.
    Coefficients: ``dpm_solver_2m_coefficients``. M = `num_steps` network evaluations.

    Args:
      eps_fn: noise predictor (x_t [B, ...], t [B]) -> eps_pred [B, ...], trained on the T
        steps of `schedule` (guidance wraps it: ``guided_eps_fn``).
      schedule: the ``NoiseSchedule``.
      x_T: [B, ...] standard normal starting noise.
      num_steps: M, the number of steps and of network evaluations, 1..T (static).
      trajectory: also return the x of every step (static).

    Returns:
      x_0: [B, ...] samples; with `trajectory`, (x_0, xs [M, B, ...]), xs[i] = x_{t_{i+1}}
      (xs[-1] = x_0), the states ``ddim_sample`` returns at the same indices.
    """
    coefficients = dpm_solver_2m_coefficients(schedule, num_steps)
    alpha, sigma = jnp.sqrt(schedule.alpha_bar_t), jnp.sqrt(schedule.one_minus_alpha_bar_t)

    def body(carry, step):
        x_t, x0_last = carry
        t, a, b, c = step
        eps_pred = eps_fn(x_t, _step_indices(t, x_t))
        x0_pred = (x_t - sigma[t] * eps_pred) / alpha[t]
        d = (1.0 + c) * x0_pred - c * x0_last
        x_next = a * x_t + b * d
        return (x_next, x0_pred), x_next if trajectory else None

    (x_0, _), xs = lax.scan(body, (x_T, jnp.zeros_like(x_T)), coefficients)
    return (x_0, xs) if trajectory else x_0


def inpaint(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    x_0: jax.Array,
    mask: jax.Array,
    x_T: jax.Array,
    key: jax.Array,
    variance: str = "beta",
    resample: int = 1,
) -> jax.Array:
    """Inpainting with an unconditional model: RePaint (Lugmayr et al. 2022, Algorithm 1,
    jump length 1). For t = T, ..., 1, U = `resample` times:

        x_{t-1}^known   = sqrt(alpha_bar_{t-1}) x_0 + sqrt(1 - alpha_bar_{t-1}) eps,
                          eps ~ N(0, I), and x_0 itself at t = 1,
        x_{t-1}^unknown = ``ddpm_step``(x_t, t)  (Ho et al. 2020, Algorithm 2),
        x_{t-1}         = m * x_{t-1}^known + (1 - m) * x_{t-1}^unknown,
        and unless this is the U-th time or t = 1, back one step:
        x_t             = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z,  z ~ N(0, I).

    The known region of the result equals x_0 exactly. U = 1 is plain replacement; going
    back and denoising again (U > 1, U network passes per step) harmonizes the generated
    region with the known one.

    Args:
      eps_fn: noise predictor of an unconditional model.
      schedule: the ``NoiseSchedule``.
      x_0: [B, ...] images; only the known region (mask = 1) is read.
      mask: m, 1 where x_0 is known and 0 where it is generated; binary, of x_0's shape or
        broadcastable to it (e.g. [B, H, W, 1] or [H, W, 1]).
      x_T: [B, ...] standard normal starting noise.
      key: PRNG key.
      variance: sigma_t^2 option of Algorithm 2, as in ``ddpm_sample``.
      resample: U >= 1, denoising passes per step.

    Returns:
      [B, ...] x_0 with its unknown region generated.
    """
    x_0, mask = jnp.asarray(x_0), jnp.asarray(mask)
    try:
        ok = x_0.shape == x_T.shape and jnp.broadcast_shapes(mask.shape, x_0.shape) == x_0.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"inpaint: x_0 {tuple(x_0.shape)}, x_T {tuple(x_T.shape)} and mask "
            f"{tuple(mask.shape)}: x_T must have x_0's shape and mask must broadcast to it."
        )
    if resample < 1:
        raise ValueError(f"inpaint: resample={resample}; it counts passes per step, >= 1.")
    known = mask > 0
    sigma_t = ddpm_sigma_t(schedule, variance)

    def step(x_t, t, key):
        key_step, key_known = jax.random.split(key)
        x_prev_unknown = ddpm_step(eps_fn, schedule, x_t, t, key_step, sigma_t[t])
        eps = jax.random.normal(key_known, x_0.shape, x_0.dtype)
        x_prev_noised = q_sample(schedule, x_0, _step_indices(jnp.maximum(t - 1, 0), x_0), eps)
        x_prev_known = jnp.where(t > 0, x_prev_noised, x_0)
        return jnp.where(known, x_prev_known, x_prev_unknown)

    def resampled_step(x_t, t, key):
        def back_and_again(u, x_prev):
            key_back, key_step = jax.random.split(jax.random.fold_in(key, u))
            z = jax.random.normal(key_back, x_prev.shape, x_prev.dtype)
            x_t = jnp.sqrt(schedule.alpha_t[t]) * x_prev + jnp.sqrt(schedule.beta_t[t]) * z
            return step(x_t, t, key_step)

        passes = jnp.where(t > 0, resample, 1)
        return jax.lax.fori_loop(1, passes, back_and_again, step(x_t, t, key))

    chain_step = step if resample == 1 else resampled_step
    return _run_chain(chain_step, x_T, key, _reverse_indices(schedule))
