"""Divergences, entropies and log-likelihoods.

Every function takes batched arrays with the batch on axis 0 and returns one value per
example, shape [B], in nats, summed over all non-batch axes. The discrete ones (entropy,
KL, JS) also take a single distribution [K] and then return a scalar.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr

from jaxgen.losses._checks import (
    check_batched,
    check_broadcastable_to,
    check_kind,
    check_same_shape,
    sum_per_example,
)

_LOG_2PI = math.log(2.0 * math.pi)

# ----------------------------------------------------------------------------------------
# Discrete distributions


def _probs_and_log_probs(x: jax.Array, from_logits: bool) -> tuple[jax.Array, jax.Array]:
    """(p, log p) over the last axis; log 0 = -inf with a zero (not NaN) gradient there."""
    if from_logits:
        log_p = jax.nn.log_softmax(x, axis=-1)
        return jnp.exp(log_p), log_p
    positive = x > 0
    log_p = jnp.where(positive, jnp.log(jnp.where(positive, x, 1.0)), -jnp.inf)
    return x, log_p


def _p_times(p: jax.Array, log_ratio: jax.Array) -> jax.Array:
    """p * log_ratio with the convention 0 * log(0 / q) = 0 (value and gradient)."""
    return p * jnp.where(p > 0, log_ratio, 0.0)


def _check_discrete(fn: str, **arrays: jax.Array) -> None:
    for name, x in arrays.items():
        check_batched(fn, name, x, min_ndim=2, layout="[B, ..., K]")
    check_same_shape(fn, layout="[B, ..., K]", **arrays)


def one_or_batch(fn):
    """`fn` over batches [B, ..., K] that also takes single distributions [K] (-> a scalar)."""

    @functools.wraps(fn)
    def wrapper(*distributions, **kwargs):
        distributions = [jnp.asarray(d) for d in distributions]
        if all(d.ndim == 1 for d in distributions):
            return fn(*(d[None] for d in distributions), **kwargs)[0]
        return fn(*distributions, **kwargs)

    return wrapper


@one_or_batch
def entropy(p: jax.Array, *, from_logits: bool = False) -> jax.Array:
    """Shannon entropy of categorical distributions over the last axis.

    H(p) = -sum_k p_k log p_k   (Shannon 1948), with 0 log 0 = 0.

    Args:
      p: [B, ..., K] (or one [K]) probabilities (each row sums to 1), or logits when
        ``from_logits`` (then p = softmax(logits), computed stably with log_softmax).
      from_logits: interpret ``p`` as logits.

    Returns:
      [B] entropy in nats, summed over the non-batch axes other than K (e.g. over pixels
      for per-pixel categoricals); a scalar for one [K].
    """
    p = jnp.asarray(p)
    _check_discrete("entropy", p=p)
    probs, log_p = _probs_and_log_probs(p, from_logits)
    return -sum_per_example(_p_times(probs, log_p))  # [B]


@one_or_batch
def kl_divergence(p: jax.Array, q: jax.Array, *, from_logits: bool = False) -> jax.Array:
    """KL divergence between categorical distributions over the last axis.

    KL(p || q) = sum_k p_k (log p_k - log q_k)   (Kullback & Leibler 1951),
    with 0 log(0 / q) = 0; it is +inf where q_k = 0 < p_k.

    Args:
      p, q: [B, ..., K] (or one [K]) probabilities, or logits when ``from_logits``
        (log_softmax keeps |logit| = 100 finite).
      from_logits: interpret ``p`` and ``q`` as logits.

    Returns:
      [B] KL in nats, summed over the non-batch axes; a scalar for one [K].
    """
    p, q = jnp.asarray(p), jnp.asarray(q)
    _check_discrete("kl_divergence", p=p, q=q)
    probs_p, log_p = _probs_and_log_probs(p, from_logits)
    _, log_q = _probs_and_log_probs(q, from_logits)
    return sum_per_example(_p_times(probs_p, log_p - log_q))  # [B]


@one_or_batch
def js_divergence(p: jax.Array, q: jax.Array, *, from_logits: bool = False) -> jax.Array:
    """Jensen-Shannon divergence between categorical distributions over the last axis.

    JS(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m),  m = (p + q) / 2   (Lin 1991).
    It is symmetric and bounded by log 2 per distribution; it is the divergence the
    minimax GAN minimises at the optimal discriminator (Goodfellow et al. 2014).

    Args:
      p, q: [B, ..., K] (or one [K]) probabilities, or logits when ``from_logits``.
      from_logits: interpret ``p`` and ``q`` as logits.

    Returns:
      [B] JS divergence in nats, summed over the non-batch axes; a scalar for one [K].
    """
    p, q = jnp.asarray(p), jnp.asarray(q)
    _check_discrete("js_divergence", p=p, q=q)
    probs_p, log_p = _probs_and_log_probs(p, from_logits)
    probs_q, log_q = _probs_and_log_probs(q, from_logits)
    if from_logits:
        log_m = jnp.logaddexp(log_p, log_q) - math.log(2.0)
    else:
        _, log_m = _probs_and_log_probs(0.5 * (probs_p + probs_q), from_logits=False)
    js = 0.5 * _p_times(probs_p, log_p - log_m) + 0.5 * _p_times(probs_q, log_q - log_m)
    return sum_per_example(js)  # [B]


# ----------------------------------------------------------------------------------------
# Gaussians


def _kl_diag_gaussians_elementwise(mu_q, logvar_q, mu_p, logvar_p):
    # 1/2 [exp(d) - 1 - d + (mu_q - mu_p)^2 / sigma_p^2],  d = logvar_q - logvar_p;
    # expm1 keeps it accurate when q is close to p.
    d = logvar_q - logvar_p
    return 0.5 * (jnp.expm1(d) - d + jnp.square(mu_q - mu_p) * jnp.exp(-logvar_p))


def kl_diag_gaussians(
    mu_q: jax.Array, logvar_q: jax.Array, mu_p: jax.Array, logvar_p: jax.Array
) -> jax.Array:
    """Analytic KL between two diagonal Gaussians q = N(mu_q, sigma_q^2), p = N(mu_p, sigma_p^2).

    KL(q || p) = 1/2 sum_i [ log(sigma_p^2 / sigma_q^2) + (sigma_q^2 + (mu_q - mu_p)^2)
                 / sigma_p^2 - 1 ]
    (e.g. Kingma & Welling 2014, "Auto-Encoding Variational Bayes"; used for the
    diffusion posterior terms L_{t-1} in Ho et al. 2020).

    Args:
      mu_q, logvar_q, mu_p, logvar_p: [B, ...] means and log-variances, all the same shape.

    Returns:
      [B] KL in nats, summed over the non-batch axes; a scalar for one [K].
    """
    mu_q, logvar_q, mu_p, logvar_p = map(jnp.asarray, (mu_q, logvar_q, mu_p, logvar_p))
    check_batched("kl_diag_gaussians", "mu_q", mu_q)
    check_same_shape(
        "kl_diag_gaussians", mu_q=mu_q, logvar_q=logvar_q, mu_p=mu_p, logvar_p=logvar_p
    )
    return sum_per_example(_kl_diag_gaussians_elementwise(mu_q, logvar_q, mu_p, logvar_p))


def kl_standard_normal(mu: jax.Array, logvar: jax.Array) -> jax.Array:
    """Analytic KL(N(mu, sigma^2) || N(0, I)) for a diagonal Gaussian, the VAE prior term.

    KL = 1/2 sum_i ( sigma_i^2 + mu_i^2 - 1 - log sigma_i^2 )
    (Kingma & Welling 2014, "Auto-Encoding Variational Bayes", Appendix B).

    Args:
      mu, logvar: [B, ...] posterior mean and log-variance log sigma^2.

    Returns:
      [B] KL in nats, summed over the non-batch axes; a scalar for one [K].
    """
    mu, logvar = jnp.asarray(mu), jnp.asarray(logvar)
    check_batched("kl_standard_normal", "mu", mu)
    check_same_shape("kl_standard_normal", mu=mu, logvar=logvar)
    return sum_per_example(_kl_diag_gaussians_elementwise(mu, logvar, 0.0, 0.0))  # [B]


def gaussian_log_likelihood(
    x: jax.Array, mu: jax.Array, logvar: jax.Array | float = 0.0
) -> jax.Array:
    """Diagonal Gaussian log-density log N(x; mu, sigma^2), fixed or learned variance.

    log p(x) = -1/2 sum_i [ log(2 pi) + log sigma_i^2 + (x_i - mu_i)^2 / sigma_i^2 ]
    (the Gaussian decoder of Kingma & Welling 2014).

    Args:
      x, mu: [B, ...] observations and means, the same shape.
      logvar: log sigma^2. A fixed variance is a Python float or scalar (default 0.0, i.e.
        sigma = 1); a learned one is an array of x's shape or one broadcasting to it
        (e.g. [B, 1, 1, C] per channel).

    Returns:
      [B] log-likelihood in nats, summed over the non-batch axes.
    """
    x, mu, logvar = jnp.asarray(x), jnp.asarray(mu), jnp.asarray(logvar)
    check_batched("gaussian_log_likelihood", "x", x)
    check_same_shape("gaussian_log_likelihood", x=x, mu=mu)
    check_broadcastable_to("gaussian_log_likelihood", "logvar", logvar, "x", x.shape)
    log_px = -0.5 * (_LOG_2PI + logvar + jnp.square(x - mu) * jnp.exp(-logvar))
    return sum_per_example(jnp.broadcast_to(log_px, x.shape))  # [B]


def bernoulli_log_likelihood(x: jax.Array, logits: jax.Array) -> jax.Array:
    """Bernoulli log-likelihood from logits, numerically stable for any logit.

    log p(x) = sum_i [ x_i log sigmoid(l_i) + (1 - x_i) log sigmoid(-l_i) ]
             = sum_i [ x_i l_i - softplus(l_i) ]
    (the Bernoulli decoder of Kingma & Welling 2014; the negative is binary cross-entropy).
    The softplus form never evaluates log(0), so values and gradients stay finite at
    |logit| = 100.

    Args:
      x: [B, ...] targets in [0, 1] (binary, or grey levels used as soft targets).
      logits: [B, ...] logits l = log(p / (1 - p)), the same shape as x.

    Returns:
      [B] log-likelihood in nats, summed over the non-batch axes.
    """
    x, logits = jnp.asarray(x), jnp.asarray(logits)
    check_batched("bernoulli_log_likelihood", "x", x)
    check_same_shape("bernoulli_log_likelihood", x=x, logits=logits)
    return sum_per_example(x * logits - jax.nn.softplus(logits))  # [B]


# ----------------------------------------------------------------------------------------
# Discretized continuous likelihoods for 8-bit images


def _logistic_log_pdf(z):
    return -jnp.abs(z) - 2.0 * jnp.log1p(jnp.exp(-jnp.abs(z)))


def _gaussian_log_pdf(z):
    return -0.5 * (jnp.square(z) + _LOG_2PI)


# name -> (log CDF, log density) of the standardised, symmetric distribution.
_DISCRETIZED = {
    "gaussian": (log_ndtr, _gaussian_log_pdf),
    "logistic": (jax.nn.log_sigmoid, _logistic_log_pdf),
}

# 3-point Gauss-Legendre rule on [-1, 1].
_GL_NODES = (-math.sqrt(0.6), 0.0, math.sqrt(0.6))
_GL_LOG_WEIGHTS = (math.log(5 / 9), math.log(8 / 9), math.log(5 / 9))


def discretized_log_likelihood(
    x: jax.Array,
    mu: jax.Array,
    log_scale: jax.Array | float,
    *,
    distribution: str = "gaussian",
    num_bins: int = 256,
) -> jax.Array:
    """Log-likelihood of 8-bit data under a continuous density integrated over each bin.

    Data in [-1, 1] on the grid x_k = -1 + 2k / (num_bins - 1) (k = 0..255 for 8-bit images).
    With bin half-width h = 1 / (num_bins - 1), CDF F of the standardised distribution,
    z = (x - mu) / s and s = exp(log_scale):

        P(x) = F((x - mu + h) / s) - F((x - mu - h) / s)    inside,
        P(-1) = F((-1 - mu + h) / s),  P(1) = 1 - F((1 - mu - h) / s)   at the edges,

    and log p(x) = sum_i log P(x_i). This is the decoder L_0 of Ho et al. 2020 ("Denoising
    Diffusion Probabilistic Models", Gaussian, s = sigma) and the discretized logistic of
    Salimans et al. 2017 ("PixelCNN++", one component, s the logistic scale); divide the
    negative by D log 2 for bits/dim.

    The difference of CDFs is formed in log space on the side of the mean where it does not
    cancel; where the bin is narrow compared with the scale (w (1 + |z|) < 1/2, w = 2h / s)
    the bin integral is a 3-point Gauss-Legendre rule in log space (relative error ~1e-7),
    so values and gradients stay accurate and finite for any scale.

    Args:
      x: [B, ...] data on the grid above (e.g. uint8 images mapped by x / 127.5 - 1).
      mu: [B, ...] location, the same shape as x.
      log_scale: log s, a scalar or an array broadcasting to x's shape. For the Gaussian
        s = sigma, so log_scale = logvar / 2.
      distribution: "gaussian" or "logistic".
      num_bins: number of levels (256 for 8-bit).

    Returns:
      [B] log-likelihood in nats, summed over the non-batch axes.
    """
    fn = "discretized_log_likelihood"
    check_kind(fn, distribution, _DISCRETIZED, "distribution")
    x, mu, log_scale = jnp.asarray(x), jnp.asarray(mu), jnp.asarray(log_scale)
    check_batched(fn, "x", x)
    check_same_shape(fn, x=x, mu=mu)
    check_broadcastable_to(fn, "log_scale", log_scale, "x", x.shape)
    log_cdf, log_pdf = _DISCRETIZED[distribution]

    half_bin = 1.0 / (num_bins - 1)
    inv_s = jnp.exp(-log_scale)
    centre = (x - mu) * inv_s  # z at the bin centre
    half_width = half_bin * inv_s  # w / 2
    lo, hi = centre - half_width, centre + half_width

    # Wide bins: log(F(hi) - F(lo)); right of the mean use 1 - F(-z) so both CDFs are small.
    left = centre < 0
    log_f_hi = log_cdf(jnp.where(left, hi, -lo))
    log_f_lo = log_cdf(jnp.where(left, lo, -hi))
    narrow = 2.0 * half_width * (1.0 + jnp.abs(centre)) < 0.5
    gap = jnp.where(narrow, -1.0, log_f_lo - log_f_hi)  # <= 0; safe value where unused
    log_wide = log_f_hi + jnp.log(-jnp.expm1(gap))

    # Narrow bins: log of int_{lo}^{hi} pdf = log(w / 2) + logsumexp_i(log w_i + log pdf(z_i)).
    nodes = jnp.stack([centre + n * half_width for n in _GL_NODES])
    log_terms = jnp.stack(list(_GL_LOG_WEIGHTS)).reshape((3,) + (1,) * centre.ndim)
    log_narrow = jnp.log(half_width) + jax.nn.logsumexp(log_terms + log_pdf(nodes), axis=0)

    log_inside = jnp.where(narrow, log_narrow, log_wide)
    log_p = jnp.where(
        x < -1.0 + half_bin,
        log_cdf(hi),  # P(X <= -1 + h)
        jnp.where(x > 1.0 - half_bin, log_cdf(-lo), log_inside),  # P(X > 1 - h)
    )
    return sum_per_example(jnp.broadcast_to(log_p, x.shape))  # [B]
