"""Cascaded diffusion (jaxgen.models.cascade): the f x f means against scikit-image, the
bilinear upsampling of a constant, and noise conditioning augmentation against its closed
form through the upsampler's objective."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage.measure import block_reduce

from jaxgen.diffusion import make_schedule
from jaxgen.models import cascade, diffusion


def test_downsample_is_the_block_mean():
    x = np.random.default_rng(0).normal(size=(2, 12, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(
        cascade.downsample(x, 4), block_reduce(x, (1, 4, 4, 1), np.mean), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match="not divisible by factor 5"):
        cascade.downsample(x, 5)


def test_upsampler_input_stacks_x_t_and_the_upsampled_image():
    x_t, low = jnp.zeros((1, 8, 8, 1)), jnp.full((1, 4, 4, 1), 0.3)
    out = cascade.upsampler_input(x_t, low)
    assert out.shape == (1, 8, 8, 2)
    np.testing.assert_allclose(out[..., 1], 0.3, rtol=1e-6)  # a constant stays constant
    np.testing.assert_array_equal(out[..., 0], 0.0)


class Probe(nn.Module):
    """An 'upsampler' predicting eps = its low-resolution input channel (no parameters used
    but one, so that init works)."""

    @nn.compact
    def __call__(self, x, t, level):
        return x[..., 1:] + 0.0 * self.param("unused", nn.initializers.zeros, ())


@pytest.mark.parametrize("index", [0, 1])
def test_augmentation_noises_the_input_at_its_level(index):
    """With eps_pred = the augmented input low_a = sqrt(a) c + sqrt(1 - a) n for constant
    images c (factor 1: low = x_0), E||eps - low_a||^2 per pixel = 1 + a c^2 + 1 - a with
    a = alpha_bar at the level's index: wrong levels, wrong noise or the wrong channel fail."""
    schedule = make_schedule("linear", 1000)
    aug_steps = jnp.array([600]) if index == 0 else jnp.array([100, 900])[1:]
    c = 0.8
    batch = {"image": jnp.full((4096, 2, 2, 1), c)}
    params = {"unused": jnp.zeros(())}
    loss, _ = cascade.upsampler_objective(
        Probe(), schedule, aug_steps, 1, params, {}, batch, jax.random.key(index), 0
    )
    a = float(schedule.alpha_bar_t[int(aug_steps[0])])
    assert float(loss) == pytest.approx(1 + a * c**2 + 1 - a, rel=0.03)


@pytest.mark.parametrize("target", ["x0", "v"])
def test_upsample_draws_what_an_exact_predictor_says(target):
    """An upsampler that knows x_0 = up(low_a) and predicts its `target` exactly (x_0, or
    v = sqrt(ab) eps - sqrt(1 - ab) x_0 with eps from x_t) makes one step of deterministic
    DDIM (from t = T) land on up(low_a): the prediction is read as its target, not as eps
    (read as eps, both fail)."""
    schedule = make_schedule("linear", 1000)

    class Exact(nn.Module):
        @nn.compact
        def __call__(self, x, t, level):
            x_t, x0 = x[..., :1], x[..., 1:]
            ab = schedule.alpha_bar_t[t][:, None, None, None] + 0.0 * self.param(
                "unused", nn.initializers.zeros, ()
            )
            eps = (x_t - jnp.sqrt(ab) * x0) / jnp.sqrt(1 - ab)
            return x0 if target == "x0" else jnp.sqrt(ab) * eps - jnp.sqrt(1 - ab) * x0

    low = jax.random.uniform(jax.random.key(0), (2, 4, 4, 1), minval=-0.8, maxval=0.8)
    reverse = diffusion.reverse_process("ddim", schedule, num_steps=1, eta=0.0, variance="beta")
    out = cascade.upsample(Exact(), {"unused": jnp.zeros(())}, reverse, schedule,
                           jnp.array([0]), 0, 2, low, jax.random.key(1), target)  # fmt: skip
    # low_a at index 0 differs from low by noise of std sqrt(1 - alpha_bar_0) = 0.01
    np.testing.assert_allclose(out, cascade.bilinear(low, (8, 8)), atol=0.05)
