"""A tiny conv autoencoder task shared by the training-layer tests (deterministic: no
sampling, no bias before batch norm, so 1-device and 4-device runs agree to rounding)."""

import contextlib

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import optax

from jaxgen import data, train


class TinyAE(nn.Module):
    @nn.compact
    def __call__(self, x, train=True):
        h = nn.Conv(4, (3, 3), use_bias=False)(x)
        h = nn.BatchNorm(use_running_average=not train, axis_name="data")(h)
        return nn.Conv(x.shape[-1], (3, 3))(nn.relu(h))


def make_task(tx=None, loss_scale=1.0):
    model = TinyAE()

    def init(key, images):
        variables = model.init(key, images)
        return variables["params"], {"batch_stats": variables["batch_stats"]}

    def objective(params, model_state, batch, key, step):
        x = batch["image"]
        out, updates = model.apply({"params": params, **model_state}, x, mutable=["batch_stats"])
        return loss_scale * jnp.mean((out - x) ** 2), ({}, updates)

    def sample(state, key):
        return jnp.zeros((4, 8, 8, 1)) + state.params["Conv_1"]["bias"]

    return train.Task(
        init=init, tx=tx or optax.adam(1e-2), step=train.loss_step(objective), sample=sample
    )


def config(data_dir, steps=6, batch_size=16):
    return ml_collections.ConfigDict(
        {
            "seed": 0,
            "data": {"name": "digits", "batch_size": batch_size, "data_dir": data_dir},
            "train": {
                "steps": steps,
                "ema_decay": 0.9,
                "log_every": 1,
                "checkpoint_every": 3,
                "sample_every": 3,
            },
        }
    )


@contextlib.contextmanager
def serving(record):
    """Within the block, every BatchIterator calls record(position) before it serves the
    batch at `position`: fit draws one batch per step, so the positions recorded are the
    steps this process ran (step s reads position s - 1), from the restored position on."""
    serve = data.BatchIterator.__next__

    def recorded(self):
        record(self.position)
        return serve(self)

    data.BatchIterator.__next__ = recorded
    try:
        yield
    finally:
        data.BatchIterator.__next__ = serve
