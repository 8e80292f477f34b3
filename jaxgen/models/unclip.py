"""DALL-E 2 / unCLIP (Ramesh et al. 2022): images from captions through CLIP's image
embedding space.

    prior:    z_i ~ p(z_i | y)   a diffusion model over the CLIP image embedding z_i [E] of an
              image, given its caption's CLIP text features y [L, D]; the network predicts
              z_i itself (x_0, the paper's sec. 2.1), a transformer (``Prior``)
    decoder:  x ~ p(x | z_i)     a diffusion U-Net conditioned on z_i (``unet.UNet`` with a
              context of one place, also pooled into its time embedding)

Both are classifier-free guided (their conditions dropped to zeros in training). The
embeddings the prior draws and the decoder reads are CLIP's unit vectors times sqrt(E)
(``scaled_embedding``): unit variance per component, the scale of a diffusion's data.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.diffusion import NoiseSchedule, eps_from_prediction
from jaxgen.models.transformer import Transformer
from jaxgen.models.types import PyTree
from jaxgen.models.unet import sinusoidal_embedding


def scaled_embedding(z: jax.Array) -> jax.Array:
    """sqrt(E) z / ||z|| per row of z [B, E]."""
    return jnp.sqrt(z.shape[-1]) * z / jnp.linalg.norm(z, axis=-1, keepdims=True)


class Prior(nn.Module):
    """f_theta(z_t [B, E], t [B], y [B, L, D]) -> the prediction of z_0 [B, E].

    A transformer (jaxgen.models.transformer, bidirectional) over L + 3 places: the text
    features Dense(y_l), the time embedding MLP(sinusoidal(t)), the noised embedding
    Dense(z_t) and a learned query, each with a learned position; the query's output,
    projected to E, is the prediction (unCLIP's decoder-only prior reads its last place).
    Conditional on a context like the context U-Net: y = 0 is the empty condition.
    """

    width: int
    depth: int
    num_heads: int
    num_classes = None  # the interface of jaxgen.models.diffusion: conditional on a context
    context = True

    @property
    def null_label(self) -> float:
        return 0.0

    @nn.compact
    def __call__(self, z_t: jax.Array, t: jax.Array, y: jax.Array) -> jax.Array:
        if z_t.ndim != 2 or y.ndim != 3 or not len(z_t) == len(t) == len(y):
            raise ValueError(
                f"Prior expects z_t [B, E], t [B] and y [B, L, D]; got z_t {z_t.shape}, "
                f"t {t.shape}, y {y.shape}."
            )
        d = self.width
        time = nn.Dense(d)(nn.swish(nn.Dense(d)(sinusoidal_embedding(t, d))))
        query = self.param("query", nn.initializers.normal(0.02), (1, 1, d))
        x = jnp.concatenate(
            [nn.Dense(d)(y), time[:, None], nn.Dense(d)(z_t)[:, None],
             jnp.broadcast_to(query, (len(z_t), 1, d))],
            axis=1,
        )  # fmt: skip
        x = x + self.param("positions", nn.initializers.normal(0.02), x.shape[1:])
        x = Transformer(self.depth, self.num_heads, name="transformer")(x)
        return nn.Dense(z_t.shape[-1], name="out")(x[:, -1])


def prior_eps_fn(
    prior: Prior, params: PyTree, schedule: NoiseSchedule
) -> Callable[[jax.Array, jax.Array, jax.Array], jax.Array]:
    """(z_t, t, y) -> eps: the prior's z_0 prediction as the noise prediction samplers take
    (``diffusion.eps_from_prediction``)."""

    def eps_fn(z_t, t, y):
        z_0 = prior.apply({"params": params}, z_t, t, y)
        return eps_from_prediction(schedule, "x0", z_t, t, z_0)

    return eps_fn
