"""Convolutional VAE (Kingma & Welling 2014), the conv encoder/decoder the autoencoder family
shares, and the decoder likelihoods p(x | z) of images in [-1, 1].

Likelihoods (``LIKELIHOODS``, chosen by name):

- ``bernoulli``: the decoder's C maps are logits of (x + 1) / 2, grey levels used as soft
  targets (a cross-entropy, not a distribution over 8-bit images: no bits/dim).
- ``gaussian``: N(x; mu, sigma_c^2) with the decoder's mean and one learned log sigma per
  channel (the "calibrated decoder" of Rybkin et al. 2021: sigma^2 tends to the MSE); a
  density of continuous data, so no bits/dim of 8-bit images either.
- ``discretized_logistic`` / ``discretized_gaussian``: the decoder gives a mean and a
  per-pixel log-scale and p(x | z) integrates the density over each of the 256 bins
  (``losses.discretized_log_likelihood``): a distribution over 8-bit images, so
  -log p / (D ln 2) is an exact bits/dim.
"""

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import losses
from jaxgen.models import conv
from jaxgen.models.types import Batch, ObjectiveOutput, PyTree


@dataclasses.dataclass(frozen=True)
class Likelihood:
    """How a decoder output `out` [B, H, W, C * decoder_maps (+ C)] defines p(x | z)."""

    name: str
    decoder_maps: int  # output maps per image channel produced by the conv decoder
    shared_log_scale: bool  # one learned log-scale per channel appended to `out`
    discrete: bool  # a distribution over the 256 levels of 8-bit data (exact bits/dim)


LIKELIHOODS = {
    lik.name: lik
    for lik in (
        Likelihood("bernoulli", 1, False, False),
        Likelihood("gaussian", 1, True, False),
        Likelihood("discretized_logistic", 2, False, True),
        Likelihood("discretized_gaussian", 2, False, True),
    )
}


def get_likelihood(name: str) -> Likelihood:
    """The Likelihood named `name`; an unknown name lists the known ones."""
    if name not in LIKELIHOODS:
        raise ValueError(f"Unknown likelihood {name!r}; use one of {', '.join(LIKELIHOODS)}.")
    return LIKELIHOODS[name]


def log_likelihood(x: jax.Array, out: jax.Array, likelihood: str) -> jax.Array:
    """log p(x | z) [B] in nats of images x [B, H, W, C] in [-1, 1] given the decoder output
    `out` (see the module docstring for each likelihood's parameterisation)."""
    get_likelihood(likelihood)
    if likelihood == "bernoulli":
        return losses.bernoulli_log_likelihood((x + 1.0) / 2.0, out)
    mu, log_scale = jnp.split(out, 2, axis=-1)
    if likelihood == "gaussian":
        return losses.gaussian_log_likelihood(x, mu, 2.0 * log_scale)
    distribution = likelihood.removeprefix("discretized_")
    return losses.discretized_log_likelihood(x, mu, log_scale, distribution=distribution)


def mean_image(out: jax.Array, likelihood: str) -> jax.Array:
    """The decoder's mean image in [-1, 1] (for the discretized ones: the location, clipped)."""
    if get_likelihood(likelihood).name == "bernoulli":
        return 2.0 * jax.nn.sigmoid(out) - 1.0
    return jnp.clip(jnp.split(out, 2, axis=-1)[0], -1.0, 1.0)


def _upsample_stack(x, widths, out_channels, upsample):
    """(x2 upsampling, ReLU) to each of `widths`, then a last x2 upsampling to `out_channels`:
    'transpose' = ConvTranspose 3x3 stride 2; 'resize' = nearest x2 then Conv 3x3. Called
    inside a compact method, so the layers belong to (and are named in) the caller."""

    def up(h, features):
        if upsample == "transpose":
            return conv.ConvTranspose(features, (3, 3), strides=(2, 2))(h)
        if upsample == "resize":
            b, hh, ww, c = h.shape
            return nn.Conv(features, (3, 3))(jax.image.resize(h, (b, 2 * hh, 2 * ww, c), "nearest"))
        raise ValueError(f"Unknown upsample {upsample!r}; use 'transpose' or 'resize'.")

    for width in widths:
        x = nn.relu(up(x, width))
    return up(x, out_channels)


def check_divisible(image_shape: Sequence[int], widths: Sequence[int]) -> tuple[int, int]:
    """Errors for images the len(widths) stride-2 stages cannot halve exactly."""
    h, w, _ = image_shape
    scale = 2 ** len(widths)
    if h % scale or w % scale:
        raise ValueError(
            f"Image size {h}x{w} must be divisible by 2^len(widths) = {scale}; use fewer widths "
            f"(e.g. 2 stages for 28x28 or 8x8 images)."
        )
    return h // scale, w // scale


class ConvEncoder(nn.Module):
    """x [B, H, W, C] -> features [B, F] (or the last map [B, h, w, widths[-1]] when
    `flatten` is False): (Conv 3x3 stride 2, ReLU) per width."""

    widths: Sequence[int] = (32, 64)
    flatten: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for w in self.widths:
            x = nn.relu(nn.Conv(w, (3, 3), strides=2)(x))
        return x.reshape(x.shape[0], -1) if self.flatten else x


class ConvDecoder(nn.Module):
    """z [B, D] -> [B, H, W, C]: Dense to the encoder's last map, (x2 upsampling, ReLU) per
    width in reverse, a last x2 upsampling to `out_shape`'s channels (see `upsample`)."""

    out_shape: Sequence[int]  # (H, W, C)
    widths: Sequence[int] = (32, 64)
    upsample: str = "transpose"  # or "resize" (nearest x2 + Conv 3x3)

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        h, w = check_divisible(self.out_shape, self.widths)
        x = nn.Dense(h * w * self.widths[-1])(z)
        x = nn.relu(x).reshape(z.shape[0], h, w, self.widths[-1])
        return _upsample_stack(x, self.widths[-2::-1], self.out_shape[-1], self.upsample)


class SpatialConvDecoder(nn.Module):
    """z [B, h, w, D] -> [B, H, W, C]: Conv 3x3 to widths[-1] with ReLU, then the same
    upsampling stack as ConvDecoder (the decoder of a spatial code, e.g. VQ-VAE's)."""

    out_shape: Sequence[int]
    widths: Sequence[int] = (32, 64)
    upsample: str = "transpose"

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        x = nn.relu(nn.Conv(self.widths[-1], (3, 3))(z))
        return _upsample_stack(x, self.widths[-2::-1], self.out_shape[-1], self.upsample)


def decoder_shape(image_shape: Sequence[int], likelihood: str) -> tuple[int, int, int]:
    """(H, W, C * maps): the conv decoder's output shape for `likelihood`."""
    h, w, c = image_shape
    return (h, w, c * get_likelihood(likelihood).decoder_maps)


def with_log_scale(out: jax.Array, log_scale: jax.Array | None) -> jax.Array:
    """Appends the shared per-channel log-scale [C] (None: nothing) to the decoder maps."""
    if log_scale is None:
        return out
    return jnp.concatenate([out, jnp.broadcast_to(log_scale, out.shape)], axis=-1)


class ConvVAE(nn.Module):
    """q(z|x) = N(mu, diag exp(logvar)) from a conv encoder; p(z) = N(0, I); p(x|z) from a conv
    decoder whose output parameterises `likelihood`."""

    image_shape: Sequence[int]
    latent_dim: int = 16
    widths: Sequence[int] = (32, 64)
    likelihood: str = "bernoulli"
    upsample: str = "transpose"

    def __post_init__(self):
        check_divisible(self.image_shape, self.widths)  # at construction, before any tracing
        get_likelihood(self.likelihood)
        super().__post_init__()

    def setup(self):
        shape = decoder_shape(self.image_shape, self.likelihood)
        self.encoder = ConvEncoder(self.widths)
        self.to_posterior = nn.Dense(2 * self.latent_dim)
        self.decoder = ConvDecoder(shape, self.widths, self.upsample)
        self.log_scale = (
            self.param("log_scale", nn.initializers.zeros, self.image_shape[-1:])
            if LIKELIHOODS[self.likelihood].shared_log_scale
            else None
        )

    def encode(self, x: jax.Array) -> list[jax.Array]:
        """x [B, H, W, C] -> (mu [B, D], logvar [B, D])."""
        return jnp.split(self.to_posterior(self.encoder(x)), 2, axis=-1)

    def decode(self, z: jax.Array) -> jax.Array:
        """z [B, D] -> decoder output (the likelihood's parameters)."""
        return with_log_scale(self.decoder(z), self.log_scale)

    def __call__(self, x: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        mu, logvar = self.encode(x)
        return self.decode(losses.reparameterize(mu, logvar, key)), mu, logvar


def objective(
    model: ConvVAE,
    params: PyTree,
    model_state: PyTree,
    batch: Batch,
    key: jax.Array,
    step: jax.Array | int,
    *,
    beta: float = 1.0,
    warmup_steps: int = 0,
) -> ObjectiveOutput:
    """Batch mean of -ELBO_beta(x) = -log p(x|z) + beta(step) KL(q(z|x) || N(0, I)), z ~ q(z|x),
    with beta(step) from `losses.beta_schedule` (constant, or linear warm-up from 0)."""
    x = batch["image"]
    out, mu, logvar = model.apply({"params": params}, x, key)
    beta_t = losses.beta_schedule(step, beta, warmup_steps)
    loss, terms = losses.negative_elbo(log_likelihood(x, out, model.likelihood), mu, logvar, beta_t)
    metrics = {k: jnp.mean(v) for k, v in terms.items()}
    return jnp.mean(loss), ({**metrics, "beta": beta_t}, model_state)


def elbo(
    model: ConvVAE, params: PyTree, x: jax.Array, key: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """(ELBO [B], terms) with the analytic KL and one z ~ q(z|x): the beta = 1 bound in nats."""
    out, mu, logvar = model.apply({"params": params}, x, key)
    _, terms = losses.negative_elbo(log_likelihood(x, out, model.likelihood), mu, logvar)
    return terms["elbo"], terms


def iwae_log_weights(
    model: ConvVAE, params: PyTree, x: jax.Array, key: jax.Array, num_samples: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """log p(x|z_k), log p(z_k), log q(z_k|x), each [K, B], for z_k ~ q(z|x) (k = 1..K): the
    inputs of `losses.iwae_bound`."""
    b = x.shape[0]
    mu, logvar = model.apply({"params": params}, x, method=ConvVAE.encode)
    z = losses.reparameterize(mu, logvar, key, num_samples)  # [K, B, D]
    flat = z.reshape(num_samples * b, -1)  # [K*B, D]
    out = model.apply({"params": params}, flat, method=ConvVAE.decode)
    x_k = jnp.broadcast_to(x, (num_samples, *x.shape)).reshape(num_samples * b, *x.shape[1:])
    log_px_z = log_likelihood(x_k, out, model.likelihood)
    log_pz = losses.gaussian_log_likelihood(flat, jnp.zeros_like(flat))
    mu_k = jnp.broadcast_to(mu, z.shape).reshape(flat.shape)
    logvar_k = jnp.broadcast_to(logvar, z.shape).reshape(flat.shape)
    log_qz_x = losses.gaussian_log_likelihood(flat, mu_k, logvar_k)
    return tuple(v.reshape(num_samples, b) for v in (log_px_z, log_pz, log_qz_x))


def encode(model: ConvVAE, params: PyTree, x: jax.Array) -> list[jax.Array]:
    """q(z|x) of images x: (mu [B, D], logvar [B, D])."""
    return model.apply({"params": params}, x, method=ConvVAE.encode)


def decode_mean(model: ConvVAE, params: PyTree, z: jax.Array) -> jax.Array:
    """Mean images [B, H, W, C] in [-1, 1] of latents z [B, D]."""
    return mean_image(model.apply({"params": params}, z, method=ConvVAE.decode), model.likelihood)


def reconstruct(model: ConvVAE, params: PyTree, x: jax.Array) -> jax.Array:
    """Decoder mean images at the posterior means z = mu(x)."""
    return decode_mean(model, params, encode(model, params, x)[0])


def sample(model: ConvVAE, params: PyTree, key: jax.Array, n: int) -> jax.Array:
    """n decoder means of z ~ N(0, I): [n, H, W, C] in [-1, 1]."""
    return decode_mean(model, params, jax.random.normal(key, (n, model.latent_dim)))
