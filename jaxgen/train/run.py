"""Wiring shared by every experiment: config -> data, TrainState, sharded step, fit."""

import contextlib
import dataclasses
import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxgen import data
from jaxgen.train.checkpoint import saved_steps
from jaxgen.train.loop import fit
from jaxgen.train.precision import PRECISIONS
from jaxgen.train.provenance import environment
from jaxgen.train.rundir import check_compatible, run_lock, write_run_files
from jaxgen.train.state import TrainState
from jaxgen.train.step import build_step
from jaxgen.train.validate import check_config, check_options

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Task:
    """A model family's recipe, built by an experiment from its config.

    init(key, images [B, H, W, C]) -> (params, model_state)
    step(state, batch, key) -> (state, metrics), per device (see `build_step`)
    sample(state, key) -> images [N, H, W, C] in [-1, 1], or None
    images: [N, H, W, C] uint8, the task's own data in place of config.data, or None. For
      optimisations on one image (deep image prior, style transfer): every step gives all
      N images to every device, and `init` gets them (in [-1, 1]) rather than zeros.
    """

    init: Callable
    tx: Any
    step: Callable
    sample: Callable | None = None
    images: np.ndarray | None = None


def maybe_initialize_distributed() -> None:
    """Calls jax.distributed.initialize() before anything touches devices, when this is
    one process of many: JAX_COORDINATOR_ADDRESS with JAX_NUM_PROCESSES and JAX_PROCESS_ID
    set explicitly, or JAXGEN_DISTRIBUTED=1 to let JAX detect SLURM / a TPU pod slice."""
    if os.environ.get("JAX_COORDINATOR_ADDRESS") or os.environ.get("JAXGEN_DISTRIBUTED") == "1":
        # Cross-process collectives on the CPU backend (tests, CPU clusters); GPU/TPU use their own.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if os.environ.get("JAX_COORDINATOR_ADDRESS"):
        jax.distributed.initialize(
            coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
            num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
            process_id=int(os.environ["JAX_PROCESS_ID"]),
        )
    elif os.environ.get("JAXGEN_DISTRIBUTED") == "1":
        jax.distributed.initialize()


def task_batches(task: Task, config: ml_collections.ConfigDict, mesh: Mesh) -> data.BatchIterator:
    """The batches of a run: config.data's train split, or all of `task.images` on every
    device of `mesh` at every step."""
    if task.images is None:
        return data.load(
            config.data.name,
            "train",
            config.data.batch_size,
            config.seed,
            mesh=mesh,
            data_dir=config.data.get("data_dir"),
        )
    images = np.concatenate([task.images] * mesh.devices.size)  # [devices * N, H, W, C]
    labels = np.zeros(len(images), np.int32)
    return data.BatchIterator(images, labels, len(images), config.seed, mesh, shuffle=False)


def initializer(task: Task, config: ml_collections.ConfigDict, mesh: Mesh) -> tuple:
    """(init, args): `init(*args)` is the TrainState from config.seed (init key, root key of
    the run) and config.train's EMA decay, gradient accumulation and precision."""
    init_key, root_key = jax.random.split(jax.random.PRNGKey(config.seed))
    if task.images is None:
        spec = data.dataset_spec(config.data.name)
        images = jax.numpy.zeros((config.data.batch_size // mesh.devices.size, *spec.shape))
    else:
        images = jax.numpy.asarray(data.to_float(task.images))
    create = functools.partial(
        TrainState.create,
        tx=task.tx,
        ema_decay=config.train.ema_decay,
        # Runs recorded before these keys existed trained with their defaults.
        grad_accum_steps=config.train.get("grad_accum_steps", 1),
        compute_dtype=PRECISIONS[config.train.get("precision", "fp32")],
    )

    def init(init_key, root_key, images):
        params, model_state = task.init(init_key, images)
        return create(params=params, model_state=model_state, key=root_key)

    return init, (init_key, root_key, images)


def init_state(task: Task, config: ml_collections.ConfigDict, mesh: Mesh) -> TrainState:
    """The initial TrainState (`initializer`), replicated on `mesh`.

    `task.init`, the optimizer state and the EMA copy are one compiled program (op by op
    they were a compilation per distinct leaf shape), compiled on CPU without XLA's backend
    optimization: it runs once, and optimizing its random initializers cost more than the
    rest of a quick run (the cpu DDPM U-Net's init: 27-33 s -> 7.7-9.1 s to compile on two busy
    cores, 0.02 s to run either way).
    """
    init, args = initializer(task, config, mesh)
    options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
    state = jax.jit(init).lower(*args).compile(options)(*args)
    return jax.device_put(state, NamedSharding(mesh, P()))


def abstract_state(task: Task, config: ml_collections.ConfigDict, mesh: Mesh) -> TrainState:
    """`init_state`'s shapes, dtypes and shardings (jax.ShapeDtypeStruct leaves), nothing
    computed or compiled: the target a checkpoint restores into."""
    init, args = initializer(task, config, mesh)
    replicated = NamedSharding(mesh, P())
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
        jax.eval_shape(init, *args),
    )


def run_experiment(
    config: ml_collections.ConfigDict, task: Task, workdir: str | Path, experiment: str = "custom"
) -> TrainState:
    """Trains `task` on config.data with config.train's schedule in `workdir`, resuming
    the run already there (which must be of the same `experiment` and config). A config
    value out of range raises ConfigError before anything is loaded, built or written; a
    run directory another process trains raises RunDirError (rundir.run_lock)."""
    workdir = Path(workdir)
    mesh = data.data_mesh()
    check_config(config, mesh.devices.size)
    check_options(config, task.tx)
    check_compatible(workdir, experiment, config)
    # Process 0 holds the run directory for the whole run; the other processes share it.
    with run_lock(workdir) if jax.process_index() == 0 else contextlib.nullcontext():
        batches = task_batches(task, config, mesh)
        # A resumed run's state comes from its checkpoint: only its shapes are needed.
        resuming = saved_steps(workdir / "checkpoints")
        state = (abstract_state if resuming else init_state)(task, config, mesh)

        def record_run():  # once its checkpoint has read back: a refused run changes nothing
            if jax.process_index() == 0:
                write_run_files(workdir, experiment, config, environment())

        t = config.train
        return fit(
            state,
            build_step(task.step, mesh),
            batches,
            workdir=workdir,
            steps=t.steps,
            log_every=t.log_every,
            checkpoint_every=t.checkpoint_every,
            sample_every=t.sample_every,
            sample_fn=task.sample,
            on_start=record_run,
        )
