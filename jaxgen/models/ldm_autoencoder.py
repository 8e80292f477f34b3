"""The KL-regularised convolutional autoencoder of latent diffusion (Rombach et al. 2022,
"High-Resolution Image Synthesis with Latent Diffusion Models", Sec. 3 and Appendix G: the
"KL-f4" first stage): images [B, H, W, C] -> a spatial latent [B, H/f, W/f, latent_channels],
f = 2^len(widths) (28x28 -> 7x7 and 8x8 -> 2x2 for two widths), with a diagonal Gaussian
posterior per latent pixel, q(z | x) = N(mu(x), diag exp(logvar(x))), and a deterministic
decoder D(z) trained by ``losses.kl_autoencoder_loss`` (an L1 or L2 reconstruction and a
slight KL penalty towards N(0, I)). Latent diffusion then runs a U-Net on the grid
z_0 = s * mu(x) (``models.latent_diffusion``).
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import losses
from jaxgen.models.types import Batch, ObjectiveOutput, PyTree
from jaxgen.models.unet import group_norm
from jaxgen.models.vae import check_divisible

# log sigma^2 of q(z | x) is clipped to this range, as in LDM's DiagonalGaussianDistribution:
# the slight KL penalty lets sigma shrink towards 0, and exp must stay finite.
LOGVAR_RANGE = (-30.0, 20.0)


class ResidualBlock(nn.Module):
    """x + Conv3x3(swish(GroupNorm(Conv3x3(swish(GroupNorm(x)))))): LDM's ResnetBlock
    without the time embedding (the U-Net's ResBlock of ``models.unet`` is its timed twin)."""

    width: int
    norm_groups: int = 8

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.Conv(self.width, (3, 3))(nn.swish(group_norm(x, self.norm_groups)))
        h = nn.Conv(self.width, (3, 3))(nn.swish(group_norm(h, self.norm_groups)))
        return x + h


class SpatialEncoder(nn.Module):
    """x [B, H, W, C] -> [B, H/f, W/f, out_channels]: a 3x3 conv to widths[0], then per width
    a stride-2 3x3 conv to it and `num_res_blocks` ResidualBlocks; GroupNorm, swish, 3x3 conv
    to out_channels."""

    widths: Sequence[int]
    out_channels: int
    num_res_blocks: int = 1
    norm_groups: int = 8

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.Conv(self.widths[0], (3, 3))(x)
        for width in self.widths:
            h = nn.Conv(width, (3, 3), strides=2)(h)
            for _ in range(self.num_res_blocks):
                h = ResidualBlock(width, self.norm_groups)(h)
        h = nn.swish(group_norm(h, self.norm_groups))
        return nn.Conv(self.out_channels, (3, 3))(h)


class SpatialDecoder(nn.Module):
    """z [B, h, w, D] -> [B, H, W, out_channels], the encoder in reverse: a 3x3 conv to
    widths[-1], then per width from the last `num_res_blocks` ResidualBlocks, a nearest x2
    upsample and a 3x3 conv to the next width (widths[0] after the first); GroupNorm, swish,
    3x3 conv to out_channels (linear output)."""

    widths: Sequence[int]
    out_channels: int
    num_res_blocks: int = 1
    norm_groups: int = 8

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        h = nn.Conv(self.widths[-1], (3, 3))(z)
        widths = list(self.widths[::-1])
        for width, next_width in zip(widths, [*widths[1:], widths[-1]], strict=True):
            for _ in range(self.num_res_blocks):
                h = ResidualBlock(width, self.norm_groups)(h)
            b, hh, ww, c = h.shape
            h = jax.image.resize(h, (b, 2 * hh, 2 * ww, c), "nearest")
            h = nn.Conv(next_width, (3, 3))(h)
        h = nn.swish(group_norm(h, self.norm_groups))
        return nn.Conv(self.out_channels, (3, 3))(h)


class KLAutoencoder(nn.Module):
    """x [B, H, W, C] -> q(z | x) over z [B, H/f, W/f, latent_channels] -> x_recon [B, H, W, C]
    (f = 2^len(widths); images in [-1, 1], the decoder's output linear)."""

    image_shape: Sequence[int]
    latent_channels: int = 4
    widths: Sequence[int] = (32, 64)
    num_res_blocks: int = 1
    norm_groups: int = 8

    def __post_init__(self):
        check_divisible(self.image_shape, self.widths)  # at construction, before any tracing
        super().__post_init__()

    def setup(self):
        blocks = {"num_res_blocks": self.num_res_blocks, "norm_groups": self.norm_groups}
        self.encoder = SpatialEncoder(self.widths, 2 * self.latent_channels, **blocks)
        self.decoder = SpatialDecoder(self.widths, self.image_shape[-1], **blocks)

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """x [B, H, W, C] -> (mu, logvar), each [B, H/f, W/f, latent_channels]."""
        mu, logvar = jnp.split(self.encoder(x), 2, axis=-1)
        return mu, jnp.clip(logvar, *LOGVAR_RANGE)

    def decode(self, z: jax.Array) -> jax.Array:
        """z [B, h, w, latent_channels] -> x_recon [B, H, W, C] (unclipped)."""
        return self.decoder(z)

    def __call__(self, x: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(x_recon = D(z), mu, logvar) with z ~ q(z | x) by ``losses.reparameterize``."""
        mu, logvar = self.encode(x)
        return self.decode(losses.reparameterize(mu, logvar, key)), mu, logvar


def objective(
    model: KLAutoencoder,
    params: PyTree,
    model_state: PyTree,
    batch: Batch,
    key: jax.Array,
    step: jax.Array | int,
    *,
    kl_weight: float = 1e-6,
    distance: str = "l1",
) -> ObjectiveOutput:
    """Batch mean of ``losses.kl_autoencoder_loss``: sum_i d(x_i - D(z)_i) + kl_weight
    KL(q(z|x) || N(0, I)), z ~ q(z|x); logs its terms and the reconstruction MSE per pixel."""
    del step
    x = batch["image"]
    x_recon, mu, logvar = model.apply({"params": params}, x, key)
    loss, terms = losses.kl_autoencoder_loss(x, x_recon, mu, logvar, kl_weight, distance)
    metrics = {k: jnp.mean(v) for k, v in terms.items()}
    metrics["mse"] = jnp.mean(losses.reconstruction_mse(x, x_recon))
    return jnp.mean(loss), (metrics, model_state)


def encode(model: KLAutoencoder, params: PyTree, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """q(z|x) of images x: (mu, logvar), each [B, h, w, latent_channels]."""
    return model.apply({"params": params}, x, method=KLAutoencoder.encode)


def decode(model: KLAutoencoder, params: PyTree, z: jax.Array) -> jax.Array:
    """Images [B, H, W, C] in [-1, 1] (clipped) of latents z [B, h, w, latent_channels]."""
    return jnp.clip(model.apply({"params": params}, z, method=KLAutoencoder.decode), -1.0, 1.0)


def reconstruct(model: KLAutoencoder, params: PyTree, x: jax.Array) -> jax.Array:
    """D(mu(x)): the decoding of the posterior mean, clipped to [-1, 1]."""
    return decode(model, params, encode(model, params, x)[0])
