"""Fixtures of the diffusion tests: a tiny ddpm_cond run shared by the training and the
evaluation tests (its training step compiles once per test session)."""

import jax
import pytest

from jaxgen import train
from jaxgen.runs import load_experiment

from .helpers import tiny_config


@pytest.fixture(scope="module")
def fast_cpu_random():
    """The non-partitionable threefry: its random kernels compile several times faster on
    CPU for small shapes (tests/models/family_helpers.py); for tests of models and
    evaluation, not of random streams."""
    with jax.threefry_partitionable(False):
        yield


@pytest.fixture(scope="session")
def ddpm_cond_run(data_dir, tmp_path_factory):
    """(task, final state, run directory) of ddpm_cond with ``tiny_config`` (T = 100) trained
    40 steps by train.run_experiment, every step logged to metrics.jsonl."""
    experiment = load_experiment("ddpm_cond")
    c = tiny_config(experiment, data_dir)
    c.train.update({"steps": 40, "log_every": 1, "checkpoint_every": 40, "sample_every": 0})
    workdir = tmp_path_factory.mktemp("ddpm_cond")
    with jax.threefry_partitionable(False):
        task = experiment.make_task(c)
        state = train.run_experiment(c, task, workdir, experiment="ddpm_cond")
    return task, state, workdir
