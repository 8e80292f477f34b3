"""Per-pixel likelihoods of autoregressive image models over 8-bit data, and the next-token
cross-entropy of transformers over tokens (token_cross_entropy, DALL-E's dalle_loss).

Images are in [-1, 1] on the grid x_k = -1 + 2k / (num_bins - 1), k = 0..num_bins-1 (uint8
data mapped by x / 127.5 - 1). Every function returns [B] log-likelihoods in nats, summed
over the non-batch axes: a distribution over the num_bins levels, so -log p / (D ln 2) is
an exact bits/dim.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

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


def token_cross_entropy(
    logits: jax.Array, targets: jax.Array, weights: jax.Array | None = None
) -> jax.Array:
    """[B] mean over the weighted places of -log softmax(l_bn)[y_bn]:
    sum_n w_bn CE_bn / sum_n w_bn (w = 1 everywhere when None; rows of zero weight give 0).
    logits [B, N, V], targets [B, N] int, weights [B, N]."""
    check_batched("token_cross_entropy", "targets", targets, 2, "[B, N]")
    if logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"token_cross_entropy: logits shape {tuple(logits.shape)} must be targets shape "
            f"{tuple(targets.shape)} plus one axis over the vocabulary"
        )
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    w = jnp.ones_like(ce) if weights is None else weights.astype(ce.dtype)
    return (ce * w).sum(axis=1) / jnp.maximum(w.sum(axis=1), 1.0)


def dalle_loss(
    text_logits: jax.Array | None,
    text: jax.Array | None,
    code_logits: jax.Array,
    codes: jax.Array,
    text_weight: float = 1 / 8,
    pad: int = 0,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """DALL-E's loss (Ramesh et al. 2021, sec. 2.2), per example:

        loss = w CE_text + (1 - w) CE_image     (w = 1/8 in the paper)
        CE_text  = mean over i < L with t_(i+1) != pad of -log p(t_(i+1) | t_<=i)
        CE_image = mean over m of -log p(c_m | t, c_<m)

    text_logits [B, L, V] (place i predicts t_(i+1), the last place predicts nothing),
    code_logits [B, M, K] (place m predicts c_m). Without text (None) loss = CE_image.
    Returns ([B] loss, {'text': CE_text, 'image': CE_image}) in nats per token."""
    image = token_cross_entropy(code_logits, codes)
    if text is None:
        return image, {"image": image}
    targets = text[:, 1:]
    words = token_cross_entropy(text_logits[:, :-1], targets, targets != pad)
    return text_weight * words + (1 - text_weight) * image, {"text": words, "image": image}
