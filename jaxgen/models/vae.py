"""Convolutional VAE (Kingma & Welling 2014) and the pieces its objective is built from."""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import losses


class ConvEncoder(nn.Module):
    """x [B, H, W, C] -> features [B, F]: (Conv 3x3 stride 2, ReLU) per width, flatten."""

    widths: Sequence[int] = (32, 64)

    @nn.compact
    def __call__(self, x):
        for w in self.widths:
            x = nn.relu(nn.Conv(w, (3, 3), strides=2)(x))
        return x.reshape(x.shape[0], -1)


class ConvDecoder(nn.Module):
    """z [B, D] -> [B, H, W, C]: Dense to the encoder's last map, (ConvTranspose 3x3 stride 2,
    ReLU) per width in reverse, a last ConvTranspose to `out_shape`'s channels."""

    out_shape: Sequence[int]  # (H, W, C)
    widths: Sequence[int] = (32, 64)

    @nn.compact
    def __call__(self, z):
        h, w, c = self.out_shape
        scale = 2 ** len(self.widths)
        if h % scale or w % scale:
            raise ValueError(f"Image size {h}x{w} must be divisible by 2^len(widths) = {scale}.")
        x = nn.Dense(h // scale * w // scale * self.widths[-1])(z)
        x = nn.relu(x).reshape(z.shape[0], h // scale, w // scale, self.widths[-1])
        for width in reversed(self.widths[:-1]):
            x = nn.relu(nn.ConvTranspose(width, (3, 3), strides=(2, 2))(x))
        return nn.ConvTranspose(c, (3, 3), strides=(2, 2))(x)


class ConvVAE(nn.Module):
    """q(z|x) = N(mu, diag exp(logvar)) from a conv encoder; p(x|z) from a conv decoder whose
    output is Bernoulli logits or a Gaussian mean (unit variance)."""

    image_shape: Sequence[int]
    latent_dim: int = 16
    widths: Sequence[int] = (32, 64)

    def setup(self):
        self.encoder = ConvEncoder(self.widths)
        self.to_posterior = nn.Dense(2 * self.latent_dim)
        self.decoder = ConvDecoder(self.image_shape, self.widths)

    def encode(self, x):
        """x [B, H, W, C] -> (mu [B, D], logvar [B, D])."""
        return jnp.split(self.to_posterior(self.encoder(x)), 2, axis=-1)

    def decode(self, z):
        return self.decoder(z)

    def __call__(self, x, key):
        mu, logvar = self.encode(x)
        return self.decode(losses.reparameterize(mu, logvar, key)), mu, logvar


def log_likelihood(x, out, likelihood):
    """log p(x | z) [B] for images x in [-1, 1]: 'bernoulli' reads out as logits of
    (x + 1) / 2, 'gaussian' as the mean of N(x; out, I)."""
    if likelihood == "bernoulli":
        return losses.bernoulli_log_likelihood((x + 1.0) / 2.0, out)
    if likelihood == "gaussian":
        return losses.gaussian_log_likelihood(x, out)
    raise ValueError(f"Unknown likelihood {likelihood!r}; use 'bernoulli' or 'gaussian'.")


def mean_image(out, likelihood):
    """The decoder's mean image in [-1, 1]."""
    return 2.0 * jax.nn.sigmoid(out) - 1.0 if likelihood == "bernoulli" else jnp.clip(out, -1, 1)


def objective(model, params, model_state, batch, key, step, *, likelihood, beta, warmup_steps):
    """Batch mean of -ELBO_beta(x) = -log p(x|z) + beta(step) KL(q(z|x) || N(0, I))."""
    x = batch["image"]
    out, mu, logvar = model.apply({"params": params}, x, key)
    loss, terms = losses.negative_elbo(
        log_likelihood(x, out, likelihood),
        mu,
        logvar,
        losses.beta_schedule(step, beta, warmup_steps),
    )
    metrics = {k: jnp.mean(v) for k, v in terms.items()}
    return jnp.mean(loss), (metrics, model_state)


def sample(model, params, key, n, *, likelihood):
    """n decoder means of z ~ N(0, I): [n, H, W, C] in [-1, 1]."""
    z = jax.random.normal(key, (n, model.latent_dim))
    return mean_image(model.apply({"params": params}, z, method=ConvVAE.decode), likelihood)
