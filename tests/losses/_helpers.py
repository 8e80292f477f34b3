"""Shared test helpers for jaxgen.losses."""

from __future__ import annotations

import jax
import numpy as np


def first(out):
    """The loss of a ``(loss, terms)`` pair, or the output itself."""
    return out[0] if isinstance(out, tuple) else out


def assert_per_example(fn, *args, rtol=1e-5, atol=1e-6):
    """``vmap`` of ``fn`` over single examples (batch axis re-added) equals the batched call.

    Shows both that ``fn`` works under ``vmap`` and that example b's value depends on example
    b's inputs only. Both sides are jitted (eager behaviour is covered by the chex variants).
    """
    batched = jax.jit(lambda *xs: first(fn(*xs)))(*args)
    per_example = jax.jit(jax.vmap(lambda *xs: first(fn(*(x[None] for x in xs)))[0]))(*args)
    np.testing.assert_allclose(per_example, batched, rtol=rtol, atol=atol)


def assert_finite(tree):
    for leaf in jax.tree_util.tree_leaves(tree):
        assert np.all(np.isfinite(np.asarray(leaf))), leaf
