"""Variational autoencoder objectives: reparameterisation, negative ELBO, beta schedule, IWAE,
and the KL-regularised autoencoder of latent diffusion.

Per-example values, shape [B], in nats (sums over the non-batch axes).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxgen.losses._checks import check_batched, check_same_shape, sum_per_example
from jaxgen.losses.divergences import kl_standard_normal


def reparameterize(
    mu: jax.Array, logvar: jax.Array, key: jax.Array, num_samples: int | None = None
) -> jax.Array:
    """Reparameterised sample from q(z | x) = N(mu, sigma^2).

    z = mu + sigma * eps,  sigma = exp(logvar / 2),  eps ~ N(0, I)
    (Kingma & Welling 2014, "Auto-Encoding Variational Bayes", Sec. 2.4). Gradients flow to
    mu and logvar.

    Args:
      mu, logvar: [B, ...] mean and log-variance of q(z | x).
      key: PRNG key.
      num_samples: None for one sample of shape [B, ...]; K for K independent samples of
        shape [K, B, ...] (for ``iwae_bound``).

    Returns:
      z: [B, ...] or [K, B, ...].
    """
    mu, logvar = jnp.asarray(mu), jnp.asarray(logvar)
    check_same_shape("reparameterize", mu=mu, logvar=logvar)
    shape = mu.shape if num_samples is None else (num_samples, *mu.shape)
    eps = jax.random.normal(key, shape, mu.dtype)
    return mu + jnp.exp(0.5 * logvar) * eps


def negative_elbo(
    log_px_z: jax.Array, mu: jax.Array, logvar: jax.Array, beta: jax.Array | float = 1.0
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Negative evidence lower bound with a Gaussian posterior and N(0, I) prior.

    -ELBO_beta(x) = -log p(x | z) + beta * KL(q(z | x) || N(0, I)),  z ~ q(z | x)
    (Kingma & Welling 2014; beta as in Higgins et al. 2017, "beta-VAE", and the KL
    annealing of Bowman et al. 2016; see ``beta_schedule``). beta = 1 is the true -ELBO.

    Args:
      log_px_z: [B] reconstruction log-likelihood log p(x | z) of one reparameterised sample,
        e.g. ``gaussian_log_likelihood``, ``bernoulli_log_likelihood`` or
        ``discretized_log_likelihood`` of the decoder output.
      mu, logvar: [B, ...] parameters of q(z | x).
      beta: KL weight, a scalar (may be traced, e.g. from ``beta_schedule``).

    Returns:
      loss: [B] -log p(x | z) + beta * KL.
      terms: {"recon": [B] -log p(x | z), "kl": [B] KL, "elbo": [B] log p(x | z) - KL
        (the beta = 1 bound, for monitoring)}.
    """
    log_px_z, mu, logvar = jnp.asarray(log_px_z), jnp.asarray(mu), jnp.asarray(logvar)
    check_batched("negative_elbo", "mu", mu)
    if log_px_z.shape != mu.shape[:1]:
        raise ValueError(
            f"negative_elbo: log_px_z shape {tuple(log_px_z.shape)} != batch shape "
            f"{tuple(mu.shape[:1])} of mu {tuple(mu.shape)}; pass per-example "
            f"log-likelihoods [B] (sum over the data axes first)"
        )
    kl = kl_standard_normal(mu, logvar)  # [B]
    recon = -log_px_z  # [B]
    return recon + beta * kl, {"recon": recon, "kl": kl, "elbo": log_px_z - kl}


DISTANCES = {"l1": jnp.abs, "l2": jnp.square}  # d(u) of ``kl_autoencoder_loss``


def kl_autoencoder_loss(
    x: jax.Array,
    x_recon: jax.Array,
    mu: jax.Array,
    logvar: jax.Array,
    kl_weight: jax.Array | float = 1e-6,
    distance: str = "l1",
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The KL-regularised autoencoder objective of latent diffusion.

    L(x) = sum_i d(x_i - x_recon_i) + kl_weight * KL(q(z | x) || N(0, I)),
    x_recon = D(z),  z ~ q(z | x) = N(mu, diag exp(logvar)),  d(u) = |u| ("l1") or u^2 ("l2")
    (Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion Models",
    Sec. 3 and Appendix G, "KL-reg."; their perceptual and adversarial terms left out). The
    distance is summed over the pixels and the KL (``kl_standard_normal``) over the latent,
    as in their code, so a kl_weight of 1e-6 .. 1e-3 is the "slight KL-penalty towards a
    standard normal": it keeps the latent's scale from drifting, not a VAE's beta = 1
    bound. d = l2 is -log N(x; x_recon, I/2) up to a constant, d = l1 -log Laplace(x;
    x_recon, 1).

    Args:
      x, x_recon: [B, ...] images and their decoding of z, the same shape.
      mu, logvar: [B, ...] q(z | x), e.g. a latent grid [B, h, w, C].
      kl_weight: a scalar (may be traced).
      distance: "l1" or "l2".

    Returns:
      loss: [B] sum_i d(x_i - x_recon_i) + kl_weight * KL.
      terms: {"recon": [B] the summed distance, "kl": [B] KL}.
    """
    if distance not in DISTANCES:
        raise ValueError(
            f"kl_autoencoder_loss: unknown distance {distance!r}; use one of "
            f"{', '.join(DISTANCES)}."
        )
    x, x_recon = jnp.asarray(x), jnp.asarray(x_recon)
    check_batched("kl_autoencoder_loss", "x", x)
    check_same_shape("kl_autoencoder_loss", x=x, x_recon=x_recon)
    recon = sum_per_example(DISTANCES[distance](x - x_recon))  # [B]
    kl = kl_standard_normal(mu, logvar)  # [B]
    return recon + kl_weight * kl, {"recon": recon, "kl": kl}


def beta_schedule(step: jax.Array | int, beta: float = 1.0, warmup_steps: int = 0) -> jax.Array:
    """KL weight schedule: constant, or a linear warm-up from 0.

    beta(step) = beta * min(1, step / warmup_steps)   (warmup_steps > 0),
    beta(step) = beta                                  (warmup_steps = 0, constant)
    (KL annealing, Bowman et al. 2016, "Generating Sentences from a Continuous Space";
    Sonderby et al. 2016, "Ladder Variational Autoencoders"). ``step`` may be traced.

    Returns:
      scalar float32 beta for this step.
    """
    if warmup_steps < 0:
        raise ValueError(f"beta_schedule: warmup_steps must be >= 0, got {warmup_steps}")
    step = jnp.asarray(step, jnp.float32)
    if warmup_steps == 0:
        return jnp.full_like(step, beta)
    return beta * jnp.clip(step / warmup_steps, 0.0, 1.0)


def iwae_bound(
    log_px_z: jax.Array, log_pz: jax.Array, log_qz_x: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Importance-weighted lower bound on log p(x) with K samples (an NLL estimate).

    L_K(x) = log (1/K) sum_k w_k,  w_k = p(x | z_k) p(z_k) / q(z_k | x),  z_k ~ q(z | x)
           = logsumexp_k(log w_k) - log K
    (Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders").
    L_1 is the ELBO, E[L_K] increases with K and tends to log p(x); -L_K with large K
    (e.g. 5000) is the usual NLL estimate. Computed with logsumexp, so log weights of
    -1e4 are fine.

    Args:
      log_px_z, log_pz, log_qz_x: [K, B] per-sample log p(x | z_k), log p(z_k) and
        log q(z_k | x), for z_k e.g. from ``reparameterize(..., num_samples=K)``.

    Returns:
      bound: [B] L_K(x) (negate for the NLL estimate).
      terms: {"elbo": [B] mean_k log w_k, the K-sample ELBO estimate,
        "ess": [B] effective sample size 1 / sum_k wbar_k^2 of the normalised weights, in
        [1, K]}.
    """
    log_px_z, log_pz, log_qz_x = map(jnp.asarray, (log_px_z, log_pz, log_qz_x))
    check_batched("iwae_bound", "log_px_z", log_px_z, min_ndim=2, layout="[K, B]")
    check_same_shape("iwae_bound", "[K, B]", log_px_z=log_px_z, log_pz=log_pz, log_qz_x=log_qz_x)
    if log_px_z.ndim != 2:
        raise ValueError(
            f"iwae_bound: log_px_z has shape {tuple(log_px_z.shape)}; expected [K, B] "
            f"per-sample log-densities (sum over the data/latent axes first)"
        )
    log_w = log_px_z + log_pz - log_qz_x  # [K, B]
    num_samples = log_w.shape[0]
    bound = jax.nn.logsumexp(log_w, axis=0) - math.log(num_samples)  # [B]
    w_bar = jax.nn.softmax(log_w, axis=0)  # [K, B]
    ess = 1.0 / jnp.sum(jnp.square(w_bar), axis=0)  # [B]
    return bound, {"elbo": jnp.mean(log_w, axis=0), "ess": ess}
