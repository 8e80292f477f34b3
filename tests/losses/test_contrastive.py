"""CLIP's symmetric InfoNCE against numpy and its properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from jaxgen.losses import clip_logits, clip_loss


def reference(image, text, t):
    u = image / np.linalg.norm(image, axis=1, keepdims=True)
    v = text / np.linalg.norm(text, axis=1, keepdims=True)
    logits = np.exp(t) * u @ v.T
    i2t = logsumexp(logits, axis=1) - np.diag(logits)
    t2i = logsumexp(logits, axis=0) - np.diag(logits)
    return (i2t + t2i) / 2, i2t, t2i


def test_matches_numpy():
    rng = np.random.default_rng(0)
    image, text, t = rng.normal(size=(6, 5)), rng.normal(size=(6, 5)), np.log(1 / 0.07)
    loss, terms = clip_loss(jnp.asarray(image), jnp.asarray(text), jnp.asarray(t))
    want, i2t, t2i = reference(image, text, t)
    np.testing.assert_allclose(loss, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(terms["image_to_text"], i2t, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(terms["text_to_image"], t2i, rtol=1e-5, atol=1e-5)


def test_properties():
    rng = np.random.default_rng(1)
    image, text = jnp.asarray(rng.normal(size=(8, 4))), jnp.asarray(rng.normal(size=(8, 4)))
    t = jnp.asarray(2.0)
    loss, terms = clip_loss(image, text, t)
    # symmetric: swapping images and texts swaps the two directions
    swapped, swapped_terms = clip_loss(text, image, t)
    np.testing.assert_allclose(swapped_terms["image_to_text"], terms["text_to_image"], rtol=1e-6)
    np.testing.assert_allclose(swapped, loss, rtol=1e-6)
    # only directions count: rescaling an embedding changes nothing
    np.testing.assert_allclose(clip_loss(3.0 * image, text, t)[0], loss, rtol=1e-5)
    # equal logits (t -> -inf): every pair costs log B
    np.testing.assert_allclose(clip_loss(image, text, jnp.asarray(-50.0))[0], np.log(8), rtol=1e-5)
    # matched pairs at a high temperature: loss -> 0, every image finds its text
    matched, matched_terms = clip_loss(image, image, jnp.asarray(np.log(100.0)))
    assert np.all(matched < 1e-3) and np.all(matched_terms["accuracy"] == 1)
    # the temperature gets a gradient
    grad = jax.grad(lambda t: clip_loss(image, text, t)[0].mean())(t)
    assert np.isfinite(grad) and grad != 0


def test_logits_are_the_scaled_cosines():
    image = jnp.array([[1.0, 0.0], [0.0, 2.0]])
    text = jnp.array([[3.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(
        clip_logits(image, text, jnp.log(10.0)),
        10 * np.array([[1, 0.5**0.5], [0, 0.5**0.5]]),
        rtol=1e-6,
    )


def test_shape_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"image_embeddings shape \(4, 3\) != text_embeddings"):
        clip_loss(jnp.ones((4, 3)), jnp.ones((4, 5)), jnp.asarray(0.0))
