"""The lectures' worked examples as tests: KL and entropy of p = (0.36, 0.48, 0.16) against
the uniform q (closed forms to 4 digits, on single distributions and batches), and the
convolution / transposed-convolution output sizes, checked against the layers themselves."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import losses
from jaxgen.models import conv

P = np.array([0.36, 0.48, 0.16])
Q = np.full(3, 1 / 3)


def test_kl_example_on_one_distribution_and_a_batch():
    assert float(losses.kl_divergence(P, Q)) == pytest.approx(0.0853, abs=5e-5)
    assert float(losses.kl_divergence(Q, P)) == pytest.approx(0.0975, abs=5e-5)
    assert losses.kl_divergence(P, Q).shape == ()  # one [K] -> a scalar
    np.testing.assert_allclose(
        losses.kl_divergence(np.stack([P, Q]), np.stack([Q, P])), [0.08530, 0.09746], atol=5e-5
    )


def test_entropy_example():
    assert float(losses.entropy(P)) == pytest.approx(1.0133, abs=5e-5)
    assert float(losses.entropy(Q)) == pytest.approx(math.log(3), rel=1e-6)  # the maximum
    # H(p, q) = H(p) + KL(p || q): cross-entropy against the uniform is log 3
    assert float(losses.entropy(P) + losses.kl_divergence(P, Q)) == pytest.approx(math.log(3))
    assert float(losses.js_divergence(P, P)) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize(
    "n, k, s, p, out",
    [(5, 3, 1, 0, 3), (5, 3, 2, 1, 3), (4, 3, 1, 0, 2), (28, 4, 2, 1, 14), (7, 3, 2, 1, 4)],
)
def test_conv_output_size_examples_match_the_layer(n, k, s, p, out):
    assert conv.conv_output_size(n, k, s, p) == out
    layer = nn.Conv(1, (k, k), strides=s, padding=[(p, p), (p, p)])
    y, _ = layer.init_with_output(jax.random.key(0), jnp.ones((1, n, n, 1)))
    assert y.shape[1:3] == (out, out)


@pytest.mark.parametrize("n, k, s, p, a", [(3, 3, 2, 1, 0), (3, 3, 2, 1, 1), (2, 3, 1, 0, 0),
                                           (14, 4, 2, 1, 0)])  # fmt: skip
def test_transposed_conv_size_inverts_the_strided_one(n, k, s, p, a):
    """The transposed convolution's output size is an input size its strided convolution
    maps back to n; the gradient of that convolution (its adjoint) has that size."""
    out = conv.conv_transpose_output_size(n, k, s, p, a)
    assert conv.conv_output_size(out, k, s, p) == n
    forward = lambda x: nn.Conv(1, (k, k), strides=s, padding=[(p, p)] * 2, use_bias=False).apply(  # noqa: E731
        {"params": {"kernel": jnp.ones((k, k, 1, 1))}}, x
    )
    _, vjp = jax.vjp(forward, jnp.ones((1, out, out, 1)))
    assert vjp(jnp.ones((1, n, n, 1)))[0].shape[1:3] == (out, out)
    with pytest.raises(ValueError, match="output_padding"):
        conv.conv_transpose_output_size(n, k, s, p, s)
