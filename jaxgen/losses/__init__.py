"""Pure loss functions for image generative models (JAX only: no flax, no state).

Conventions (every function):

- Inputs are batched with the batch on axis 0 ([B, ...], NHWC images); a PRNG ``key`` is
  taken only where the function samples.
- Outputs are per example, shape [B]; reduce (mean over the batch, weights) outside.
  Log-likelihoods and KLs are sums over the non-batch axes (nats per example); MSE/L1-type
  losses are means over the non-batch axes. Compound losses return ``(loss, terms)`` with a
  dict of named [B] terms.
- Everything works under ``jit``, ``vmap`` (over an extra leading axis) and ``grad``; shape
  errors are raised at trace time with both shapes in the message.
- Each docstring states the equation and the paper it comes from.
"""

from jaxgen.losses.autoencoder import (
    denoising_loss,
    gaussian_corruption,
    masking_corruption,
    psnr,
    reconstruction_mse,
)
from jaxgen.losses.autoregressive import (
    bins_to_pixels,
    categorical_log_likelihood,
    dalle_loss,
    discretized_logistic_mixture_log_likelihood,
    pixel_bins,
    token_cross_entropy,
)
from jaxgen.losses.contrastive import clip_logits, clip_loss
from jaxgen.losses.diffusion import (
    noise_prediction_loss,
    reverse_log_variance,
    variational_bound,
    variational_bound_term,
)
from jaxgen.losses.divergences import (
    bernoulli_log_likelihood,
    discretized_log_likelihood,
    entropy,
    gaussian_log_likelihood,
    js_divergence,
    kl_diag_gaussians,
    kl_divergence,
    kl_standard_normal,
)
from jaxgen.losses.flows import flow_log_likelihood, uniform_dequantize
from jaxgen.losses.gan import (
    cycle_consistency_loss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    pix2pix_l1_loss,
    r1_penalty,
    srgan_content_loss,
)
from jaxgen.losses.style import content_loss, gram_matrix, style_loss, total_variation
from jaxgen.losses.vae import (
    beta_schedule,
    iwae_bound,
    kl_autoencoder_loss,
    negative_elbo,
    reparameterize,
)
from jaxgen.losses.vq import (
    EMACodebookState,
    Quantized,
    codebook_perplexity,
    ema_codebook_update,
    init_ema_codebook,
    vector_quantize,
    vq_loss,
)

__all__ = [
    "EMACodebookState",
    "Quantized",
    "bernoulli_log_likelihood",
    "beta_schedule",
    "bins_to_pixels",
    "categorical_log_likelihood",
    "clip_logits",
    "clip_loss",
    "codebook_perplexity",
    "content_loss",
    "cycle_consistency_loss",
    "dalle_loss",
    "denoising_loss",
    "discretized_log_likelihood",
    "discretized_logistic_mixture_log_likelihood",
    "discriminator_loss",
    "ema_codebook_update",
    "entropy",
    "flow_log_likelihood",
    "gaussian_corruption",
    "gaussian_log_likelihood",
    "generator_loss",
    "gradient_penalty",
    "gram_matrix",
    "init_ema_codebook",
    "iwae_bound",
    "js_divergence",
    "kl_autoencoder_loss",
    "kl_diag_gaussians",
    "kl_divergence",
    "kl_standard_normal",
    "masking_corruption",
    "negative_elbo",
    "noise_prediction_loss",
    "pix2pix_l1_loss",
    "srgan_content_loss",
    "pixel_bins",
    "psnr",
    "r1_penalty",
    "reconstruction_mse",
    "reparameterize",
    "reverse_log_variance",
    "style_loss",
    "token_cross_entropy",
    "total_variation",
    "uniform_dequantize",
    "variational_bound",
    "variational_bound_term",
    "vector_quantize",
    "vq_loss",
]
