"""Optimizers of the experiments' configs: Adam after optional gradient clipping and warmup;
WGAN's weight clipping."""

from typing import Any

import jax
import jax.numpy as jnp
import optax


def clip(max_norm: float) -> list[optax.GradientTransformation]:
    """[clip_by_global_norm(max_norm)] (Pascanu et al. 2013: g <- g min(1, max_norm / ||g||)),
    or [] for max_norm = 0, no clipping (clip_by_global_norm(0) would zero every update)."""
    if max_norm < 0:
        raise ValueError(f"grad_clip={max_norm} must be >= 0 (0: no clipping).")
    return [optax.clip_by_global_norm(max_norm)] if max_norm > 0 else []


def adam(
    learning_rate: float, grad_clip: float = 0.0, warmup_steps: int = 0, **kwargs: Any
) -> optax.GradientTransformation:
    """optax.adam(**kwargs) on gradients clipped to global norm `grad_clip` (0: unclipped),
    its learning rate rising linearly from 0 over `warmup_steps` (0: constant)."""
    lr = learning_rate
    if warmup_steps > 0:
        lr = optax.linear_schedule(0.0, learning_rate, warmup_steps)
    return optax.chain(*clip(grad_clip), optax.adam(lr, **kwargs))


def clip_weights(c: float) -> optax.GradientTransformation:
    """WGAN's weight clipping (Arjovsky et al. 2017, Algorithm 1, line 7), last in a chain:
    w <- clip(w + u, -c, c), as the update u' = clip(w + u, -c, c) - w, so every parameter
    stays in [-c, c] after each step. Needs the params (tx.update(g, state, params))."""
    if c <= 0:
        raise ValueError(f"weight clipping c={c} must be > 0.")

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("clip_weights needs the params: call tx.update(grads, state, params).")
        return jax.tree.map(lambda w, u: jnp.clip(w + u, -c, c) - w, params, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)
