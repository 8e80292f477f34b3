"""Tests for jaxgen.losses.autoencoder."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.losses import (
    denoising_loss,
    gaussian_corruption,
    masking_corruption,
    reconstruction_mse,
)

from ._helpers import assert_per_example


class AutoencoderTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.x = rng.uniform(-1, 1, size=(4, 8, 8, 1)).astype(np.float32)
        self.x_recon = rng.uniform(-1, 1, size=(4, 8, 8, 1)).astype(np.float32)

    @chex.variants(with_jit=True, without_jit=True)
    def test_reconstruction_mse_matches_numpy(self):
        diff = np.float64(self.x) - np.float64(self.x_recon)
        expected = (diff**2).reshape(4, -1).mean(-1)
        got = self.variant(reconstruction_mse)(self.x, self.x_recon)
        np.testing.assert_allclose(got, expected, rtol=1e-5)
        assert_per_example(reconstruction_mse, self.x, self.x_recon)

    def test_reconstruction_mse_gradient(self):
        grad = jax.grad(lambda r: reconstruction_mse(self.x, r).sum())(self.x_recon)
        np.testing.assert_allclose(grad, 2 * (self.x_recon - self.x) / 64, rtol=1e-5)

    def test_gaussian_corruption_statistics(self):
        x = jnp.full((8, 32, 32, 1), 0.5)
        noise = gaussian_corruption(x, jax.random.key(0), sigma=0.3) - x
        n = noise.size
        assert abs(float(noise.mean())) < 5 * 0.3 / np.sqrt(n)
        assert abs(float(noise.std()) - 0.3) < 5 * 0.3 / np.sqrt(2 * n)

    def test_masking_corruption(self):
        x = jnp.asarray(np.random.default_rng(1).uniform(0.5, 1.0, size=(8, 32, 32, 1)))
        x_tilde = masking_corruption(x, jax.random.key(1), drop_prob=0.3)
        dropped = x_tilde == 0
        np.testing.assert_array_equal(x_tilde[~dropped], x[~dropped])  # kept values unscaled
        n = x.size
        assert abs(float(dropped.mean()) - 0.3) < 5 * np.sqrt(0.3 * 0.7 / n)

    @chex.variants(with_jit=True, without_jit=True)
    def test_denoising_loss_targets_the_clean_input(self):
        # With the identity "autoencoder" the loss is the corruption's MSE: sigma^2 for
        # Gaussian noise, drop_prob * x^2 for masking; zero would mean the target was x_tilde.
        x = jnp.full((2, 64, 64, 1), 0.5)
        identity = lambda x_tilde: x_tilde
        gauss = self.variant(
            lambda x, k: denoising_loss(
                identity, x, k, functools.partial(gaussian_corruption, sigma=0.2)
            )
        )(x, jax.random.key(2))
        n = 64 * 64  # per example
        np.testing.assert_array_less(np.abs(gauss - 0.04), 5 * 0.04 * np.sqrt(2 / n))
        masked = self.variant(
            lambda x, k: denoising_loss(
                identity, x, k, functools.partial(masking_corruption, drop_prob=0.5)
            )
        )(x, jax.random.key(3))
        np.testing.assert_array_less(np.abs(masked - 0.125), 5 * 0.25 * np.sqrt(0.25 / n))

    def test_denoising_loss_gradient_reaches_the_model(self):
        # reconstruct = a * x_tilde; d/da mean((a x_tilde - x)^2) = 2 mean((a x_tilde - x) x_tilde)
        key = jax.random.key(4)
        corrupt = functools.partial(gaussian_corruption, sigma=0.1)
        x_tilde = corrupt(jnp.asarray(self.x), key)
        loss = lambda a: denoising_loss(lambda xt: a * xt, self.x, key, corrupt).sum()
        grad = jax.jit(jax.grad(loss))(0.7)
        expected = (2 * (0.7 * x_tilde - self.x) * x_tilde).reshape(4, -1).mean(-1).sum()
        np.testing.assert_allclose(grad, expected, rtol=1e-4)

    def test_vmap_over_keys(self):
        keys = jax.random.split(jax.random.key(5), 3)
        corrupt = functools.partial(masking_corruption, drop_prob=0.5)
        losses = jax.jit(jax.vmap(lambda k: denoising_loss(lambda xt: xt, self.x, k, corrupt)))(
            keys
        )
        assert losses.shape == (3, 4)
        assert not np.allclose(losses[0], losses[1])  # independent corruption per key

    def test_shape_error(self):
        with pytest.raises(ValueError, match=r"x shape \(4, 8\) != x_recon shape \(4, 9\)"):
            reconstruction_mse(jnp.zeros((4, 8)), jnp.zeros((4, 9)))
