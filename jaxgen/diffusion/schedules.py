"""Noise schedules of Gaussian diffusion: the variances beta_t of the forward process and
their products alpha_bar_t, and the registry the configs select from,
``make_schedule("cosine", 1000)``.

Time indexing (every module of ``jaxgen.diffusion``): a schedule holds arrays of length T,
and array index t = 0, ..., T-1 is the paper's step t + 1 = 1, ..., T. So
``alpha_bar_t[0] = 1 - beta_1`` (x_1, the least noisy latent), ``alpha_bar_t[T - 1]``
belongs to x_T (nearly pure noise), and x_0 is the data, which has no index. Every function
taking ``t`` takes int32 indices [B] in 0..T-1.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike


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

    @property
    def lambda_t(self) -> jax.Array:
        """lambda_t = log(alpha_t / sigma_t) = (log alpha_bar_t - log(1 - alpha_bar_t)) / 2,
        half the log signal-to-noise ratio of q(x_t | x_0) (alpha_t = sqrt(alpha_bar_t),
        sigma_t = sqrt(1 - alpha_bar_t) in the notation of Lu et al. 2022), decreasing in
        t, [T]."""
        return 0.5 * (jnp.log(self.alpha_bar_t) - jnp.log(self.one_minus_alpha_bar_t))


def schedule_from_betas(beta_t: ArrayLike, dtype=jnp.float32) -> NoiseSchedule:
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


SCHEDULES = {
    "linear": linear_schedule,  # Ho et al. 2020: beta_t from 1e-4 to 0.02
    "cosine": cosine_schedule,  # Nichol & Dhariwal 2021, eq. 17
}


def make_schedule(name: str, num_steps: int) -> NoiseSchedule:
    """The schedule `name` ('linear' or 'cosine') with T = `num_steps` steps."""
    if name not in SCHEDULES:
        raise ValueError(f"Unknown noise schedule {name!r}; choose one of {sorted(SCHEDULES)}.")
    return SCHEDULES[name](num_steps)
