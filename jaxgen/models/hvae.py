"""Hierarchical VAE with two stochastic layers (z1 conditioned on z2): a two-layer ladder VAE.

Generative model:  p(z2) = N(0, I),  p(z1 | z2) = N(mu_p(z2), diag sigma_p^2(z2)),  p(x | z1)
from a conv decoder (any of ``vae.LIKELIHOODS``). Inference as in the ladder VAE (Sonderby
et al. 2016): a bottom-up pass gives the Gaussian N(mu_b, sigma_b^2) of z1 from the conv
features of x (the single-layer VAE's encoder and head), q(z2 | x) is read from (mu_b,
log sigma_b^2) by an MLP, and the top-down posterior of z1 merges the bottom-up Gaussian
with the prior p(z1 | z2) by precision weighting:

  sigma_q^-2 = sigma_b^-2 + sigma_p^-2,   mu_q = sigma_q^2 (mu_b sigma_b^-2 + mu_p sigma_p^-2).

The ELBO has two analytic KL terms:

  ELBO(x) = E_q[log p(x | z1)] - KL(q(z2 | x) || p(z2)) - E_q(z2|x)[KL(q(z1 | x, z2) || p(z1 | z2))]

The marginal prior p(z1) = int p(z1 | z2) p(z2) dz2 is a learned continuous mixture, more
flexible than the single-layer VAE's N(0, I), and the model adds only the two small MLPs
to that VAE's parameters (Burda et al. 2016 and Sonderby et al. 2016 report the NLL gain
of a second stochastic layer).
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import losses
from jaxgen.models.types import Batch, ObjectiveOutput, PyTree
from jaxgen.models.vae import (
    LIKELIHOODS,
    ConvDecoder,
    ConvEncoder,
    decoder_shape,
    log_likelihood,
    mean_image,
    with_log_scale,
)

Gaussian = tuple[jax.Array, jax.Array]  # (mu, logvar) of a diagonal Gaussian


def _mlp(hidden, out):
    return nn.Sequential([nn.Dense(hidden), nn.relu, nn.Dense(hidden), nn.relu, nn.Dense(out)])


def _gaussian(params):
    """[B, 2D] -> (mu [B, D], logvar [B, D])."""
    return tuple(jnp.split(params, 2, axis=-1))


def precision_weighted(bottom_up: Gaussian, prior: Gaussian) -> Gaussian:
    """The ladder VAE's merge of two Gaussians (mu, logvar): the normalised product, with
    sigma^-2 = sigma_b^-2 + sigma_p^-2 and mu = sigma^2 (mu_b sigma_b^-2 + mu_p sigma_p^-2)."""
    (mu_b, logvar_b), (mu_p, logvar_p) = bottom_up, prior
    logvar = -jnp.logaddexp(-logvar_b, -logvar_p)
    weight_b = jax.nn.sigmoid(logvar_p - logvar_b)  # sigma_b^-2 / (sigma_b^-2 + sigma_p^-2)
    return weight_b * mu_b + (1.0 - weight_b) * mu_p, logvar


def _log_normal(z, mu, logvar):
    """log N(z; mu, diag exp(logvar)) [B], summed over the latent axis."""
    return losses.gaussian_log_likelihood(z, mu, logvar)


class HierarchicalVAE(nn.Module):
    """Two-layer VAE (see the module docstring): z2 [B, z2_dim] on top, z1 [B, z1_dim]."""

    image_shape: Sequence[int]
    z1_dim: int = 24
    z2_dim: int = 8
    hidden: int = 64  # width of the MLPs of q(z2 | x) and p(z1 | z2)
    widths: Sequence[int] = (32, 64)
    likelihood: str = "bernoulli"
    upsample: str = "transpose"

    def setup(self):
        shape = decoder_shape(self.image_shape, self.likelihood)
        self.encoder = ConvEncoder(self.widths)
        self.to_bottom_up = nn.Dense(2 * self.z1_dim)
        self.to_q_z2 = _mlp(self.hidden, 2 * self.z2_dim)
        self.to_p_z1 = _mlp(self.hidden, 2 * self.z1_dim)
        self.decoder = ConvDecoder(shape, self.widths, self.upsample)
        self.log_scale = (
            self.param("log_scale", nn.initializers.zeros, self.image_shape[-1:])
            if LIKELIHOODS[self.likelihood].shared_log_scale
            else None
        )

    def features(self, x: jax.Array) -> jax.Array:
        """h [B, 2 z1_dim]: the bottom-up (mu_b, log sigma_b^2) of z1, concatenated."""
        return self.to_bottom_up(self.encoder(x))

    def posterior_z2(self, h: jax.Array) -> Gaussian:
        """q(z2 | x): (mu, logvar) [B, z2_dim]."""
        return _gaussian(self.to_q_z2(h))

    def conditionals(self, h: jax.Array, z2: jax.Array) -> tuple[Gaussian, Gaussian]:
        """(p(z1 | z2), q(z1 | x, z2)), each (mu, logvar) [B, z1_dim]."""
        prior = self.prior_z1(z2)
        return prior, precision_weighted(_gaussian(h), prior)

    def prior_z1(self, z2: jax.Array) -> Gaussian:
        """p(z1 | z2): (mu, logvar) [B, z1_dim]."""
        return _gaussian(self.to_p_z1(z2))

    def decode(self, z1: jax.Array) -> jax.Array:
        """z1 [B, z1_dim] -> decoder output (the likelihood's parameters)."""
        return with_log_scale(self.decoder(z1), self.log_scale)

    def __call__(
        self, x: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, Gaussian, Gaussian, Gaussian]:
        """One ancestral sample of q: (out, q(z2|x), q(z1|x,z2), p(z1|z2)), each a (mu, logvar)."""
        key2, key1 = jax.random.split(key)
        h = self.features(x)
        q2 = self.posterior_z2(h)
        z2 = losses.reparameterize(*q2, key2)
        p1, q1 = self.conditionals(h, z2)
        z1 = losses.reparameterize(*q1, key1)
        return self.decode(z1), q2, q1, p1

    def log_weights(
        self, x: jax.Array, key: jax.Array, num_samples: int
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """log p(x|z1), log p(z1, z2), log q(z1, z2 | x), each [K, B], z ~ q (K samples)."""
        b, k = x.shape[0], num_samples
        key2, key1 = jax.random.split(key)
        h = self.features(x)
        mu2, logvar2 = self.posterior_z2(h)
        z2 = losses.reparameterize(mu2, logvar2, key2, k).reshape(k * b, -1)  # [K*B, z2]
        h_k = jnp.broadcast_to(h, (k, *h.shape)).reshape(k * b, -1)
        (mu1p, logvar1p), (mu1, logvar1) = self.conditionals(h_k, z2)
        z1 = losses.reparameterize(mu1, logvar1, key1)  # [K*B, z1]
        x_k = jnp.broadcast_to(x, (k, *x.shape)).reshape(k * b, *x.shape[1:])
        log_px_z = log_likelihood(x_k, self.decode(z1), self.likelihood)
        tile = lambda a: jnp.broadcast_to(a, (k, *a.shape)).reshape(k * b, -1)
        log_pz = _log_normal(z2, jnp.zeros_like(z2), jnp.zeros_like(z2))
        log_pz += _log_normal(z1, mu1p, logvar1p)
        log_qz_x = _log_normal(z2, tile(mu2), tile(logvar2)) + _log_normal(z1, mu1, logvar1)
        return tuple(v.reshape(k, b) for v in (log_px_z, log_pz, log_qz_x))

    def reconstruct(self, x: jax.Array) -> jax.Array:
        """Decoder mean images at z2 = E[q(z2|x)], z1 = E[q(z1|x, z2)]."""
        h = self.features(x)
        mu2, _ = self.posterior_z2(h)
        _, (mu1, _) = self.conditionals(h, mu2)
        return mean_image(self.decode(mu1), self.likelihood)

    def sample(self, key: jax.Array, n: int) -> jax.Array:
        """Ancestral samples z2 ~ p(z2), z1 ~ p(z1|z2), decoder mean images [n, H, W, C]."""
        key2, key1 = jax.random.split(key)
        z2 = jax.random.normal(key2, (n, self.z2_dim))
        z1 = losses.reparameterize(*self.prior_z1(z2), key1)
        return mean_image(self.decode(z1), self.likelihood)


def elbo_terms(
    model: HierarchicalVAE, params: PyTree, x: jax.Array, key: jax.Array
) -> dict[str, jax.Array]:
    """Per-example [B] terms {'recon': -log p(x|z1), 'kl1', 'kl2', 'kl': kl1 + kl2,
    'elbo': log p(x|z1) - kl} of one ancestral posterior sample, KLs analytic."""
    out, (mu2, logvar2), (mu1, logvar1), (mu1p, logvar1p) = model.apply({"params": params}, x, key)
    recon = -log_likelihood(x, out, model.likelihood)
    kl2 = losses.kl_standard_normal(mu2, logvar2)
    kl1 = losses.kl_diag_gaussians(mu1, logvar1, mu1p, logvar1p)
    kl = kl1 + kl2
    return {"recon": recon, "kl1": kl1, "kl2": kl2, "kl": kl, "elbo": -recon - kl}


def objective(
    model: HierarchicalVAE,
    params: PyTree,
    model_state: PyTree,
    batch: Batch,
    key: jax.Array,
    step: jax.Array | int,
    *,
    beta: float = 1.0,
    warmup_steps: int = 0,
) -> ObjectiveOutput:
    """Batch mean of -log p(x|z1) + beta(step) (KL1 + KL2) (see the module docstring), beta
    from `losses.beta_schedule` (warm-up keeps the top layer from collapsing early)."""
    terms = elbo_terms(model, params, batch["image"], key)
    beta_t = losses.beta_schedule(step, beta, warmup_steps)
    loss = terms["recon"] + beta_t * terms["kl"]
    metrics = {k: jnp.mean(v) for k, v in terms.items()}
    return jnp.mean(loss), ({**metrics, "beta": beta_t}, model_state)


def elbo(
    model: HierarchicalVAE, params: PyTree, x: jax.Array, key: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """(ELBO [B], terms): the beta = 1 bound in nats."""
    terms = elbo_terms(model, params, x, key)
    return terms["elbo"], terms


def iwae_log_weights(
    model: HierarchicalVAE, params: PyTree, x: jax.Array, key: jax.Array, num_samples: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """[K, B] log p(x|z1), log p(z1, z2), log q(z1, z2|x) for `losses.iwae_bound`."""
    return model.apply({"params": params}, x, key, num_samples, method=HierarchicalVAE.log_weights)


def reconstruct(model: HierarchicalVAE, params: PyTree, x: jax.Array) -> jax.Array:
    return model.apply({"params": params}, x, method=HierarchicalVAE.reconstruct)


def sample(model: HierarchicalVAE, params: PyTree, key: jax.Array, n: int) -> jax.Array:
    """n ancestral samples [n, H, W, C] in [-1, 1] (decoder means)."""
    return model.apply({"params": params}, key, n, method=HierarchicalVAE.sample)
