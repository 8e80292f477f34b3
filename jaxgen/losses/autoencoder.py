"""Autoencoder objectives: reconstruction MSE (and its PSNR) and the denoising autoencoder.

Per-example values, shape [B]; MSE-type losses are means over the non-batch axes.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxgen.losses._checks import check_batched, check_same_shape, mean_per_example

CorruptFn = Callable[[jax.Array, jax.Array], jax.Array]  # (x, key) -> x_tilde


def reconstruction_mse(x: jax.Array, x_recon: jax.Array) -> jax.Array:
    """Autoencoder reconstruction error, the mean squared error per example.

    L(x) = 1/D sum_i (x_i - x_recon_i)^2,  x_recon = g(f(x)),  D = number of non-batch
    elements (Rumelhart, Hinton & Williams 1986; Hinton & Salakhutdinov 2006).

    Args:
      x: [B, ...] inputs.
      x_recon: [B, ...] reconstructions, the same shape.

    Returns:
      [B] mean over the non-batch axes.
    """
    x, x_recon = jnp.asarray(x), jnp.asarray(x_recon)
    check_batched("reconstruction_mse", "x", x)
    check_same_shape("reconstruction_mse", x=x, x_recon=x_recon)
    return mean_per_example(jnp.square(x - x_recon))  # [B]


def psnr(x: jax.Array, x_recon: jax.Array, data_range: float = 2.0) -> jax.Array:
    """Peak signal-to-noise ratio in dB, per example.

    PSNR(x, x_recon) = 10 log10(R^2 / MSE(x, x_recon)),  R the range of the pixel values:
    2 for images in [-1, 1] (the same PSNR as for the images mapped to [0, 1] with R = 1).

    Args:
      x: [B, ...] reference images.
      x_recon: [B, ...] reconstructions, the same shape.
      data_range: R.

    Returns:
      [B] in dB (inf where x_recon == x).
    """
    return 10.0 * jnp.log10(data_range**2 / reconstruction_mse(x, x_recon))  # [B]


def gaussian_corruption(x: jax.Array, key: jax.Array, sigma: float = 0.1) -> jax.Array:
    """Additive isotropic Gaussian noise: x_tilde = x + sigma * eps, eps ~ N(0, I).

    One of the corruptions of Vincent et al. 2010 ("Stacked Denoising Autoencoders").
    Use ``functools.partial(gaussian_corruption, sigma=...)`` as a ``corrupt_fn``.
    """
    x = jnp.asarray(x)
    return x + sigma * jax.random.normal(key, x.shape, x.dtype)


def masking_corruption(x: jax.Array, key: jax.Array, drop_prob: float = 0.25) -> jax.Array:
    """Masking noise: each element is set to 0 independently with probability ``drop_prob``.

    x_tilde_i = m_i x_i,  m_i ~ Bernoulli(1 - drop_prob)
    (Vincent et al. 2008, "Extracting and Composing Robust Features with Denoising
    Autoencoders"). No rescaling is applied (unlike dropout).
    """
    x = jnp.asarray(x)
    keep = jax.random.bernoulli(key, 1.0 - drop_prob, x.shape)
    return jnp.where(keep, x, jnp.zeros_like(x))


def denoising_loss(
    reconstruct_fn: Callable[[jax.Array], jax.Array],
    x: jax.Array,
    key: jax.Array,
    corrupt_fn: CorruptFn,
) -> jax.Array:
    """Denoising autoencoder objective: reconstruct the clean input from a corrupted one.

    L(x) = 1/D || g(f(x_tilde)) - x ||^2,  x_tilde ~ C(x_tilde | x)
    (Vincent et al. 2008, 2010).

    Args:
      reconstruct_fn: x_tilde [B, ...] -> x_recon [B, ...], i.e. decoder(encoder(.)).
      x: [B, ...] clean inputs.
      key: PRNG key for the corruption.
      corrupt_fn: (x, key) -> x_tilde, e.g. ``gaussian_corruption`` or
        ``functools.partial(masking_corruption, drop_prob=0.5)``.

    Returns:
      [B] reconstruction MSE against the clean x, mean over the non-batch axes.
    """
    x = jnp.asarray(x)
    check_batched("denoising_loss", "x", x)
    x_recon = reconstruct_fn(corrupt_fn(x, key))
    return reconstruction_mse(x, x_recon)  # [B]
