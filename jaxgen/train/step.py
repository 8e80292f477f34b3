"""Turns a per-device step into a jitted, data-parallel step over the 'data' mesh axis."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from jaxgen.data import DATA_AXIS
from jaxgen.models.types import Batch, Metrics, ObjectiveOutput, PyTree
from jaxgen.train.precision import mixed_precision
from jaxgen.train.state import TrainState, ema_decay_at, ema_update

# step(state, batch, key) -> (state, metrics) on one device's slice of the batch
Step = Callable[[TrainState, Batch, jax.Array], tuple[TrainState, Metrics]]
# objective(params, model_state, batch, key, step) -> (loss, (metrics, model_state))
Objective = Callable[[PyTree, PyTree, Batch, jax.Array, jax.Array], ObjectiveOutput]


def step_key(root_key: jax.Array, step: jax.Array | int) -> jax.Array:
    """Key of one step on one device: fold_in(fold_in(root, step), axis_index('data'))."""
    return jax.random.fold_in(jax.random.fold_in(root_key, step), lax.axis_index(DATA_AXIS))


def global_norm(tree: PyTree) -> jax.Array:
    """||tree||_2 over all leaves, of the raveled tree (one reduction, not one per leaf)."""
    return jnp.linalg.norm(ravel_pytree(tree)[0])


def leaf_norms(tree: PyTree) -> jax.Array:
    """[L] L2 norm of each leaf of `tree` (per layer), for TensorBoard histograms: the
    squares of the raveled tree summed by segment (one reduction, not one per leaf)."""
    sizes = [x.size for x in jax.tree.leaves(tree)]
    segments = np.repeat(np.arange(len(sizes)), sizes)
    flat = ravel_pytree(tree)[0]
    return jnp.sqrt(jax.ops.segment_sum(flat * flat, segments, num_segments=len(sizes)))


def norm_metrics(tree: PyTree, name: str) -> dict[str, jax.Array]:
    """'{name}_norm': ||tree||_2, the norm of the leaves' norms, and 'hist/{name}_norms':
    the leaves' norms (leaf_norms), from one reduction of the raveled tree."""
    per_leaf = leaf_norms(tree)
    return {f"{name}_norm": jnp.linalg.norm(per_leaf), f"hist/{name}_norms": per_leaf}


def build_step(
    step_fn: Step, mesh: Mesh, *, donate: bool = True
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """jit(shard_map(step)) over `mesh`.

    `step_fn(state, batch, key) -> (state, metrics)` sees this device's slice of the batch
    and its own key; it updates parameters through `state.apply_gradients` (which averages
    gradients over devices). The built step then advances `state.step`, updates the EMA
    params, averages the metrics over devices and adds 'param_norm' (the global L2 norm: a
    training-health signal that turns NaN as soon as any parameter does) and
    'hist/param_norms' (per-leaf norms; 'hist/' metrics go to TensorBoard histograms).
    State is replicated and donated.

    With gradient accumulation (`state.grad_accum_steps` k > 1) the EMA moves once per
    optimizer update, on every k-th step, with the decay of the number of updates before it;
    the other steps leave it as it is (decay 1).
    """

    def per_device(state, batch):
        new_state, metrics = step_fn(state, batch, step_key(state.key, state.step))
        k = state.grad_accum_steps
        decay = jnp.where(
            (state.step + 1) % k == 0,  # this step ends an accumulation: params were updated
            ema_decay_at(state.step // k, state.ema_decay, state.ema_warmup),
            1.0,
        )
        new_state = new_state.replace(
            step=state.step + 1,
            ema_params=ema_update(state.ema_params, new_state.params, decay),
        )
        metrics = {
            **lax.pmean(metrics, DATA_AXIS),
            **norm_metrics(new_state.params, "param"),
        }
        return new_state, metrics

    sharded = jax.shard_map(
        per_device, mesh=mesh, in_specs=(P(), P(DATA_AXIS)), out_specs=(P(), P())
    )
    return jax.jit(sharded, donate_argnums=(0,) if donate else ())


def loss_step(objective: Objective) -> Step:
    """A step from `objective(params, model_state, batch, key, step) -> (loss, (metrics,
    model_state))`: one gradient step on the per-device mean loss; metrics gain 'loss',
    'grad_norm' (global L2 norm of this device's gradients, averaged) and per-leaf norms.
    The objective's network runs in `state.compute_dtype` (`precision.mixed_precision`);
    loss and gradients are float32."""

    def step(state, batch, key):
        grad_fn = jax.value_and_grad(mixed_precision(objective, state.compute_dtype), has_aux=True)
        (loss, (metrics, model_state)), grads = grad_fn(
            state.params, state.model_state, batch, key, state.step
        )
        state = state.apply_gradients(grads, model_state=model_state)
        return state, {"loss": loss, **metrics, **norm_metrics(grads, "grad")}

    return step
