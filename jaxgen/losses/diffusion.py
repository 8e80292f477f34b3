"""Gaussian diffusion (DDPM) building blocks: noise schedules, the forward process
q(x_t | x_0), the posterior q(x_{t-1} | x_t, x_0), the training loss, and classifier-free
guidance. The samplers in ``jaxgen.diffusion`` build on these.

Time indexing: a schedule holds arrays of length T, and array index t = 0, ..., T-1 is the
paper's step t + 1 = 1, ..., T. So ``alpha_bar_t[0] = 1 - beta_1`` (x_1, the least noisy
latent), ``alpha_bar_t[T - 1]`` belongs to x_T (nearly pure noise), and x_0 is the data,
which has no index. Every function taking ``t`` takes int32 indices [B] in 0..T-1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.losses._checks import check_batched, check_kind, check_same_shape, mean_per_example

EpsFn = Callable[[jax.Array, jax.Array], jax.Array]  # (x_t [B, ...], t [B]) -> [B, ...]


class NoiseSchedule(NamedTuple):
    """Variance schedule of the forward process, arrays of length T (a pytree).

    beta_t[t]: variance of q(x_{t+1} | x_t) in paper indexing (see the module docstring).
    alpha_t = 1 - beta_t.
    alpha_bar_t[t] = prod_{s <= t} alpha_t[s], so q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0,
      (1 - alpha_bar_t) I) at index t.
    """

    beta_t: jax.Array
    alpha_t: jax.Array
    alpha_bar_t: jax.Array

    @property
    def num_steps(self) -> int:
        """T, the number of diffusion steps."""
        return self.beta_t.shape[0]

    @property
    def one_minus_alpha_bar_t(self) -> jax.Array:
        """1 - alpha_bar_t, the variance of q(x_t | x_0), [T].

        Computed as -expm1(sum_{s <= t} log1p(-beta_s)) rather than 1 - alpha_bar_t, which
        loses most digits in float32 for the first steps (alpha_bar_t ~ 1 - 1e-4).
        """
        return -jnp.expm1(jnp.cumsum(jnp.log1p(-self.beta_t)))


def schedule_from_betas(beta_t, dtype=jnp.float32) -> NoiseSchedule:
    """``NoiseSchedule`` from concrete betas in (0, 1), accumulated in float64.

    alpha_t = 1 - beta_t,  alpha_bar_t = prod_{s <= t} alpha_s  (Ho et al. 2020, Sec. 2).
    """
    beta = np.asarray(beta_t, dtype=np.float64)
    if beta.ndim != 1 or beta.size == 0 or not np.all((beta > 0) & (beta < 1)):
        got = f"range [{beta.min()}, {beta.max()}]" if beta.size else "no values"
        raise ValueError(
            f"schedule_from_betas: beta_t must be a non-empty 1-D array with values in (0, 1); "
            f"got shape {beta.shape}, {got}"
        )
    alpha = 1.0 - beta
    return NoiseSchedule(
        beta_t=jnp.asarray(beta, dtype),
        alpha_t=jnp.asarray(alpha, dtype),
        alpha_bar_t=jnp.asarray(np.cumprod(alpha), dtype),
    )


def linear_schedule(num_steps: int, beta_1: float = 1e-4, beta_T: float = 0.02) -> NoiseSchedule:
    """Linear schedule of DDPM: beta_t increases linearly from beta_1 to beta_T.

    beta_t = beta_1 + (t - 1) / (T - 1) * (beta_T - beta_1),  t = 1..T
    (Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models": T = 1000,
    beta_1 = 1e-4, beta_T = 0.02).
    """
    if num_steps < 1:
        raise ValueError(f"linear_schedule: num_steps must be >= 1, got {num_steps}")
    return schedule_from_betas(np.linspace(beta_1, beta_T, num_steps, dtype=np.float64))


def cosine_schedule(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
    """Cosine schedule of improved DDPM, defined through alpha_bar.

    alpha_bar(t) = f(t) / f(0),  f(t) = cos( (t / T + s) / (1 + s) * pi / 2 )^2,
    beta_t = min(1 - alpha_bar(t) / alpha_bar(t - 1), max_beta),  t = 1..T
    (Nichol & Dhariwal 2021, "Improved Denoising Diffusion Probabilistic Models", eq. 17;
    s = 0.008, max_beta = 0.999). alpha_bar_t is recomputed from the clipped betas.
    """
    if num_steps < 1:
        raise ValueError(f"cosine_schedule: num_steps must be >= 1, got {num_steps}")
    steps = np.arange(num_steps + 1, dtype=np.float64) / num_steps
    f = np.cos((steps + s) / (1.0 + s) * math.pi / 2.0) ** 2
    alpha_bar = f / f[0]
    beta = np.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], max_beta)
    return schedule_from_betas(beta)


def _at(values: jax.Array, t: jax.Array, ndim: int) -> jax.Array:
    """values[t] reshaped to [B, 1, ..., 1] to broadcast against [B, ...] arrays."""
    return values[t].reshape(t.shape + (1,) * (ndim - 1))


def _check_t(fn: str, t: jax.Array, x: jax.Array) -> None:
    if t.shape != x.shape[:1]:
        raise ValueError(
            f"{fn}: t shape {tuple(t.shape)} != batch shape {tuple(x.shape[:1])} of x "
            f"{tuple(x.shape)}; pass one integer step index per example, t in 0..T-1"
        )


def q_sample(schedule: NoiseSchedule, x0: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
    """Sample the forward process in closed form.

    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,  eps ~ N(0, I),
    i.e. x_t ~ q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)
    (Ho et al. 2020, eq. 4).

    Args:
      schedule: the ``NoiseSchedule``.
      x0: [B, ...] data.
      t: [B] int step indices in 0..T-1 (paper t = index + 1).
      eps: [B, ...] standard normal noise, the same shape as x0.

    Returns:
      x_t: [B, ...].
    """
    x0, t, eps = jnp.asarray(x0), jnp.asarray(t), jnp.asarray(eps)
    check_batched("q_sample", "x0", x0)
    check_same_shape("q_sample", x0=x0, eps=eps)
    _check_t("q_sample", t, x0)
    alpha_bar = _at(schedule.alpha_bar_t, t, x0.ndim)
    one_minus_alpha_bar = _at(schedule.one_minus_alpha_bar_t, t, x0.ndim)
    return jnp.sqrt(alpha_bar) * x0 + jnp.sqrt(one_minus_alpha_bar) * eps


def posterior_mean_variance(
    schedule: NoiseSchedule, x0: jax.Array, x_t: jax.Array, t: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Mean and variance of the forward-process posterior q(x_{t-1} | x_t, x_0).

    mu~_t = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x_0
            + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t,
    beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t,
    with alpha_bar_0 = 1 (Ho et al. 2020, eqs. 6-7). At index 0 (paper t = 1) the posterior
    is the point mass at x_0: mean x_0, variance 0. The log variance is clipped there to
    log beta~ of index 1, as in Ho et al.'s and Nichol & Dhariwal's code, so it is finite.

    Args:
      schedule: the ``NoiseSchedule``.
      x0: [B, ...] data (or a prediction of it).
      x_t: [B, ...] the latent at index t.
      t: [B] int step indices in 0..T-1.

    Returns:
      mean, variance, log_variance_clipped: each [B, ...], x_t's shape.
    """
    x0, x_t, t = jnp.asarray(x0), jnp.asarray(x_t), jnp.asarray(t)
    check_batched("posterior_mean_variance", "x0", x0)
    check_same_shape("posterior_mean_variance", x0=x0, x_t=x_t)
    _check_t("posterior_mean_variance", t, x0)
    alpha_bar = schedule.alpha_bar_t
    alpha_bar_prev = jnp.concatenate([jnp.ones_like(alpha_bar[:1]), alpha_bar[:-1]])  # [T]
    one_minus = schedule.one_minus_alpha_bar_t  # [T]
    one_minus_prev = jnp.concatenate([jnp.zeros_like(one_minus[:1]), one_minus[:-1]])  # [T]
    variance = schedule.beta_t * one_minus_prev / one_minus  # [T]
    clipped = variance.at[0].set(variance[1]) if schedule.num_steps > 1 else variance
    coef_x0 = schedule.beta_t * jnp.sqrt(alpha_bar_prev) / one_minus  # [T]
    coef_xt = jnp.sqrt(schedule.alpha_t) * one_minus_prev / one_minus  # [T]
    ndim = x0.ndim
    mean = _at(coef_x0, t, ndim) * x0 + _at(coef_xt, t, ndim) * x_t
    shape = x_t.shape
    return (
        mean,
        jnp.broadcast_to(_at(variance, t, ndim), shape),
        jnp.broadcast_to(jnp.log(_at(clipped, t, ndim)), shape),
    )


def v_target(schedule: NoiseSchedule, x0: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
    """Velocity target of v-prediction.

    v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0
    (Salimans & Ho 2022, "Progressive Distillation for Fast Sampling of Diffusion Models",
    Sec. 4 and Appendix D). Given v and x_t: x_0 = sqrt(alpha_bar_t) x_t - sqrt(1 -
    alpha_bar_t) v.

    Args:
      schedule, x0, t, eps: as in ``q_sample``.

    Returns:
      v: [B, ...].
    """
    x0, t, eps = jnp.asarray(x0), jnp.asarray(t), jnp.asarray(eps)
    check_batched("v_target", "x0", x0)
    check_same_shape("v_target", x0=x0, eps=eps)
    _check_t("v_target", t, x0)
    alpha_bar = _at(schedule.alpha_bar_t, t, x0.ndim)
    one_minus_alpha_bar = _at(schedule.one_minus_alpha_bar_t, t, x0.ndim)
    return jnp.sqrt(alpha_bar) * eps - jnp.sqrt(one_minus_alpha_bar) * x0


# target name -> (schedule, x0, t, eps) -> regression target
_TARGETS = {
    "eps": lambda schedule, x0, t, eps: eps,
    "v": v_target,
}


def noise_prediction_loss(
    schedule: NoiseSchedule,
    eps_fn: EpsFn,
    x0: jax.Array,
    key: jax.Array,
    target: str = "eps",
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The simplified DDPM training loss with uniform t.

    L_simple = || eps - eps_theta( sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t ) ||^2,
    t ~ Uniform{1..T}, eps ~ N(0, I)  (Ho et al. 2020, eq. 14 and Algorithm 1);
    with target="v" the network predicts v (``v_target``) instead (Salimans & Ho 2022).

    Args:
      schedule: the ``NoiseSchedule``.
      eps_fn: (x_t [B, ...], t [B] int indices in 0..T-1) -> prediction [B, ...]; the
        network closed over its parameters.
      x0: [B, ...] data.
      key: PRNG key for t and eps.
      target: "eps" or "v".

    Returns:
      loss: [B] squared error averaged over the non-batch axes.
      terms: {"t": [B] the sampled int32 step indices, to bin the loss by t}.
    """
    check_kind("noise_prediction_loss", target, _TARGETS, "target")
    x0 = jnp.asarray(x0)
    check_batched("noise_prediction_loss", "x0", x0)
    key_t, key_eps = jax.random.split(key)
    t = jax.random.randint(key_t, x0.shape[:1], 0, schedule.num_steps, dtype=jnp.int32)  # [B]
    eps = jax.random.normal(key_eps, x0.shape, x0.dtype)
    x_t = q_sample(schedule, x0, t, eps)
    prediction = eps_fn(x_t, t)
    if prediction.shape != x0.shape:
        raise ValueError(
            f"noise_prediction_loss: eps_fn returned shape {tuple(prediction.shape)} != x0 "
            f"shape {tuple(x0.shape)}; the network must predict one value per input element"
        )
    regression_target = _TARGETS[target](schedule, x0, t, eps)
    return mean_per_example(jnp.square(regression_target - prediction)), {"t": t}


def classifier_free_guidance(
    eps_cond: jax.Array, eps_uncond: jax.Array, w: jax.Array | float
) -> jax.Array:
    """Classifier-free guidance: combine conditional and unconditional predictions.

    eps~(x_t, y) = (1 + w) eps(x_t, y) - w eps(x_t, empty)
    (Ho & Salimans 2022, "Classifier-Free Diffusion Guidance", eq. 6). w = 0 is the
    conditional model; w > 0 trades diversity for fidelity.

    Args:
      eps_cond: [B, ...] prediction with the condition y.
      eps_uncond: [B, ...] prediction with the null condition, the same shape.
      w: guidance strength, a scalar or [B] per example.

    Returns:
      [B, ...] guided prediction.
    """
    eps_cond, eps_uncond, w = jnp.asarray(eps_cond), jnp.asarray(eps_uncond), jnp.asarray(w)
    check_batched("classifier_free_guidance", "eps_cond", eps_cond)
    check_same_shape("classifier_free_guidance", eps_cond=eps_cond, eps_uncond=eps_uncond)
    if w.ndim > 0:
        if w.shape != eps_cond.shape[:1]:
            raise ValueError(
                f"classifier_free_guidance: w shape {tuple(w.shape)} is neither a scalar nor "
                f"the batch shape {tuple(eps_cond.shape[:1])} of eps_cond "
                f"{tuple(eps_cond.shape)}"
            )
        w = w.reshape(w.shape + (1,) * (eps_cond.ndim - 1))
    return (1.0 + w) * eps_cond - w * eps_uncond
