"""The KL-regularised autoencoder of latent diffusion (models.ldm_autoencoder): latent grid
shapes at 8x8 and 28x28 (abstractly), the objective's KL term against the closed form of
the encoder's own posterior, the posterior noise, and bad image sizes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.models import ldm_autoencoder

from .family_helpers import fast_cpu_random  # noqa: F401  (an autouse fixture)

KEY = jax.random.PRNGKey(0)


@pytest.mark.parametrize(
    "image_shape, widths, latent_shape",
    [
        ((8, 8, 1), (8, 16), (2, 2, 4)),
        ((28, 28, 1), (8, 16), (7, 7, 4)),
        ((28, 28, 3), (8,), (14, 14, 4)),
    ],
)
def test_encode_decode_shapes(image_shape, widths, latent_shape):
    model = ldm_autoencoder.KLAutoencoder(image_shape, latent_channels=4, widths=widths)
    x = jnp.zeros((3, *image_shape))
    params = jax.eval_shape(model.init, KEY, x, KEY)["params"]
    mu, logvar = jax.eval_shape(lambda p: ldm_autoencoder.encode(model, p, x), params)
    assert mu.shape == logvar.shape == (3, *latent_shape)
    z = jnp.zeros((3, *latent_shape))
    images = jax.eval_shape(lambda p: ldm_autoencoder.decode(model, p, z), params)
    assert images.shape == x.shape
    x_recon, *_ = jax.eval_shape(lambda p: model.apply({"params": p}, x, KEY), params)
    assert x_recon.shape == x.shape


def test_objective_kl_is_the_closed_form_of_the_encoders_posterior():
    """The objective's KL term is 1/2 sum (sigma^2 + mu^2 - 1 - log sigma^2) of encode(x)'s
    (mu, logvar) over the 2x2x4 grid (numpy, float64); its recon term the summed L1 of the
    model's decoding; the loss recon + kl_weight * KL; decode clips to [-1, 1]; z is noisy."""
    model = ldm_autoencoder.KLAutoencoder((8, 8, 1), latent_channels=4, widths=(8, 16))
    x = jax.random.uniform(jax.random.PRNGKey(1), (5, 8, 8, 1), minval=-1.0, maxval=1.0)
    params = model.init(KEY, x, KEY)["params"]
    # Scale the last encoder conv so that mu and logvar are far from 0.
    conv = params["encoder"]["Conv_3"]
    params["encoder"]["Conv_3"] = {
        **conv,
        "kernel": 8.0 * conv["kernel"],
        "bias": conv["bias"] + 0.5,
    }
    key = jax.random.PRNGKey(2)
    objective = jax.jit(
        lambda p: ldm_autoencoder.objective(model, p, {}, {"image": x}, key, 0, kl_weight=0.1)
    )
    loss, (metrics, _) = objective(params)
    mu, logvar = (np.float64(v) for v in ldm_autoencoder.encode(model, params, x))
    kl = 0.5 * (np.exp(logvar) + mu**2 - 1.0 - logvar).sum(axis=(1, 2, 3))
    assert float(np.std(mu)) > 0.3 and float(np.std(logvar)) > 0.3
    np.testing.assert_allclose(metrics["kl"], kl.mean(), rtol=1e-4)
    x_recon, _, _ = model.apply({"params": params}, x, key)
    recon = np.abs(np.float64(x) - np.float64(x_recon)).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(metrics["recon"], recon.mean(), rtol=1e-4)
    np.testing.assert_allclose(loss, recon.mean() + 0.1 * kl.mean(), rtol=1e-4)
    # z ~ q(z|x), not mu: the decoding differs from the posterior mean's.
    x_mean = model.apply({"params": params}, mu, method=ldm_autoencoder.KLAutoencoder.decode)
    assert float(jnp.max(jnp.abs(x_recon - x_mean))) > 1e-3
    images = ldm_autoencoder.decode(model, params, 100.0 * jnp.ones((2, 2, 2, 4)))
    assert float(jnp.max(jnp.abs(images))) <= 1.0


def test_image_sizes_the_downsampling_cannot_halve_are_refused():
    with pytest.raises(ValueError, match=r"Image size 28x28 must be divisible by 2\^len"):
        ldm_autoencoder.KLAutoencoder((28, 28, 1), widths=(8, 16, 32))
