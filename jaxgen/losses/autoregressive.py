"""Per-pixel likelihoods of autoregressive image models over 8-bit data.

Images are in [-1, 1] on the grid x_k = -1 + 2k / (num_bins - 1), k = 0..num_bins-1 (uint8
data mapped by x / 127.5 - 1). Every function returns [B] log-likelihoods in nats, summed
over the non-batch axes: a distribution over the num_bins levels, so -log p / (D ln 2) is
an exact bits/dim.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.losses._checks import check_batched, check_same_shape, sum_per_example
from jaxgen.losses.divergences import discretized_log_likelihood


def pixel_bins(x: jax.Array, num_bins: int = 256) -> jax.Array:
    """Level index k = round((x + 1) (num_bins - 1) / 2) in {0..num_bins-1} of x in [-1, 1]."""
    k = jnp.round((jnp.asarray(x) + 1.0) * (0.5 * (num_bins - 1)))
    return jnp.clip(k, 0, num_bins - 1).astype(jnp.int32)


def bins_to_pixels(k: jax.Array, num_bins: int = 256) -> jax.Array:
    """x_k = -1 + 2k / (num_bins - 1): level indices back to [-1, 1] (float32; clipped, as
    compiled code may multiply by the rounded reciprocal and give 1 + 1 ulp)."""
    return jnp.clip(jnp.asarray(k, jnp.float32) / (0.5 * (num_bins - 1)) - 1.0, -1.0, 1.0)


def categorical_log_likelihood(x: jax.Array, logits: jax.Array) -> jax.Array:
    """Log-likelihood of 8-bit data under a per-value softmax over its levels.

    log p(x) = sum_i log softmax(l_i)[k(x_i)],  k(x) = round((x + 1) (K - 1) / 2)
    (the 256-way softmax of van den Oord et al. 2016, "Pixel Recurrent Neural Networks").

    Args:
      x: [B, ...] data in [-1, 1] on the K-level grid.
      logits: [B, ..., K] unnormalised log-probabilities of the K levels of each value.

    Returns:
      [B] log-likelihood in nats.
    """
    x, logits = jnp.asarray(x), jnp.asarray(logits)
    check_batched("categorical_log_likelihood", "x", x)
    if logits.shape[:-1] != x.shape:
        raise ValueError(
            f"categorical_log_likelihood: logits shape {tuple(logits.shape)} must be x shape "
            f"{tuple(x.shape)} plus one axis of levels (e.g. {(*x.shape, 256)})"
        )
    log_p = jax.nn.log_softmax(logits, axis=-1)
    k = pixel_bins(x, logits.shape[-1])
    return sum_per_example(jnp.take_along_axis(log_p, k[..., None], axis=-1)[..., 0])


def channel_coupling(coeffs: jax.Array, num_channels: int) -> jax.Array:
    """[..., C (C - 1) / 2] coefficients -> [..., C, C] strictly lower-triangular matrices A,
    filled in the order (1, 0), (2, 0), (2, 1), ... (PixelCNN++'s G|R, B|R, B|G)."""
    rows, cols = np.tril_indices(num_channels, -1)
    a = jnp.zeros((*coeffs.shape[:-1], num_channels, num_channels), coeffs.dtype)
    return a.at[..., rows, cols].set(coeffs)


def discretized_logistic_mixture_log_likelihood(
    x: jax.Array,
    logit_probs: jax.Array,
    means: jax.Array,
    log_scales: jax.Array,
    coeffs: jax.Array | None = None,
    *,
    num_bins: int = 256,
) -> jax.Array:
    """Discretized logistic mixture over the channels of each pixel (PixelCNN++).

    p(x_i) = sum_k pi_k prod_c P(x_{i,c}; mu'_{k,c}, s_{k,c}),
    mu'_{k,c} = mu_{k,c} + sum_{j<c} a_{k,c,j} x_{i,j},
    with P the logistic density integrated over the bin of x_{i,c} (edge bins take the
    tails; ``discretized_log_likelihood``) and pi = softmax(logit_probs) (Salimans et al.
    2017, "PixelCNN++", Sec. 2.1-2.2). The channels of a pixel are autoregressive through
    the linear terms a (pass tanh-squashed network outputs), so a network that sees only
    earlier pixels still defines p(x_i | x_<i) over all channels.

    Args:
      x: [B, H, W, C] images in [-1, 1] on the num_bins-level grid.
      logit_probs: [B, H, W, K] mixture logits.
      means, log_scales: [B, H, W, K, C] locations and log scales.
      coeffs: [B, H, W, K, C (C - 1) / 2] channel coefficients a (None when C = 1).
      num_bins: levels per value (256 for 8-bit).

    Returns:
      [B] log-likelihood in nats.
    """
    fn = "discretized_logistic_mixture_log_likelihood"
    x, logit_probs = jnp.asarray(x), jnp.asarray(logit_probs)
    means, log_scales = jnp.asarray(means), jnp.asarray(log_scales)
    check_batched(fn, "x", x, min_ndim=4, layout="[B, H, W, C]")
    check_same_shape(fn, "[B, H, W, K, C]", means=means, log_scales=log_scales)
    num_channels = x.shape[-1]
    if means.shape != (*logit_probs.shape, num_channels) or logit_probs.shape[:-1] != x.shape[:-1]:
        raise ValueError(
            f"{fn}: logit_probs {tuple(logit_probs.shape)}, means {tuple(means.shape)} do not "
            f"fit x {tuple(x.shape)}; expected [B, H, W, K] and [B, H, W, K, C]"
        )
    num_coeffs = num_channels * (num_channels - 1) // 2
    if num_coeffs:
        if coeffs is None or coeffs.shape != (*logit_probs.shape, num_coeffs):
            raise ValueError(
                f"{fn}: {num_channels} channels need coeffs of shape "
                f"{(*logit_probs.shape, num_coeffs)}, got "
                f"{None if coeffs is None else tuple(coeffs.shape)}"
            )
        a = channel_coupling(jnp.asarray(coeffs), num_channels)  # [B, H, W, K, C, C]
        means = means + jnp.einsum("...kcj,...j->...kc", a, x)
    x_k = jnp.broadcast_to(x[..., None, :], means.shape)
    # One row per value: discretized_log_likelihood then returns each value's log P.
    log_p = discretized_log_likelihood(
        x_k.reshape(-1, 1),
        means.reshape(-1, 1),
        log_scales.reshape(-1, 1),
        distribution="logistic",
        num_bins=num_bins,
    ).reshape(means.shape)
    log_mix = jax.nn.log_softmax(logit_probs, axis=-1) + jnp.sum(log_p, axis=-1)  # [B,H,W,K]
    return sum_per_example(jax.nn.logsumexp(log_mix, axis=-1))
