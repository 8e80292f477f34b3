"""Type aliases of the model families' functional interface (init, objective, sample):
every family's ``objective(model, params, model_state, batch, key, step)`` returns
``(loss, (metrics, model_state))``, the form ``jaxgen.train.step.loss_step`` takes."""

from collections.abc import Callable
from typing import Any

import jax

PyTree = Any  # parameters, model state, flax variables: nested dicts of arrays
Batch = dict[str, jax.Array]  # {"image": [B, H, W, C] in [-1, 1], "label": [B] int}
Metrics = dict[str, jax.Array]  # named scalars of one step
ObjectiveOutput = tuple[jax.Array, tuple[Metrics, PyTree]]  # (loss, (metrics, model_state))
# A family's sample hook: sample(state, key) -> images [N, H, W, C], state a train.TrainState
Sampler = Callable[[Any, jax.Array], jax.Array]
