"""Mixed-precision training (Micikevicius et al. 2018) in bfloat16.

The params, EMA params and optimizer state stay float32 (the "master weights"); inside the
loss the params are cast to the compute dtype and every flax module call gets its floating
inputs in that dtype, so the network's layers run forward and backward in bfloat16; what
the outermost module returns, and the loss, metrics and model state of the objective, come
back float32. Gradients with respect to the float32 params are float32 (the cast's
transpose casts them back). bfloat16 keeps float32's 8 exponent bits, so unlike float16 it
needs no loss scaling.
"""

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

PRECISIONS = {"fp32": jnp.float32, "bf16": jnp.bfloat16}  # train.precision -> compute dtype


def cast_floating(tree: Any, dtype: Any) -> Any:
    """`tree` with its floating-point leaves cast to `dtype` (integers, keys, bools kept)."""

    def cast(x):
        return x.astype(dtype) if jnp.issubdtype(jnp.result_type(x), jnp.floating) else x

    return jax.tree.map(cast, tree)


def mixed_precision(fn: Callable, compute_dtype: Any) -> Callable:
    """`fn(params, *args)` computed in `compute_dtype`: params cast to it, every flax module
    call's floating arguments cast to it, the outermost module call's outputs and `fn`'s
    outputs cast to float32 (module docstring). `fn` itself for float32."""
    if jnp.dtype(compute_dtype) == jnp.float32:
        return fn
    depth = 0  # nesting of flax module calls: 0 outside the outermost one

    def interceptor(next_fun, args, kwargs, context):
        nonlocal depth
        depth += 1
        try:
            args, kwargs = cast_floating((args, kwargs), compute_dtype)
            out = next_fun(*args, **kwargs)
        finally:
            depth -= 1
        return cast_floating(out, jnp.float32) if depth == 0 else out

    @functools.wraps(fn)
    def wrapped(params, *args, **kwargs):
        with nn.intercept_methods(interceptor):
            out = fn(cast_floating(params, compute_dtype), *args, **kwargs)
        return cast_floating(out, jnp.float32)

    return wrapped
