"""Spectral normalization against numpy's SVD, AdaIN's statistics, style mixing, edge maps,
standing batch-norm statistics."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.data import DATA_AXIS, paired
from jaxgen.models import gan, stylegan
from jaxgen.models.spectral_norm import COLLECTION, SpectralNorm, spectral_normalize
from jaxgen.train.gan import apply_net, standing_stats


def largest_singular_value(w):
    return np.linalg.svd(np.asarray(w).reshape(-1, w.shape[-1]), compute_uv=False)[0]


@pytest.mark.parametrize("shape", [(20, 10), (3, 3, 4, 8)])
def test_power_iteration_finds_the_largest_singular_value(shape):
    k_w, k_u = jax.random.split(jax.random.PRNGKey(0))
    w = jax.random.normal(k_w, shape)
    u = jax.random.normal(k_u, shape[-1:])
    w_sn, _, sigma = jax.jit(spectral_normalize, static_argnums=2)(w, u, 50)
    np.testing.assert_allclose(float(sigma), largest_singular_value(w), rtol=1e-4)
    np.testing.assert_allclose(largest_singular_value(w_sn), 1.0, rtol=1e-4)


def test_spectral_norm_wraps_dense_and_conv():
    """After enough training calls (one power-iteration step each), the weights the wrapped
    layers use have largest singular value 1."""

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, image, train):
            dense = SpectralNorm(nn.Dense(7, bias_init=nn.initializers.normal(1.0)))
            conv = SpectralNorm(nn.Conv(8, (3, 3)), n_power_iterations=5)
            return dense(x, update_stats=train), conv(image, update_stats=train)

    net = Net()
    eye, image = jnp.eye(12), jax.random.normal(jax.random.PRNGKey(1), (2, 5, 5, 4))
    variables = jax.jit(net.init, static_argnums=3)(jax.random.PRNGKey(0), eye, image, False)
    params, spectral = variables["params"], {COLLECTION: variables[COLLECTION]}
    update = jax.jit(
        lambda s: net.apply({"params": params, **s}, eye, image, True, mutable=[COLLECTION])
    )
    for _ in range(30):
        _, spectral = update(spectral)
    infer = jax.jit(lambda p, s: net.apply({"params": p, **s}, eye, image, False))
    dense_out, conv_out = infer(params, spectral)
    # Dense on the identity returns the rows of W_SN (plus the bias).
    w_sn = np.asarray(dense_out - params["Dense_0"]["bias"])
    np.testing.assert_allclose(largest_singular_value(w_sn), 1.0, rtol=1e-3)
    kernel = params["Conv_0"]["kernel"]
    sigma = largest_singular_value(kernel)
    np.testing.assert_allclose(
        float(spectral[COLLECTION]["SpectralNorm_1"]["sigma"]), sigma, rtol=1e-3
    )
    expected = nn.Conv(8, (3, 3)).apply(
        {"params": {"kernel": kernel / sigma, "bias": params["Conv_0"]["bias"]}}, image
    )
    np.testing.assert_allclose(conv_out, expected, rtol=1e-3, atol=1e-5)
    # Gradients reach the raw kernel through W / sigma(W).
    grads = jax.jit(jax.grad(lambda p: infer(p, spectral)[1].sum()))(params)
    assert float(jnp.abs(grads["Conv_0"]["kernel"]).sum()) > 0


def test_adain_output_has_the_style_statistics():
    k_x, k_s, k_b = jax.random.split(jax.random.PRNGKey(0), 3)
    x = 3.0 * jax.random.normal(k_x, (2, 6, 6, 5)) + 1.5  # [B, H, W, C]
    scale = jax.random.uniform(k_s, (2, 5), minval=0.5, maxval=2.0)  # sigma(w)
    bias = jax.random.normal(k_b, (2, 5))  # mu(w)
    y = stylegan.adain(x, scale, bias)
    np.testing.assert_allclose(jnp.mean(y, axis=(1, 2)), bias, atol=1e-5)
    np.testing.assert_allclose(jnp.std(y, axis=(1, 2)), scale, rtol=1e-4)


def test_mix_styles_takes_coarse_layers_from_the_first():
    w1, w2 = jnp.zeros((2, 6, 3)), jnp.ones((2, 6, 3))
    mixed = stylegan.mix_styles(w1, w2, jnp.array([2, 5]))
    np.testing.assert_array_equal(mixed[:, :, 0], [[0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1]])


def test_edge_map_numpy_and_jax_agree():
    images = np.full((1, 8, 8, 1), -1.0, np.float32)
    images[:, :, 4:] = 1.0  # a vertical step between columns 3 and 4
    edges = paired.edge_map(images)
    assert set(np.unique(edges)) == {-1.0, 1.0}
    np.testing.assert_array_equal(np.nonzero(edges[0, 0, :, 0] > 0)[0], [3, 4])
    np.testing.assert_array_equal(paired.edge_map(jnp.asarray(images), xp=jnp), edges)


def test_standing_stats_are_the_batch_statistics():
    """Inference with the standing statistics of a batch equals training-mode batch norm on
    that batch (pix2pix's test-time normalization; the EMA params' own statistics)."""
    generator = gan.Generator((8, 8, 1), (4, 8))
    z = jax.random.normal(jax.random.PRNGKey(0), (6, 3))
    key = jax.random.PRNGKey(1)

    @jax.jit
    def run(z):
        variables = generator.init(key, z, train=False)
        params, model_state = variables.pop("params"), dict(variables)
        stats = standing_stats(generator, params, model_state, z, key=key)
        inference = apply_net(generator, params, stats, z, key=key, train=False)[0]
        batch = jax.vmap(  # training mode over a size-1 'data' axis
            lambda z: apply_net(generator, params, model_state, z, key=key, train=True)[0],
            axis_name=DATA_AXIS,
        )(z[None])[0]
        return inference, batch

    inference, batch = run(z)
    np.testing.assert_allclose(inference, batch, atol=1e-5)
