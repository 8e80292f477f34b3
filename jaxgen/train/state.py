"""TrainState: everything a step changes, as one pytree (checkpointed whole)."""

import functools
from typing import Any, Self

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax import lax
from jax.flatten_util import ravel_pytree

from jaxgen.data import DATA_AXIS
from jaxgen.models.types import PyTree


class TrainState(struct.PyTreeNode):
    """params, model_state (e.g. batch_stats), opt_state, EMA params, step and root key.

    `tx` is one optax transformation, or a dict {part: transformation} over the top-level
    keys of `params` for models trained by several optimizers (a GAN's 'generator' and
    'discriminator'); `apply_gradients(grads, part=...)` then updates that part alone, and
    `apply_gradients(grads)` each part by its own optimizer (two trainings in one loop).

    Gradient accumulation: with `grad_accum_steps` k > 1, `create` wraps `tx` in
    `optax.MultiSteps`, so each step is one micro-batch: k steps average their gradients,
    g = (1/k) sum_i g_i, and only the k-th applies `tx`'s update (the update of one batch k
    times larger, for a loss that is a mean over examples); the others leave params as they
    are. `step` counts micro-batches (batches drawn), `step // k` optimizer updates.

    Every optimizer runs on the raveled parameter vector (`optax.flatten`), and gradients
    are averaged over devices as one vector: per leaf, the optimizer's and the average's
    few element-wise operations were separate XLA kernels, hundreds for a small U-Net,
    whose compilation was about a third of a short run's time. `opt_state` holds flat
    vectors (an older run's per-leaf checkpoint restores for sampling only: `Checkpointer`).

    `compute_dtype`: the dtype `loss_step` computes the network's layers in (float32, or
    bfloat16 for mixed precision, see `jaxgen.train.precision`); params, EMA params and
    optimizer state stay float32 either way.
    """

    step: jax.Array  # [] int32, number of completed steps (micro-batches)
    params: Any
    model_state: Any
    opt_state: Any
    ema_params: Any
    key: jax.Array  # [2] uint32 root key of the run; step keys are fold_in(key, step)
    tx: Any = struct.field(pytree_node=False)
    ema_decay: float = struct.field(pytree_node=False, default=0.999)
    ema_warmup: bool = struct.field(pytree_node=False, default=True)
    grad_accum_steps: int = struct.field(pytree_node=False, default=1)
    compute_dtype: Any = struct.field(pytree_node=False, default=jnp.float32)

    @classmethod
    def create(
        cls,
        *,
        params: PyTree,
        tx: optax.GradientTransformation | dict[str, optax.GradientTransformation],
        key: jax.Array,
        model_state: PyTree | None = None,
        ema_decay: float = 0.999,
        ema_warmup: bool = True,
        grad_accum_steps: int = 1,
        compute_dtype: Any = jnp.float32,
    ) -> Self:
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}.")
        if grad_accum_steps < 1:
            raise ValueError(f"grad_accum_steps must be >= 1, got {grad_accum_steps}.")
        if grad_accum_steps > 1 and isinstance(tx, dict):
            raise ValueError(
                "Gradient accumulation needs one optimizer; a model trained by several "
                f"({', '.join(tx)}) takes grad_accum_steps=1."
            )
        if isinstance(tx, dict):
            tx = {part: flat_optimizer(t, 1) for part, t in tx.items()}
            missing = set(tx) - set(params)
            if missing:
                raise ValueError(f"Optimizers {sorted(missing)} name no top-level key of params.")
            opt_state = {part: t.init(params[part]) for part, t in tx.items()}
        else:
            tx = flat_optimizer(tx, grad_accum_steps)
            opt_state = tx.init(params)
        return cls(
            step=jnp.zeros((), jnp.int32),
            params=params,
            model_state={} if model_state is None else model_state,
            opt_state=opt_state,
            ema_params=jax.tree.map(jnp.copy, params),
            key=key,
            tx=tx,
            ema_decay=ema_decay,
            ema_warmup=ema_warmup,
            grad_accum_steps=grad_accum_steps,
            compute_dtype=compute_dtype,
        )

    def apply_gradients(
        self, grads: PyTree, *, part: str | None = None, model_state: PyTree | None = None
    ) -> Self:
        """One optimizer update with gradients averaged over the mesh's data axis.

        Call inside a step built by `build_step` (the pmean needs the 'data' axis). When `tx`
        is a dict, `part` names the sub-tree (and optimizer) that `grads` update; without
        `part`, `grads` holds every part and each is updated by its own optimizer.
        """
        grads = device_mean(grads)
        if isinstance(self.tx, dict):
            params, opt_state = dict(self.params), dict(self.opt_state)
            for name, g in (grads if part is None else {part: grads}).items():
                updates, opt_state[name] = self.tx[name].update(g, opt_state[name], params[name])
                params[name] = optax.apply_updates(params[name], updates)
        else:
            updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
            params = optax.apply_updates(self.params, updates)
        new = self.replace(params=params, opt_state=opt_state)
        return new if model_state is None else new.replace(model_state=model_state)


@functools.cache
def flat_optimizer(tx: optax.GradientTransformation, k: int) -> optax.GradientTransformation:
    """`tx` on the raveled parameters (optax.flatten), accumulating k micro-batches first
    (optax.MultiSteps) when k > 1; one object per (tx, k), so that states created apart
    (a fresh start and a restore target) have equal tree structures and share compilations."""
    if k > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=k).gradient_transformation()
    return optax.flatten(tx)


def device_mean(tree: PyTree) -> PyTree:
    """`tree` averaged over the mesh's data axis, as one raveled vector: one all-reduce and
    one division for the whole tree."""
    flat, unravel = ravel_pytree(tree)
    return unravel(lax.pmean(flat, DATA_AXIS))


def ema_decay_at(updates: jax.Array | int, decay: float, warmup: bool) -> jax.Array | float:
    """EMA decay after `updates` completed optimizer updates: min(decay, (1 + updates) /
    (10 + updates)) with warm-up (TensorFlow's ExponentialMovingAverage num_updates rule),
    else `decay`. The warm-up keeps short runs from averaging mostly the initial weights."""
    return jnp.minimum(decay, (1.0 + updates) / (10.0 + updates)) if warmup else decay


def ema_update(ema_params: PyTree, params: PyTree, decay: float | jax.Array) -> PyTree:
    """Exponential moving average: ema <- decay * ema + (1 - decay) * params."""
    return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema_params, params)
