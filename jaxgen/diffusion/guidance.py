"""Classifier-free guidance (Ho & Salimans 2022): one network trained with and without the
condition, its two predictions combined at sampling time, as a noise predictor for any
sampler of ``jaxgen.diffusion.samplers``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxgen.diffusion.process import EpsFn, check_shapes


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
    check_shapes("classifier_free_guidance", eps_cond=eps_cond, eps_uncond=eps_uncond)
    if w.ndim > 0:
        if w.shape != eps_cond.shape[:1]:
            raise ValueError(
                f"classifier_free_guidance: w shape {tuple(w.shape)} is neither a scalar nor "
                f"the batch shape {tuple(eps_cond.shape[:1])} of eps_cond "
                f"{tuple(eps_cond.shape)}"
            )
        w = w.reshape(w.shape + (1,) * (eps_cond.ndim - 1))
    return (1.0 + w) * eps_cond - w * eps_uncond


def guided_eps_fn(
    eps_fn_y: Callable[[jax.Array, jax.Array, jax.Array], jax.Array],
    y: jax.Array,
    y_null: jax.Array | int,
    w: float | jax.Array,
) -> EpsFn:
    """Noise predictor of classifier-free guidance (Ho & Salimans 2022, eq. 6):

        eps~(x_t, t) = (1 + w) eps_theta(x_t, t, y) - w eps_theta(x_t, t, y_null),

    combined by ``classifier_free_guidance``; both predictions come from one call of
    ``eps_fn_y`` on the doubled batch.

    Args:
      eps_fn_y: conditional noise predictor (x_t [B, ...], t [B], y [B]) -> [B, ...].
      y: [B] conditions (class labels).
      y_null: the "empty" condition, [B] or a scalar (the model's learned null class).
      w: guidance weight, a scalar or [B]; 0 is the conditional model.

    Returns:
      eps_fn(x_t [B, ...], t [B]) -> eps~ [B, ...], for any sampler of
      ``jaxgen.diffusion.samplers``.
    """
    y = jnp.asarray(y)
    y_both = jnp.concatenate([y, jnp.broadcast_to(jnp.asarray(y_null, y.dtype), y.shape)])

    def eps_fn(x_t, t):
        eps_both = eps_fn_y(jnp.concatenate([x_t, x_t]), jnp.concatenate([t, t]), y_both)
        eps_cond, eps_uncond = jnp.split(eps_both, 2)
        return classifier_free_guidance(eps_cond, eps_uncond, w)

    return eps_fn


def static_threshold(x0: jax.Array) -> jax.Array:
    """Static thresholding (Saharia et al. 2022, Imagen, sec. 2.3): x0 clipped to [-1, 1]."""
    return jnp.clip(x0, -1.0, 1.0)


def dynamic_threshold(x0: jax.Array, percentile: float = 99.5) -> jax.Array:
    """Dynamic thresholding (Saharia et al. 2022, Imagen, sec. 2.3), per sample:

        s = max(percentile p of |x0| over its pixels, 1),   x0 <- clip(x0, -s, s) / s,

    so saturated predictions are pushed inwards instead of clipped flat; with every |x0| <= 1,
    s = 1 and it is static thresholding. x0 [B, ...]; p in (0, 100]."""
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"dynamic_threshold: percentile must be in (0, 100], got {percentile}.")
    flat = jnp.abs(x0).reshape(x0.shape[0], -1)
    s = jnp.maximum(jnp.percentile(flat, percentile, axis=1), 1.0)
    s = s.reshape((-1,) + (1,) * (x0.ndim - 1))
    return jnp.clip(x0, -s, s) / s


THRESHOLDS = {"none": None, "static": static_threshold, "dynamic": dynamic_threshold}


def thresholded_eps_fn(
    eps_fn: EpsFn,
    alpha_bar_t: jax.Array,
    threshold: Callable[[jax.Array], jax.Array],
) -> EpsFn:
    """The noise predictor whose data prediction is thresholded, for any sampler:

        x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t),   x0' = threshold(x0),
        eps' = (x_t - sqrt(a_t) x0') / sqrt(1 - a_t)          (a_t = alpha_bar_t[t]),

    so DDIM, DPM-Solver++ and ancestral steps move towards x0' (Imagen clips the x0 of every
    step). alpha_bar_t: [T], the schedule's."""

    def eps_thresholded(x_t, t):
        shape = (-1,) + (1,) * (x_t.ndim - 1)
        a = alpha_bar_t[t].reshape(shape)
        x0 = (x_t - jnp.sqrt(1.0 - a) * eps_fn(x_t, t)) / jnp.sqrt(a)
        return (x_t - jnp.sqrt(a) * threshold(x0)) / jnp.sqrt(1.0 - a)

    return eps_thresholded
