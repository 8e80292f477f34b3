"""Tests for jaxgen.models.unet: shapes, finiteness and conditioning of the U-Net."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.models import unet

from .helpers import random_params


@pytest.mark.parametrize(
    "image_shape, width_mults, attention_resolutions, num_classes",
    [
        ((8, 8, 1), (1, 2), (4,), None),
        ((8, 8, 1), (1, 2), (4,), 10),
        ((28, 28, 1), (1, 2, 2, 2), (7,), 10),  # 28 -> 14 -> 7 -> 4 and back: odd sizes
        ((32, 32, 3), (1, 2), (16,), None),
    ],
)
def test_shapes_finiteness_and_conditioning(
    image_shape, width_mults, attention_resolutions, num_classes
):
    model = unet.UNet(
        width=16,
        width_mults=width_mults,
        num_res_blocks=1,
        attention_resolutions=attention_resolutions,
        attention_heads=2,
        norm_groups=8,
        num_classes=num_classes,
    )
    x = jax.random.normal(jax.random.key(0), (4, *image_shape))
    t = jnp.array([0, 1, 500, 999])
    y = None if num_classes is None else jnp.array([0, 3, 9, model.null_label])
    params = random_params(model, x, t, y)
    apply = jax.jit(lambda p, t, y: model.apply({"params": p}, x, t, y))
    out = apply(params, t, y)
    assert out.shape == x.shape and bool(jnp.all(jnp.isfinite(out)))
    assert float(jnp.abs(out - apply(params, t[::-1], y)).mean()) > 1e-3  # depends on t
    if num_classes is not None:
        assert float(jnp.abs(out - apply(params, t, y[::-1])).mean()) > 1e-3  # and on y


def test_labels_must_match_the_model():
    x, t = jnp.zeros((4, 8, 8, 1)), jnp.zeros(4, jnp.int32)
    kwargs = {"width": 16, "width_mults": (1,), "num_res_blocks": 1, "norm_groups": 8}
    with pytest.raises(ValueError, match="num_classes=None called with labels"):
        unet.UNet(**kwargs).init(jax.random.key(0), x, t, t)
    with pytest.raises(ValueError, match="num_classes=10 called with no labels"):
        unet.UNet(num_classes=10, **kwargs).init(jax.random.key(0), x, t)
    with pytest.raises(
        ValueError, match=r"x \[B, H, W, C\], t \[B\].*got x \(4, 8, 8, 1\), t \(3,\)"
    ):
        unet.UNet(**kwargs).init(jax.random.key(0), x, t[:3])
    with pytest.raises(ValueError, match="unconditional"):
        _ = unet.UNet(**kwargs).null_label


def test_sinusoidal_embedding():
    t = jnp.array([0, 1, 7])
    emb = unet.sinusoidal_embedding(t, 8)
    assert emb.shape == (3, 8)
    np.testing.assert_allclose(emb[0], [0, 0, 0, 0, 1, 1, 1, 1], atol=1e-7)
    # Frequencies 10000^(-i/3): 1 (first) to 1e-4 (last).
    np.testing.assert_allclose(emb[:, 0], np.sin([0.0, 1.0, 7.0]), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(emb[:, 3], np.sin(np.array([0.0, 1.0, 7.0]) * 1e-4), rtol=1e-4)
    with pytest.raises(ValueError, match="even and >= 4"):
        unet.sinusoidal_embedding(t, 7)


def context_unet(**kwargs):
    return unet.UNet(width=16, width_mults=(1, 2), num_res_blocks=1, attention_resolutions=(4,),
                     attention_heads=2, norm_groups=8, context=True, **kwargs)  # fmt: skip


def test_context_is_pooled_and_attended_as_a_set():
    """Imagen's conditioning: the output depends on the context y [B, M, D], per example, and
    not on the order of its places (mean pooling and attention without positions); a bug
    mixing places with examples or reading one place would fail."""
    model = context_unet()
    x, t = jax.random.normal(jax.random.key(0), (3, 8, 8, 1)), jnp.array([5, 50, 500])
    y = jax.random.normal(jax.random.key(1), (3, 5, 6))
    params = random_params(model, x, t, y)
    apply = jax.jit(lambda y: model.apply({"params": params}, x, t, y))
    out = apply(y)
    assert out.shape == x.shape
    np.testing.assert_allclose(apply(y[:, ::-1]), out, atol=2e-5)  # places are a set
    changed = apply(y.at[1, 2].add(1.0))  # one place of example 1
    np.testing.assert_array_equal(changed[0], out[0])
    np.testing.assert_array_equal(changed[2], out[2])
    assert float(jnp.abs(changed[1] - out[1]).mean()) > 1e-3
    assert model.null_label == 0.0


def test_context_and_out_channels_checks():
    x, t = jnp.zeros((2, 8, 8, 2)), jnp.zeros(2, jnp.int32)
    key, y = jax.random.key(0), jnp.ones((2, 3, 4))  # shapes only: traced, not compiled
    out = jax.eval_shape(context_unet(out_channels=1).init_with_output, key, x, t, y)
    assert out[0].shape == (2, 8, 8, 1)
    with pytest.raises(ValueError, match=r"y \[B, M, D\]"):
        jax.eval_shape(context_unet().init, key, x, t, t)
    with pytest.raises(ValueError, match="without y"):
        jax.eval_shape(context_unet().init, key, x, t)
    with pytest.raises(ValueError, match="not both"):
        jax.eval_shape(context_unet(num_classes=10).init, key, x, t, y)
