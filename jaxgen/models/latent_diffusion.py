"""Latent diffusion (Rombach et al. 2022, "High-Resolution Image Synthesis with Latent
Diffusion Models"): DDPM in the latent space of a frozen, pretrained autoencoder.

    z_0 = s * E(x)  (E: the posterior mean, s = 1 / std of the latents: ``latent_scale``),
    train eps_theta(z_t, t) with L_simple on z_0 (``objective``), sample z_0 by any sampler,
    x = D(z_0 / s).

The autoencoders of jaxgen's VAE family (``vae.ConvVAE``, ``autoencoder.ConvAutoencoder``)
have a dense bottleneck: their latent is a vector z [B, D], not a feature map, so their
denoiser is an MLP (``LatentDenoiser``). The paper's KL-regularised first stage
(``ldm_autoencoder.KLAutoencoder``) has a spatial latent z [B, h, w, C], the grid a U-Net
(``unet.UNet``) denoises, class-conditional with classifier-free guidance as in pixel space.
"""

import functools
from collections.abc import Callable
from typing import ClassVar, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxgen.diffusion import NoiseSchedule
from jaxgen.models import autoencoder, diffusion, ldm_autoencoder, vae
from jaxgen.models.types import Batch, ObjectiveOutput, PyTree
from jaxgen.models.unet import UNet, sinusoidal_embedding


class LatentDenoiser(nn.Module):
    """eps_theta(z_t [B, D], t [B] int) -> eps_pred [B, D]: a residual MLP.

    z_t -> Dense(width), then `depth` residual blocks h + F(h, emb) with F: LayerNorm, swish,
    Dense; + Dense(swish(emb)); LayerNorm, swish, Dense (zero-initialized, so each block starts
    as the identity) -- the U-Net's ResBlock with Dense for 3x3 conv and LayerNorm for
    GroupNorm; output LayerNorm, swish, zero-initialized Dense to D. emb = MLP(sinusoidal(t))
    as in the U-Net. Unconditional (num_classes = None: the interface of
    ``diffusion.init_params`` and ``diffusion.make_sampler``).
    """

    width: int = 256
    depth: int = 3
    num_classes: ClassVar[None] = None

    @nn.compact
    def __call__(self, z: jax.Array, t: jax.Array, y: jax.Array | None = None) -> jax.Array:
        if z.ndim != 2 or t.shape != z.shape[:1] or y is not None:
            raise ValueError(
                f"LatentDenoiser expects z [B, D], t [B] and no labels; got z {z.shape}, "
                f"t {t.shape}, y {None if y is None else y.shape}."
            )
        emb = sinusoidal_embedding(t, self.width)
        emb = nn.Dense(self.width)(nn.swish(nn.Dense(self.width)(emb)))
        h = nn.Dense(self.width)(z)
        zeros = nn.initializers.zeros
        for _ in range(self.depth):
            f = nn.Dense(self.width)(nn.swish(nn.LayerNorm()(h)))
            f = f + nn.Dense(self.width)(nn.swish(emb))
            h = h + nn.Dense(self.width, kernel_init=zeros)(nn.swish(nn.LayerNorm()(f)))
        return nn.Dense(z.shape[-1], kernel_init=zeros)(nn.swish(nn.LayerNorm()(h)))


class FrozenAutoencoder(NamedTuple):
    """A trained autoencoder as two jit-able functions of its frozen parameters:
    encode(x [B, H, W, C]) -> z [B, *latent_shape] (deterministic: the posterior mean of a
    VAE) and decode(z) -> images [B, H, W, C] in [-1, 1]; latent_shape: (D,) for a latent
    vector, (h, w, C) for a latent grid."""

    encode: Callable
    decode: Callable
    latent_shape: tuple[int, ...]


def _conv_vae_codec(model, params):
    encode = lambda x: vae.encode(model, params, x)[0]  # mu of q(z|x)
    return encode, functools.partial(vae.decode_mean, model, params)


def _autoencoder_codec(model, params):
    def apply(method, v):
        return model.apply({"params": params}, v, method=method)

    encode = functools.partial(apply, autoencoder.ConvAutoencoder.encode)
    decode = lambda z: jnp.clip(apply(autoencoder.ConvAutoencoder.decode, z), -1.0, 1.0)
    return encode, decode


def _kl_autoencoder_codec(model, params):
    encode = lambda x: ldm_autoencoder.encode(model, params, x)[0]  # mu of q(z|x)
    return encode, functools.partial(ldm_autoencoder.decode, model, params)


# model type -> (model, params) -> (encode, decode)
CODECS = {
    vae.ConvVAE: _conv_vae_codec,
    autoencoder.ConvAutoencoder: _autoencoder_codec,
    ldm_autoencoder.KLAutoencoder: _kl_autoencoder_codec,
}


def frozen_autoencoder(
    model: vae.ConvVAE | autoencoder.ConvAutoencoder | ldm_autoencoder.KLAutoencoder,
    params: PyTree,
) -> FrozenAutoencoder:
    """The ``FrozenAutoencoder`` of a ``ConvVAE`` or ``ConvAutoencoder`` (the experiments vae,
    beta_vae, vae_latent, ae, dae: a latent vector) or a ``KLAutoencoder`` (ldm_autoencoder:
    a latent grid) with `params`; ValueError for other models."""
    codec = CODECS.get(type(model))
    if codec is None:
        names = ", ".join(t.__name__ for t in CODECS)
        raise ValueError(
            f"Latent diffusion needs one of the autoencoders {names} (runs of vae, beta_vae, "
            f"vae_latent, ae, dae or ldm_autoencoder); got a {type(model).__name__}."
        )
    encode, decode = codec(model, params)
    x = jax.ShapeDtypeStruct((1, *model.image_shape), jnp.float32)
    return FrozenAutoencoder(encode, decode, jax.eval_shape(encode, x).shape[1:])


def latent_scale(z: ArrayLike) -> float:
    """s = 1 / sigma^, sigma^2 = mean((z - mean(z))^2) over every component of the latents
    z [N, ...], so s * z has unit variance (Rombach et al. 2022, Appendix G: one scale for all
    components, estimated from data)."""
    z = np.asarray(z, np.float64)
    sigma = float(np.std(z))
    if not np.isfinite(sigma) or sigma <= 0.0:
        raise ValueError(f"latent_scale: the latents have std {sigma}; the encoder is degenerate.")
    return 1.0 / sigma


def objective(
    denoiser: LatentDenoiser | UNet,
    schedule: NoiseSchedule,
    encode: Callable[[jax.Array], jax.Array],
    scale: float,
    params: PyTree,
    model_state: PyTree,
    batch: Batch,
    key: jax.Array,
    step: jax.Array | int,
    *,
    p_uncond: float = 0.0,
) -> ObjectiveOutput:
    """L_simple (``diffusion.objective``) of the denoiser on z_0 = scale * encode(x) of the
    batch's images x (and its labels, for a class-conditional U-Net dropped to the empty class
    with probability `p_uncond`); the autoencoder, closed over by `encode`, gets no
    gradient."""
    z_0 = scale * jax.lax.stop_gradient(encode(batch["image"]))  # [B, *latent_shape]
    latents = {**batch, "image": z_0}
    return diffusion.objective(
        denoiser, schedule, params, model_state, latents, key, step, p_uncond=p_uncond
    )
