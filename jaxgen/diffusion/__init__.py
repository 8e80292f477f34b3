"""Everything of the Gaussian diffusion process (Ho et al. 2020): noise schedules, the
forward process q(x_t | x_0), the posterior q(x_{t-1} | x_t, x_0), the velocity v,
classifier-free guidance and the reverse-process samplers. Pure JAX (no flax, no state),
the layer below ``jaxgen.losses``, whose noise-prediction objective builds on it.

    schedule = make_schedule("linear", 1000)
    x_t = q_sample(schedule, x_0, t, eps)
    x_0 = jax.jit(ddim_sample, static_argnums=(0, 4))(eps_fn, schedule, x_T, key, 50)

Samplers take a noise predictor ``eps_fn(x_t [B, ...], t [B]) -> eps_pred [B, ...]``; each is
one ``lax.scan`` over its steps, so a jitted sampler is a single compiled computation.
"""

from jaxgen.diffusion.guidance import (
    THRESHOLDS,
    classifier_free_guidance,
    dynamic_threshold,
    guided_eps_fn,
    static_threshold,
    thresholded_eps_fn,
)
from jaxgen.diffusion.process import (
    EpsFn,
    eps_from_prediction,
    posterior_mean_variance,
    q_sample,
    reverse_mean,
    v_target,
)
from jaxgen.diffusion.samplers import (
    ddim_invert,
    ddim_sample,
    ddim_step,
    ddim_timesteps,
    ddpm_sample,
    ddpm_sigma_t,
    ddpm_step,
    dpm_solver_2m_coefficients,
    dpm_solver_2m_sample,
    inpaint,
    sdedit,
)
from jaxgen.diffusion.schedules import (
    SCHEDULES,
    NoiseSchedule,
    cosine_schedule,
    linear_schedule,
    make_schedule,
    schedule_from_betas,
)

__all__ = [
    "SCHEDULES",
    "EpsFn",
    "NoiseSchedule",
    "THRESHOLDS",
    "classifier_free_guidance",
    "cosine_schedule",
    "ddim_invert",
    "ddim_sample",
    "ddim_step",
    "ddim_timesteps",
    "ddpm_sample",
    "ddpm_sigma_t",
    "ddpm_step",
    "dynamic_threshold",
    "eps_from_prediction",
    "dpm_solver_2m_coefficients",
    "dpm_solver_2m_sample",
    "guided_eps_fn",
    "inpaint",
    "linear_schedule",
    "make_schedule",
    "posterior_mean_variance",
    "q_sample",
    "reverse_mean",
    "schedule_from_betas",
    "sdedit",
    "static_threshold",
    "thresholded_eps_fn",
    "v_target",
]
