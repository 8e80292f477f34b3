"""jaxgen.models.conv: the CPU transposed convolution with a custom kernel gradient equals
lax.conv_transpose and its autodiff (forward bitwise, gradients to float64 round-off)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxgen.models import conv

# (input spatial shape, kernel, strides, padding)
CASES = [
    ((7, 7), (4, 4), (2, 2), "SAME"),  # DCGAN generator
    ((7, 7), (3, 3), (2, 2), "SAME"),  # conv VAE decoder
    ((5, 6), (3, 3), (2, 2), "VALID"),
    ((5, 5), (3, 2), (3, 2), ((2, 1), (0, 3))),
    ((4, 4), (5, 5), (2, 2), ((-1, 2), (1, -1))),  # negative padding crops
    ((9,), (4,), (2,), "SAME"),  # 1-D
    ((3, 3, 3), (2, 3, 2), (2, 1, 2), "SAME"),  # 3-D
]


def _inputs(spatial, kernel, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, *spatial, 4)).astype(dtype)
    k = rng.standard_normal((*kernel, 4, 5)).astype(dtype)
    return jnp.asarray(x), jnp.asarray(k)


def _grads(f, x, k):
    def loss(x, k):
        return jnp.sum(jnp.sin(f(x, k)) * jnp.arange(f(x, k).size).reshape(f(x, k).shape))

    return jax.grad(loss, argnums=(0, 1))(x, k)


@pytest.mark.parametrize("spatial,kernel,strides,padding", CASES)
def test_gradients_equal_autodiff_of_lax_conv_transpose_float64(spatial, kernel, strides, padding):
    with jax.enable_x64(True):
        x, k = _inputs(spatial, kernel, np.float64)

        def ours(x, k):
            return conv.conv_transpose(x, k, strides, padding)

        def ref(x, k):
            return lax.conv_transpose(x, k, strides, padding)

        np.testing.assert_array_equal(ours(x, k), ref(x, k))
        grads = jax.jit(_grads, static_argnums=0)
        for a, b in zip(grads(ours, x, k), grads(ref, x, k), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * float(jnp.abs(b).max()))


def test_float32_and_jit_and_nested_gradient():
    x, k = _inputs((7, 7), (4, 4), np.float32)
    ours = jax.jit(lambda x, k: conv.conv_transpose(x, k, (2, 2)))
    np.testing.assert_array_equal(ours(x, k), lax.conv_transpose(x, k, (2, 2), "SAME"))

    def penalty(f):  # reverse over reverse, as in gradient penalties
        def g(x):
            gk = jax.grad(lambda k: jnp.sum(f(x, k) ** 2))(k)
            return jnp.sum(gk**2)

        return jax.grad(g)(x)

    a = jax.jit(penalty, static_argnums=0)(lambda x, k: conv.conv_transpose(x, k, (2, 2)))
    b = jax.jit(penalty, static_argnums=0)(lambda x, k: lax.conv_transpose(x, k, (2, 2), "SAME"))
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4 * float(jnp.abs(b).max()))


def test_cpu_uses_the_custom_gradient():
    x, k = _inputs((7, 7), (4, 4), np.float32)
    jaxpr = str(jax.make_jaxpr(jax.grad(lambda k: conv.conv_transpose(x, k, (2, 2)).sum()))(k))
    assert "custom_vjp" in jaxpr
    hlo = jax.jit(jax.grad(lambda k: conv.conv_transpose(x, k, (2, 2)).sum())).lower(k)
    hlo = hlo.compile().as_text()
    assert "lhs_dilate" not in hlo  # the kernel gradient is a strided conv, not a dilated one


@pytest.mark.parametrize(
    "kwargs",
    [
        {"features": 6, "kernel_size": (4, 4), "strides": (2, 2)},
        {"features": 6, "kernel_size": (3, 3), "strides": 2, "padding": 1, "use_bias": False},
        {"features": 6, "kernel_size": (3, 3), "strides": (2, 2), "padding": "CIRCULAR"},
        {"features": 6, "kernel_size": (3, 3), "kernel_dilation": (2, 2)},
    ],
)
def test_module_is_a_drop_in_for_flax(kwargs):
    x, _ = _inputs((5, 5), (1, 1), np.float32)
    theirs, ours = nn.ConvTranspose(**kwargs), conv.ConvTranspose(**kwargs)
    params = theirs.init(jax.random.PRNGKey(0), x)
    same = jax.tree.map(np.array_equal, params, ours.init(jax.random.PRNGKey(0), x))
    assert all(jax.tree.leaves(same))
    np.testing.assert_array_equal(theirs.apply(params, x), ours.apply(params, x))
    grads = [jax.jit(lambda p, x, m=m: _grads(m.apply, p, x))(params, x) for m in (theirs, ours)]
    for a, b in zip(*map(jax.tree.leaves, grads), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.abs(a).max()))


@pytest.mark.parametrize("impl,custom", [("jaxgen", True), ("xla", False)])
def test_impl_context_switches_any_conv_transpose(impl, custom):
    x, _ = _inputs((5, 5), (1, 1), np.float32)
    reference = nn.ConvTranspose(6, (4, 4), strides=(2, 2))
    params = reference.init(jax.random.PRNGKey(0), x)
    for m in (reference, conv.ConvTranspose(6, (4, 4), strides=(2, 2))):
        with conv.conv_transpose_impl(impl):
            jaxpr = str(jax.make_jaxpr(jax.grad(lambda p, m=m: m.apply(p, x).sum()))(params))
            y = m.apply(params, x)
        assert ("custom_vjp" in jaxpr) == custom
        np.testing.assert_array_equal(y, reference.apply(params, x))
    with pytest.raises(ValueError, match="Unknown conv_transpose"), conv.conv_transpose_impl("x"):
        pass
