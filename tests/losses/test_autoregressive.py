"""Likelihoods of autoregressive models and flows: the 256-way softmax and PixelCNN++'s
discretized logistic mixture against numpy/scipy references and their normalisation over
every value of a pixel, uniform dequantization, and the change-of-variables formula against
scipy's Gaussian density."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from jaxgen import data, losses

from ._helpers import assert_per_example

KEY = jax.random.PRNGKey(0)


def test_pixel_bins_round_trip_every_8bit_level():
    levels = np.arange(256, dtype=np.uint8)
    x = data.to_float(levels)  # the pipeline's map x / 127.5 - 1
    np.testing.assert_array_equal(losses.pixel_bins(x), levels)
    np.testing.assert_allclose(losses.bins_to_pixels(levels), x, atol=2e-7)  # within 1 ulp
    assert float(losses.bins_to_pixels(255)) == 1.0 and float(losses.bins_to_pixels(0)) == -1.0


def test_categorical_log_likelihood_matches_scipy_log_softmax():
    rng = np.random.default_rng(0)
    x = data.to_float(rng.integers(0, 256, (3, 4, 4, 2)).astype(np.uint8))
    logits = rng.normal(0.0, 3.0, (3, 4, 4, 2, 256)).astype(np.float32)
    k = np.round((x + 1.0) * 127.5).astype(int)
    log_p = special.log_softmax(logits.astype(np.float64), axis=-1)
    expected = np.take_along_axis(log_p, k[..., None], -1)[..., 0].sum(axis=(1, 2, 3))
    got = jax.jit(losses.categorical_log_likelihood)(x, logits)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert_per_example(losses.categorical_log_likelihood, x, logits)
    with pytest.raises(ValueError, match="logits shape .* must be x shape"):
        losses.categorical_log_likelihood(x, logits[..., 0])


def logistic_mixture_reference(x, logit_probs, means, log_scales, coeffs, num_bins):
    """float64 numpy: sum_i log sum_k pi_k prod_c [sigma(.. + h) - sigma(.. - h)] with the
    edge bins' tails, means shifted by sum_{j<c} a_kcj x_j."""
    h = 1.0 / (num_bins - 1)
    num_channels = x.shape[-1]
    means = means.astype(np.float64).copy()
    rows, cols = np.tril_indices(num_channels, -1)
    for n, (c, j) in enumerate(zip(rows, cols, strict=True)):
        means[..., c] += coeffs[..., n] * x[..., None, j]
    s = np.exp(log_scales.astype(np.float64))
    xk = x[..., None, :]
    upper = np.where(xk > 1 - h / 2, 1.0, special.expit((xk + h - means) / s))
    lower = np.where(xk < -1 + h / 2, 0.0, special.expit((xk - h - means) / s))
    log_mix = special.log_softmax(logit_probs, -1) + np.log(upper - lower).sum(-1)
    return special.logsumexp(log_mix, axis=-1).sum(axis=(1, 2))


def mixture_inputs(rng, shape, num_mixtures, num_channels, num_bins=256):
    b, hh, w = shape
    x = rng.integers(0, num_bins, (b, hh, w, num_channels)) / (0.5 * (num_bins - 1)) - 1.0
    mix = (b, hh, w, num_mixtures)
    return (
        x.astype(np.float32),
        rng.normal(size=mix).astype(np.float32),
        rng.uniform(-0.8, 0.8, (*mix, num_channels)).astype(np.float32),
        rng.uniform(-3.0, -1.0, (*mix, num_channels)).astype(np.float32),
        np.tanh(rng.normal(size=(*mix, num_channels * (num_channels - 1) // 2))).astype(np.float32),
    )


@pytest.mark.parametrize("num_channels", [1, 3])
def test_logistic_mixture_matches_numpy_reference(num_channels):
    x, logit_probs, means, log_scales, coeffs = mixture_inputs(
        np.random.default_rng(num_channels), (2, 3, 3), 4, num_channels
    )
    fn = jax.jit(losses.discretized_logistic_mixture_log_likelihood, static_argnames="num_bins")
    got = fn(x, logit_probs, means, log_scales, coeffs if num_channels > 1 else None)
    expected = logistic_mixture_reference(x, logit_probs, means, log_scales, coeffs, 256)
    np.testing.assert_allclose(got, expected, rtol=2e-5)


def test_logistic_mixture_sums_to_one_over_every_value_of_a_pixel():
    """RGB with 5 levels per channel: sum over the 125 colours of p(x) = 1 (channel coupling
    included), so the mixture is a distribution over the discrete values."""
    num_bins, num_mixtures = 5, 3
    _, logit_probs, means, log_scales, coeffs = mixture_inputs(
        np.random.default_rng(1), (1, 1, 1), num_mixtures, 3
    )
    colours = np.array(list(itertools.product(range(num_bins), repeat=3)))
    x = (colours / (0.5 * (num_bins - 1)) - 1.0).reshape(-1, 1, 1, 3).astype(np.float32)
    tile = lambda a: np.broadcast_to(a, (len(x), *a.shape[1:]))
    fn = jax.jit(losses.discretized_logistic_mixture_log_likelihood, static_argnames="num_bins")
    ll = fn(x, tile(logit_probs), tile(means), tile(log_scales), tile(coeffs), num_bins=num_bins)
    assert float(jnp.sum(jnp.exp(ll))) == pytest.approx(1.0, abs=1e-5)


def test_logistic_mixture_shape_errors_name_the_fix():
    x, logit_probs, means, log_scales, coeffs = mixture_inputs(
        np.random.default_rng(2), (1, 2, 2), 2, 3
    )
    fn = losses.discretized_logistic_mixture_log_likelihood
    with pytest.raises(ValueError, match="3 channels need coeffs of shape"):
        fn(x, logit_probs, means, log_scales)
    with pytest.raises(ValueError, match=r"expected \[B, H, W, K\] and \[B, H, W, K, C\]"):
        fn(x, logit_probs[..., :1], means, log_scales, coeffs)


def test_uniform_dequantize_stays_in_each_bin():
    x = data.to_float(np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1))
    y = jax.jit(losses.uniform_dequantize)(np.repeat(x, 64, axis=0), KEY)
    noise = np.asarray(y) - x
    h = 1.0 / 255.0
    assert noise.min() >= -h * (1 + 1e-5) and noise.max() < h * (1 + 1e-5)
    assert abs(noise.mean()) < 0.02 * h and noise.std() == pytest.approx(h / np.sqrt(3), rel=0.02)
    levels = np.broadcast_to(np.arange(256), (64, 256)).reshape(y.shape)
    np.testing.assert_array_equal(jax.jit(losses.pixel_bins)(y), levels)


def test_uniform_dequantize_uses_the_datasets_own_levels():
    """digits: v = 0..16 stored as round(v 255 / 16); with L = 17 each value is spread over
    its bin [-1 + (2v - 1) / 16, -1 + (2v + 1) / 16), of width 2 / (L - 1)."""
    v = np.arange(17)
    x = data.to_float(np.round(v * 255 / 16).astype(np.uint8)).reshape(17, 1)
    y = np.asarray(jax.jit(losses.uniform_dequantize, static_argnums=2)(np.tile(x, 500), KEY, 17))
    centre = (-1.0 + v / 8.0)[:, None]
    assert np.all(np.abs(y - centre) <= 1 / 16 + 1e-6)
    assert np.abs(y - centre).max() > 0.95 / 16  # the whole bin is used


def test_flow_log_likelihood_of_an_affine_flow_is_the_gaussian_density():
    """z = a x + b with a ~ U(0.5, 2): log N(z; 0, I) + sum log a = log N(x; -b/a, 1/a^2)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)
    a = rng.uniform(0.5, 2.0, (3, 3, 2)).astype(np.float32)
    b = rng.normal(size=(3, 3, 2)).astype(np.float32)
    logdet = np.full(4, np.log(a).sum(), np.float32)
    got = jax.jit(losses.flow_log_likelihood)(a * x + b, logdet)
    expected = stats.norm(-b / a, 1.0 / a).logpdf(x).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="pass one log-determinant per example"):
        losses.flow_log_likelihood(x, logdet[:2])
