"""Static shape checks shared by the loss functions.

Shapes are Python tuples even under ``jit``/``vmap``, so these checks run at trace time and
raise before any computation starts.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def check_batched(fn: str, name: str, x: jax.Array, min_ndim: int = 1, layout: str = "[B, ...]"):
    """Raise ValueError unless ``x`` has at least ``min_ndim`` axes (axis 0 is the batch)."""
    if x.ndim < min_ndim:
        raise ValueError(
            f"{fn}: {name} has shape {tuple(x.shape)} but must have at least {min_ndim} "
            f"axes {layout}, with the batch on axis 0"
        )


def check_same_shape(fn: str, layout: str = "[B, ...]", **arrays: jax.Array):
    """Raise ValueError unless all ``arrays`` share one shape."""
    (first_name, first), *rest = arrays.items()
    for name, x in rest:
        if x.shape != first.shape:
            raise ValueError(
                f"{fn}: {first_name} shape {tuple(first.shape)} != {name} shape "
                f"{tuple(x.shape)}; {' and '.join(arrays)} must have the same shape {layout}"
            )


def check_broadcastable_to(fn: str, name: str, x: jax.Array, target_name: str, shape):
    """Raise ValueError unless ``x`` broadcasts to ``shape`` without changing it."""
    try:
        ok = jnp.broadcast_shapes(x.shape, tuple(shape)) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{fn}: {name} shape {tuple(x.shape)} does not broadcast to {target_name} shape "
            f"{tuple(shape)}; pass a scalar, an array of shape {tuple(shape)}, or one that "
            f"broadcasts to it"
        )


def check_kind(fn: str, kind: str, registry, name: str = "kind") -> None:
    """Raise ValueError for an unknown ``kind`` naming the valid choices."""
    if kind not in registry:
        raise ValueError(f"{fn}: unknown {name} {kind!r}; choose one of {sorted(registry)}")


def sum_per_example(x: jax.Array) -> jax.Array:
    """Sum over every axis but the batch axis 0: [B, ...] -> [B]."""
    return jnp.sum(x, axis=tuple(range(1, x.ndim)))


def mean_per_example(x: jax.Array) -> jax.Array:
    """Mean over every axis but the batch axis 0: [B, ...] -> [B]."""
    return jnp.mean(x, axis=tuple(range(1, x.ndim)))
