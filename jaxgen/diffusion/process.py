"""The forward process of Gaussian diffusion and what follows from it in closed form:
q(x_t | x_0), the posterior q(x_{t-1} | x_t, x_0), the reverse mean it implies for a noise
prediction and the velocity v (Ho et al. 2020;
Salimans & Ho 2022). Step indices t = 0..T-1 as in ``jaxgen.diffusion.schedules``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxgen.diffusion.schedules import NoiseSchedule

EpsFn = Callable[[jax.Array, jax.Array], jax.Array]  # (x_t [B, ...], t [B]) -> [B, ...]


def at_index(values: jax.Array, t: jax.Array, ndim: int) -> jax.Array:
    """values[t] reshaped to [B, 1, ..., 1] to broadcast against [B, ...] arrays."""
    return values[t].reshape(t.shape + (1,) * (ndim - 1))


def check_shapes(fn: str, t: jax.Array | None = None, **arrays: jax.Array) -> None:
    """Raise ValueError naming `fn` unless the `arrays` share one shape [B, ...] (at least
    one axis, the batch on axis 0) and `t`, when given, holds one step index per example,
    [B]. Shapes are static, so this raises at trace time, before any computation."""
    (first_name, first), *rest = arrays.items()
    if first.ndim < 1:
        raise ValueError(
            f"{fn}: {first_name} has shape {tuple(first.shape)} but must have at least 1 "
            f"axes [B, ...], with the batch on axis 0"
        )
    for name, x in rest:
        if x.shape != first.shape:
            raise ValueError(
                f"{fn}: {first_name} shape {tuple(first.shape)} != {name} shape "
                f"{tuple(x.shape)}; {' and '.join(arrays)} must have the same shape [B, ...]"
            )
    if t is not None and t.shape != first.shape[:1]:
        raise ValueError(
            f"{fn}: t shape {tuple(t.shape)} != batch shape {tuple(first.shape[:1])} of "
            f"{first_name} {tuple(first.shape)}; pass one integer step index per example, "
            f"t in 0..T-1"
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
    check_shapes("q_sample", t, x0=x0, eps=eps)
    alpha_bar = at_index(schedule.alpha_bar_t, t, x0.ndim)
    one_minus_alpha_bar = at_index(schedule.one_minus_alpha_bar_t, t, x0.ndim)
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
    check_shapes("posterior_mean_variance", t, x0=x0, x_t=x_t)
    alpha_bar = schedule.alpha_bar_t
    alpha_bar_prev = jnp.concatenate([jnp.ones_like(alpha_bar[:1]), alpha_bar[:-1]])  # [T]
    one_minus = schedule.one_minus_alpha_bar_t  # [T]
    one_minus_prev = jnp.concatenate([jnp.zeros_like(one_minus[:1]), one_minus[:-1]])  # [T]
    variance = schedule.beta_t * one_minus_prev / one_minus  # [T]
    clipped = variance.at[0].set(variance[1]) if schedule.num_steps > 1 else variance
    coef_x0 = schedule.beta_t * jnp.sqrt(alpha_bar_prev) / one_minus  # [T]
    coef_xt = jnp.sqrt(schedule.alpha_t) * one_minus_prev / one_minus  # [T]
    ndim = x0.ndim
    mean = at_index(coef_x0, t, ndim) * x0 + at_index(coef_xt, t, ndim) * x_t
    shape = x_t.shape
    return (
        mean,
        jnp.broadcast_to(at_index(variance, t, ndim), shape),
        jnp.broadcast_to(jnp.log(at_index(clipped, t, ndim)), shape),
    )


def reverse_mean(
    schedule: NoiseSchedule, x_t: jax.Array, t: jax.Array, eps_pred: jax.Array
) -> jax.Array:
    """Mean of the reverse step p(x_{t-1} | x_t) from a noise prediction (Ho et al. 2020,
    eq. 11): the posterior mean mu~_t at the x_0 that eps_pred implies,

        mu_theta(x_t, t) = 1 / sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_pred).

    Args:
      schedule: the ``NoiseSchedule``.
      x_t: [B, ...] the latent at index t.
      t: [B] int step indices in 0..T-1.
      eps_pred: [B, ...] the predicted noise.

    Returns:
      [B, ...] the mean of x_{t-1} (x_0 at index 0).
    """
    x_t, t, eps_pred = jnp.asarray(x_t), jnp.asarray(t), jnp.asarray(eps_pred)
    check_shapes("reverse_mean", t, x_t=x_t, eps_pred=eps_pred)
    ndim = x_t.ndim
    beta, alpha = at_index(schedule.beta_t, t, ndim), at_index(schedule.alpha_t, t, ndim)
    one_minus_alpha_bar = at_index(schedule.one_minus_alpha_bar_t, t, ndim)  # precise near t = 1
    return (x_t - beta / jnp.sqrt(one_minus_alpha_bar) * eps_pred) / jnp.sqrt(alpha)


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
    check_shapes("v_target", t, x0=x0, eps=eps)
    alpha_bar = at_index(schedule.alpha_bar_t, t, x0.ndim)
    one_minus_alpha_bar = at_index(schedule.one_minus_alpha_bar_t, t, x0.ndim)
    return jnp.sqrt(alpha_bar) * eps - jnp.sqrt(one_minus_alpha_bar) * x0


def eps_from_prediction(
    schedule: NoiseSchedule, target: str, x_t: jax.Array, t: jax.Array, prediction: jax.Array
) -> jax.Array:
    """The noise prediction every sampler takes, from a network that predicts `target`
    ("eps", "v" or "x0": ``losses.noise_prediction_loss``'s targets) given x_t:

        eps = prediction                                           (target "eps")
        eps = sqrt(1 - alpha_bar_t) x_t + sqrt(alpha_bar_t) v      (target "v")
        eps = (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t)  (target "x0")

    the noise that q(x_t | x_0) put into x_t (v = sqrt(alpha_bar_t) eps - sqrt(1 -
    alpha_bar_t) x_0, ``v_target``).
    """
    if target not in ("eps", "v", "x0"):
        raise ValueError(f"Unknown prediction target {target!r}; choose 'eps', 'v' or 'x0'.")
    x_t, t, prediction = jnp.asarray(x_t), jnp.asarray(t), jnp.asarray(prediction)
    check_shapes("eps_from_prediction", t, x_t=x_t, prediction=prediction)
    if target == "eps":
        return prediction
    alpha_bar = at_index(schedule.alpha_bar_t, t, x_t.ndim)
    one_minus_alpha_bar = at_index(schedule.one_minus_alpha_bar_t, t, x_t.ndim)
    if target == "v":
        return jnp.sqrt(one_minus_alpha_bar) * x_t + jnp.sqrt(alpha_bar) * prediction
    return (x_t - jnp.sqrt(alpha_bar) * prediction) / jnp.sqrt(one_minus_alpha_bar)
