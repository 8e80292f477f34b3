"""Normalizing-flow objectives: uniform dequantization and the change-of-variables
log-likelihood. Per-example values, shape [B], in nats."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.losses._checks import check_batched
from jaxgen.losses.autoregressive import bins_to_pixels, pixel_bins
from jaxgen.losses.divergences import gaussian_log_likelihood


def uniform_dequantize(x: jax.Array, key: jax.Array, num_levels: int = 256) -> jax.Array:
    """Continuous y = x_k + h (2u - 1), u ~ U[0, 1), h = 1 / (L - 1), uniform over x's bin.

    x in [-1, 1] is first snapped to the nearest of L levels x_k = -1 + 2k / (L - 1) (L = 256
    for 8-bit data / 127.5 - 1; a dataset with fewer distinct values, e.g. `digits`' 17
    stored as round(v 255 / 16), uses its own L). For a density p_y,
    E_u[log p_y(y)] + D log(2h) <= log P(k) (Jensen; Theis et al. 2016, "A note on the
    evaluation of generative models"; Dinh et al. 2017), so
    (-E_u[log p_y(y)] + D log((L - 1) / 2)) / (D ln 2) upper-bounds the bits/dim of the
    level indices k, i.e. of the uint8 values they map to one-to-one:
    ``metrics.nll_to_bits_per_dim(..., data_scale=(L - 1) / 2)`` (``SCALE_MINUS1_1`` for L = 256).
    """
    x = bins_to_pixels(pixel_bins(x, num_levels), num_levels)
    u = jax.random.uniform(key, x.shape, x.dtype)
    return x + (2.0 * u - 1.0) / (num_levels - 1)


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
