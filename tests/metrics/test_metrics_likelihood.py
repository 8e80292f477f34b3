"""Bits per dimension."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.metrics import (
    SCALE_0_1,
    SCALE_8BIT,
    SCALE_MINUS1_1,
    bits_per_dim,
    nll_to_bits_per_dim,
)

D = 3 * 32 * 32


def test_bits_per_dim_by_hand():
    assert bits_per_dim(D * math.log(2) * 3.5, D) == pytest.approx(3.5)


def test_uniform_models_by_hand():
    # A uniform discrete model over 256 values needs 8 bits/dim; a uniform density over
    # the continuous image of {0..255}, of width 255 pixel units, log2(255).
    assert nll_to_bits_per_dim(-D * math.log(256), D, data_scale=SCALE_8BIT) == pytest.approx(8.0)
    uniform_on_minus1_1 = -D * math.log(2.0)  # density 2^{-D} on [-1, 1]^D
    assert nll_to_bits_per_dim(uniform_on_minus1_1, D, data_scale=SCALE_MINUS1_1) == pytest.approx(
        math.log2(255)
    )
    assert nll_to_bits_per_dim(0.0, D, data_scale=SCALE_0_1) == pytest.approx(math.log2(255))


def test_change_of_variables_term_under_jit():
    log_likelihood = jnp.array([-1000.0, 2000.0])  # [B]
    got = jax.jit(lambda ll: nll_to_bits_per_dim(ll, D, data_scale=127.5))(log_likelihood)
    want = (np.array([1000.0, -2000.0]) + D * np.log(127.5)) / (D * np.log(2))
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_nonpositive_scale_raises():
    with pytest.raises(ValueError, match="data_scale"):
        nll_to_bits_per_dim(-1.0, D, data_scale=0.0)
