"""Shared set-up of the autoencoder / VAE family tests: tiny experiment configs on `digits`
and sharded training steps through train.build_step / loss_step (compiled once per Run)."""

import jax
import numpy as np
import pytest

from jaxgen import data, train
from jaxgen.runs import load_experiment


def tiny_config(name, data_dir, **model):
    """(experiment module, config) shrunk for tests: widths (8, 16), batch 32, EMA 0.5."""
    experiment = load_experiment(name)
    c = experiment.get_config()
    c.data.update({"batch_size": 32, "data_dir": data_dir})
    c.model.update({"widths": (8, 16), **model})
    c.train.update(
        {
            "learning_rate": 3e-3,
            "ema_decay": 0.5,
            "steps": 4,
            "log_every": 2,
            "checkpoint_every": 4,
            "sample_every": 4,
            "num_samples": 16,
        }
    )
    return experiment, c


class Run:
    """An experiment's task with its sharded step compiled once: fresh states, batches."""

    def __init__(self, experiment, c):
        self.experiment, self.c = experiment, c
        self.task = experiment.make_task(c)
        self.mesh = data.data_mesh()
        self.step = train.build_step(self.task.step, self.mesh)

    def init(self):
        return train.init_state(self.task, self.c, self.mesh)

    def batches(self):
        c = self.c
        return data.load(
            c.data.name,
            "train",
            c.data.batch_size,
            c.seed,
            mesh=self.mesh,
            data_dir=c.data.data_dir,
        )

    def train(self, steps, state=None, batches=None):
        """(state, [scalar metrics per step]) after `steps` steps from `state` (None: init)."""
        state = self.init() if state is None else state
        batches = self.batches() if batches is None else batches
        history = []
        for _ in range(steps):
            state, metrics = self.step(state, next(batches))
            metrics = jax.device_get(metrics)
            history.append({k: float(v) for k, v in metrics.items() if np.ndim(v) == 0})
        return state, history


def num_params(params):
    return sum(int(np.size(p)) for p in jax.tree.leaves(params))


def assert_loss_decreases(history, factor):
    losses = [h["loss"] for h in history]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < factor * losses[0], [round(v, 3) for v in losses]


@pytest.fixture(autouse=True, scope="module")
def fast_cpu_random():
    """Random kernels under jax_threefry_partitionable=True (JAX's default) take ~8x longer
    to compile on CPU for small shapes (a conv kernel init ~2 s); these tests check model
    behaviour, not random streams, so they use the non-partitionable threefry."""
    with jax.threefry_partitionable(False):
        yield
