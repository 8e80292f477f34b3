"""Diffusion models' samplers and schedules, built on the pure functions of
``jaxgen.losses.diffusion`` (schedules, q_sample, posterior, guidance combination).

    schedule = make_schedule("linear", 1000)
    x_0 = jax.jit(ddim_sample, static_argnums=(0, 4))(eps_fn, schedule, x_T, key, 50)

Samplers take a noise predictor ``eps_fn(x_t [B, ...], t [B]) -> eps_pred [B, ...]``; each is
one ``lax.scan`` over its steps, so a jitted sampler is a single compiled computation.
"""

from jaxgen.diffusion.samplers import (
    ddim_sample,
    ddim_step,
    ddim_timesteps,
    ddpm_sample,
    ddpm_sigma_t,
    ddpm_step,
    guided_eps_fn,
    inpaint,
)
from jaxgen.diffusion.schedules import SCHEDULES, make_schedule

__all__ = [
    "SCHEDULES",
    "ddim_sample",
    "ddim_step",
    "ddim_timesteps",
    "ddpm_sample",
    "ddpm_sigma_t",
    "ddpm_step",
    "guided_eps_fn",
    "inpaint",
    "make_schedule",
]
