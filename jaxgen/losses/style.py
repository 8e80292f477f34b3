"""Neural style transfer losses: Gram matrix, style and content losses, total variation.

Feature maps are channels-last, [B, H, W, C] (any number of spatial axes works for the
Gram matrix). Losses are per example, shape [B].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxgen.losses._checks import check_batched, check_same_shape, sum_per_example


def gram_matrix(features: jax.Array) -> jax.Array:
    """Gram matrix of feature maps, normalised by the number of spatial positions.

    G_ij = 1/M sum_k F_ik F_jk,  F the [M, C] matrix of one example's features,
    M = H * W (Gatys, Ecker & Bethge 2016, "Image Style Transfer Using Convolutional
    Neural Networks", eq. 3, divided by M so images of different sizes compare).

    Args:
      features: [B, H, W, C] (or [B, ..., C]).

    Returns:
      [B, C, C].
    """
    features = jnp.asarray(features)
    check_batched("gram_matrix", "features", features, min_ndim=3, layout="[B, H, W, C]")
    flat = features.reshape(features.shape[0], -1, features.shape[-1])  # [B, M, C]
    gram = jnp.einsum("bmi,bmj->bij", flat, flat, precision=lax.Precision.HIGHEST)
    return gram / flat.shape[1]


def _as_named(fn: str, name: str, layers) -> dict[str, jax.Array]:
    if isinstance(layers, Mapping):
        return {str(k): jnp.asarray(v) for k, v in layers.items()}
    if isinstance(layers, Sequence):
        return {str(i): jnp.asarray(v) for i, v in enumerate(layers)}
    raise ValueError(f"{fn}: {name} must be a list or dict of per-layer arrays")


def style_loss(
    features: Sequence[jax.Array] | Mapping[str, jax.Array],
    target_grams: Sequence[jax.Array] | Mapping[str, jax.Array],
    weights: Sequence[float] | Mapping[str, float] | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Style loss of neural style transfer, a weighted sum over layers.

    E_l = 1 / (4 C_l^2) sum_ij (G^l_ij - A^l_ij)^2,   L_style = sum_l w_l E_l,
    with G^l, A^l the (1/M-normalised) Gram matrices of the generated and style images
    (Gatys et al. 2016, eqs. 4-5: E_l = 1 / (4 N_l^2 M_l^2) sum (G - A)^2 with unnormalised
    Grams, identical when both images have M_l positions).

    Args:
      features: per-layer feature maps [B, H_l, W_l, C_l] of the generated images, a list
        or a dict keyed by layer name.
      target_grams: per-layer ``gram_matrix`` of the style image(s), [B or 1, C_l, C_l],
        matching ``features`` in length or keys (compute once, outside the loop).
      weights: per-layer w_l; default 1 / L for each of the L layers (Gatys et al.).

    Returns:
      loss: [B].
      terms: {layer name or index: [B] E_l}.
    """
    fn = "style_loss"
    features = _as_named(fn, "features", features)
    target_grams = _as_named(fn, "target_grams", target_grams)
    if list(features) != list(target_grams) or not features:
        raise ValueError(
            f"{fn}: features layers {list(features)} and target_grams layers "
            f"{list(target_grams)} must match and be non-empty"
        )
    if weights is None:
        weights = {name: 1.0 / len(features) for name in features}
    elif not isinstance(weights, Mapping):
        weights = {str(i): w for i, w in enumerate(weights)}
    if sorted(weights) != sorted(features):
        raise ValueError(f"{fn}: weights layers {list(weights)} != features {list(features)}")
    terms = {}
    for name, feats in features.items():
        gram = gram_matrix(feats)  # [B, C, C]
        target = target_grams[name]
        batch_ok = target.ndim == 3 and target.shape[0] in (1, gram.shape[0])
        if not batch_ok or target.shape[1:] != gram.shape[1:]:
            raise ValueError(
                f"{fn}: layer {name}: target_grams shape {tuple(target.shape)} does not match "
                f"the Gram matrix {tuple(gram.shape)} of features {tuple(feats.shape)}; "
                f"expected [B or 1, C, C] with C = {gram.shape[-1]}"
            )
        channels = gram.shape[-1]
        terms[name] = sum_per_example(jnp.square(gram - target)) / (4.0 * channels**2)
    loss = sum(weights[name] * e for name, e in terms.items())
    return loss, terms


def content_loss(features: jax.Array, target_features: jax.Array) -> jax.Array:
    """Content loss of neural style transfer at one layer.

    L_content = 1/2 sum_ij (F^l_ij - P^l_ij)^2
    (Gatys et al. 2016, eq. 1), F^l the generated image's and P^l the content image's
    features.

    Args:
      features: [B, H, W, C] features of the generated images.
      target_features: [B, H, W, C] features of the content images, the same shape.

    Returns:
      [B] summed over the non-batch axes.
    """
    features, target_features = jnp.asarray(features), jnp.asarray(target_features)
    check_batched("content_loss", "features", features)
    check_same_shape("content_loss", features=features, target_features=target_features)
    return 0.5 * sum_per_example(jnp.square(features - target_features))  # [B]


def total_variation(x: jax.Array) -> jax.Array:
    """Anisotropic total variation of images, a smoothness prior.

    TV(x) = sum_{i,j,c} |x_{i+1,j,c} - x_{i,j,c}| + |x_{i,j+1,c} - x_{i,j,c}|
    (Rudin, Osher & Fatemi 1992; the image regulariser of Mahendran & Vedaldi 2015 and
    Johnson et al. 2016; equals ``tf.image.total_variation``).

    Args:
      x: [B, H, W, C] images.

    Returns:
      [B] summed over the non-batch axes.
    """
    x = jnp.asarray(x)
    if x.ndim != 4:
        raise ValueError(
            f"total_variation: x has shape {tuple(x.shape)}; expected images [B, H, W, C]"
        )
    d_h = jnp.abs(x[:, 1:] - x[:, :-1])  # [B, H-1, W, C]
    d_w = jnp.abs(x[:, :, 1:] - x[:, :, :-1])  # [B, H, W-1, C]
    return sum_per_example(d_h) + sum_per_example(d_w)  # [B]
