"""ProGAN: the fade-in identities (at alpha = 0 a grown network computes what the previous
level did), pixel normalization and the minibatch standard deviation against numpy, the
equalized learning rate against flax's convolution with the scaled kernel, the schedule."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxgen_experiments import progan as progan_experiment

from jaxgen.models import progan
from jaxgen.train import progan as progan_train

WIDTHS = (8, 8, 4)


@pytest.fixture(scope="module")
def nets():
    g, d = progan.Generator(WIDTHS, 1), progan.Discriminator(WIDTHS)
    params = progan_train.init(g, d, jax.random.key(0), 6, 1)[0]
    return g, d, params


def test_grown_generator_at_alpha_0_is_the_previous_level_upsampled(nets):
    g, _, params = nets
    z = jax.random.normal(jax.random.key(1), (3, 6))
    apply = lambda alpha, level: g.apply({"params": params["generator"]}, z, alpha, level)  # noqa: E731
    for level in (1, 2):
        previous = apply(jnp.float32(1.0), level - 1)
        np.testing.assert_allclose(apply(jnp.float32(0.0), level), progan.up(previous), atol=1e-6)
        assert apply(jnp.float32(1.0), level).shape == (3, 4 * 2**level, 4 * 2**level, 1)
        assert float(jnp.abs(apply(jnp.float32(0.5), level) - progan.up(previous)).max()) > 1e-4


def test_grown_discriminator_at_alpha_0_is_the_previous_level_on_the_downsampled_image(nets):
    _, d, params = nets
    x = jax.random.normal(jax.random.key(2), (3, 16, 16, 1))
    apply = lambda x, alpha, level: d.apply({"params": params["discriminator"]}, x, alpha, level)  # noqa: E731
    np.testing.assert_allclose(
        apply(x, jnp.float32(0.0), 2),
        apply(progan.down(x), jnp.float32(1.0), 1),
        rtol=1e-5,
        atol=1e-6,
    )
    assert apply(x, jnp.float32(1.0), 2).shape == (3,)


def test_pixel_norm_and_minibatch_stddev_against_numpy():
    x = np.random.default_rng(0).normal(size=(4, 3, 3, 5)).astype(np.float32)
    normed = np.asarray(progan.pixel_norm(jnp.asarray(x)))
    np.testing.assert_allclose((normed**2).mean(axis=-1), 1.0, rtol=1e-5)
    out = np.asarray(progan.minibatch_stddev(jnp.asarray(x)))
    assert out.shape == (4, 3, 3, 6)
    np.testing.assert_allclose(out[..., :5], x)
    np.testing.assert_allclose(out[..., 5], np.sqrt(x.var(axis=0) + 1e-8).mean(), rtol=1e-5)


def test_equalized_conv_is_the_conv_of_the_scaled_kernel():
    layer = progan.EqualizedConv(4, kernel_size=3)
    x = jax.random.normal(jax.random.key(3), (2, 5, 5, 3))
    params = layer.init(jax.random.key(4), x)["params"]
    assert abs(float(jnp.std(params["kernel"])) - 1.0) < 0.3  # stored at unit variance
    scaled = {"kernel": params["kernel"] * math.sqrt(2.0) / math.sqrt(27), "bias": params["bias"]}
    np.testing.assert_allclose(
        layer.apply({"params": params}, x), nn.Conv(4, (3, 3)).apply({"params": scaled}, x),
        rtol=1e-5, atol=1e-5,
    )  # fmt: skip


def test_schedule_of_levels_and_fade_ins():
    steps = jnp.array([0, 9, 10, 15, 20, 29, 30, 35, 40, 60])
    level, alpha = progan_train.schedule(steps, 10, 3)
    np.testing.assert_array_equal(level, [0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    np.testing.assert_allclose(alpha, [1, 1, 0, 0.5, 1, 1, 0, 0.5, 1, 1])


def test_padding_must_fit_the_last_level():
    c = progan_experiment.get_config("cpu")
    assert progan_experiment.padding(c) == 2  # 28 -> 32
    c.model.widths = (8, 8, 8)  # 16x16 cannot hold 28x28
    with pytest.raises(ValueError, match="add levels"):
        progan_experiment.make_task(c)
