"""Normalizing-flow objectives: uniform dequantization and the change-of-variables
log-likelihood. Per-example values, shape [B], in nats."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.losses._checks import check_batched
from jaxgen.losses.divergences import gaussian_log_likelihood


def uniform_dequantize(x: jax.Array, key: jax.Array, num_bins: int = 256) -> jax.Array:
    """Continuous y = x + h (2u - 1), u ~ U[0, 1), h = 1 / (num_bins - 1).

    x in [-1, 1] on the grid -1 + 2k / (num_bins - 1) (8-bit data / 127.5 - 1); y is uniform
    over x's bin, of width 2h. For a density p_y, E_u[log p_y(y)] + D log(2h) <= log P(x)
    (Jensen; Theis et al. 2016, "A note on the evaluation of generative models"; Dinh et al.
    2017): so -E_u[log p_y(y)] + D log(127.5) upper-bounds the discrete NLL in 8-bit units,
    which is ``metrics.nll_to_bits_per_dim(..., data_scale=SCALE_MINUS1_1)``.
    """
    x = jnp.asarray(x)
    u = jax.random.uniform(key, x.shape, x.dtype)
    return x + (2.0 * u - 1.0) / (num_bins - 1)


def flow_log_likelihood(z: jax.Array, logdet: jax.Array) -> jax.Array:
    """Change of variables with a standard normal base distribution.

    log p(x) = log N(f(x); 0, I) + log |det df/dx|
    (Dinh et al. 2017, "Density estimation using Real NVP", Eq. 3).

    Args:
      z: [B, ...] f(x).
      logdet: [B] log |det df/dx| of each example.

    Returns:
      [B] log p(x) in nats.
    """
    z, logdet = jnp.asarray(z), jnp.asarray(logdet)
    check_batched("flow_log_likelihood", "z", z)
    if logdet.shape != z.shape[:1]:
        raise ValueError(
            f"flow_log_likelihood: logdet shape {tuple(logdet.shape)} != batch shape "
            f"{tuple(z.shape[:1])} of z {tuple(z.shape)}; pass one log-determinant per example"
        )
    return gaussian_log_likelihood(z, jnp.zeros_like(z)) + logdet
