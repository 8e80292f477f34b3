"""The objectives of Gaussian diffusion models (DDPM): the simplified noise-prediction loss,
with eps, v or x_0 as the regression target, and the variational bound on the negative
log-likelihood (the likelihood DDPM reports in bits/dim). The process they are built from
(schedules, q(x_t | x_0), the posterior, v) is ``jaxgen.diffusion``; step indices
t = 0..T-1 as there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxgen.diffusion import (
    EpsFn,
    NoiseSchedule,
    ddpm_sigma_t,
    posterior_mean_variance,
    q_sample,
    reverse_mean,
    v_target,
)
from jaxgen.diffusion.process import at_index
from jaxgen.losses._checks import check_batched, check_kind, mean_per_example
from jaxgen.losses.divergences import (
    discretized_log_likelihood,
    kl_diag_gaussians,
    kl_standard_normal,
)

# target name -> (schedule, x0, t, eps) -> regression target
_TARGETS = {
    "eps": lambda schedule, x0, t, eps: eps,
    "v": v_target,
    "x0": lambda schedule, x0, t, eps: x0,
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
    with target="v" the network predicts v (``v_target``) instead (Salimans & Ho 2022), with
    target="x0" the data x_0 itself (|| x_0 - f_theta(x_t, t) ||^2: unCLIP's prior, Ramesh
    et al. 2022, sec. 2.1).

    Args:
      schedule: the ``NoiseSchedule``.
      eps_fn: (x_t [B, ...], t [B] int indices in 0..T-1) -> prediction [B, ...]; the
        network closed over its parameters.
      x0: [B, ...] data.
      key: PRNG key for t and eps.
      target: "eps", "v" or "x0".

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


def reverse_log_variance(schedule: NoiseSchedule, variance: str = "beta") -> jax.Array:
    """log sigma_t^2 of the reverse step p(x_{t-1} | x_t) = N(mu_theta, sigma_t^2 I) for
    every index, [T]: sigma_t^2 = beta_t ("beta") or beta~_t ("posterior"), the two fixed
    variances of Ho et al. 2020, Sec. 3.2; at index 0, the decoder p(x_0 | x_1), both take
    beta~ of index 1 (beta~ is 0 there), as in Ho et al.'s and Nichol & Dhariwal's code."""
    sigma_sq = jnp.square(ddpm_sigma_t(schedule, variance))
    decoder = jnp.square(ddpm_sigma_t(schedule, "posterior")[1])
    return jnp.log(sigma_sq.at[0].set(decoder))


def variational_bound_term(
    schedule: NoiseSchedule,
    eps_fn: EpsFn,
    x0: jax.Array,
    t: jax.Array,
    eps: jax.Array,
    variance: str = "beta",
) -> jax.Array:
    """One term of the DDPM variational bound at x_t = sqrt(alpha_bar_t) x_0 +
    sqrt(1 - alpha_bar_t) eps (Ho et al. 2020, eq. 5; paper step t = index + 1):

        L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))          at index t >= 1,
        L_0     = -log p(x_0 | x_1), the discretized Gaussian decoder     at index 0,

    p(x_{t-1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I) with ``reverse_mean`` and
    ``reverse_log_variance``; the decoder integrates N(mu_theta(x_1, 1), sigma_1^2) over each
    8-bit bin of x_0 (``discretized_log_likelihood``; x_0 on the grid k / 127.5 - 1).

    Args:
      schedule: the ``NoiseSchedule``.
      eps_fn: noise predictor (x_t [B, ...], t [B]) -> eps_pred [B, ...].
      x0: [B, ...] 8-bit data in [-1, 1].
      t: [B] int step indices in 0..T-1.
      eps: [B, ...] standard normal noise of x_t.
      variance: "beta" or "posterior", the sampler's sigma_t^2.

    Returns:
      [B] the term in nats.
    """
    x0, t = jnp.asarray(x0), jnp.asarray(t)
    x_t = q_sample(schedule, x0, t, eps)
    mean_p = reverse_mean(schedule, x_t, t, eps_fn(x_t, t))
    log_var_p = jnp.broadcast_to(
        at_index(reverse_log_variance(schedule, variance), t, x0.ndim), x0.shape
    )
    mean_q, _, log_var_q = posterior_mean_variance(schedule, x0, x_t, t)
    kl = kl_diag_gaussians(mean_q, log_var_q, mean_p, log_var_p)
    decoder_nll = -discretized_log_likelihood(x0, mean_p, 0.5 * log_var_p)
    return jnp.where(t == 0, decoder_nll, kl)


def variational_bound(
    schedule: NoiseSchedule,
    eps_fn: EpsFn,
    x0: jax.Array,
    key: jax.Array,
    variance: str = "beta",
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The DDPM variational bound on -log p(x_0) of 8-bit data (Ho et al. 2020, eq. 5):

        L = L_T + sum_{t=2}^{T} L_{t-1} + L_0,
        L_T = KL(q(x_T | x_0) || N(0, I)),

    every term exact but for its one draw of x_t (``variational_bound_term``, one eps per
    index and example): T network evaluations per example, in one ``lax.scan`` over the
    indices. The expectation of L over the draws is an upper bound on the negative
    log-likelihood of the 256-level data; L / (D ln 2) is bits/dim.

    Args:
      schedule, eps_fn, x0, variance: as in ``variational_bound_term``.
      key: PRNG key of the noise draws.

    Returns:
      loss: [B] L in nats.
      terms: {"prior": L_T, "diffusion": sum_{t >= 2} L_{t-1}, "decoder": L_0}, each [B].
    """
    x0 = jnp.asarray(x0)
    check_batched("variational_bound", "x0", x0)
    check_kind("variational_bound", variance, {"beta", "posterior"}, "variance")
    last = schedule.num_steps - 1
    mean_T = jnp.sqrt(schedule.alpha_bar_t[last]) * x0
    log_var_T = jnp.full_like(x0, jnp.log(schedule.one_minus_alpha_bar_t[last]))
    prior = kl_standard_normal(mean_T, log_var_T)
    batch = x0.shape[:1]

    def term(_, t_key):
        t, k = t_key
        eps = jax.random.normal(k, x0.shape, x0.dtype)
        return None, variational_bound_term(
            schedule, eps_fn, x0, jnp.full(batch, t, jnp.int32), eps, variance
        )

    indices = jnp.arange(schedule.num_steps, dtype=jnp.int32)
    _, per_index = lax.scan(term, None, (indices, jax.random.split(key, schedule.num_steps)))
    terms = {"prior": prior, "diffusion": per_index[1:].sum(0), "decoder": per_index[0]}
    return prior + terms["diffusion"] + terms["decoder"], terms
