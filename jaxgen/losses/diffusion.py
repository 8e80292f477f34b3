"""The training objective of Gaussian diffusion models (DDPM): the simplified noise-prediction
loss, with eps or v as the regression target. The process it is built from (schedules,
q(x_t | x_0), v) is ``jaxgen.diffusion``; step indices t = 0..T-1 as there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.diffusion import EpsFn, NoiseSchedule, q_sample, v_target
from jaxgen.losses._checks import check_batched, check_kind, mean_per_example

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
