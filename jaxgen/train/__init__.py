"""Training layer: TrainState (+EMA), the sharded step builder, the fit loop, checkpoints,
the experiments' optimizer."""

from jaxgen.train.checkpoint import Checkpointer, CheckpointError
from jaxgen.train.config import apply_overrides, eval_config, train_config, with_preset
from jaxgen.train.loop import NonFiniteLossError, fit
from jaxgen.train.optim import adam
from jaxgen.train.preemption import Preempted
from jaxgen.train.run import (
    Task,
    abstract_state,
    init_state,
    maybe_initialize_distributed,
    run_experiment,
)
from jaxgen.train.rundir import RunDirError, check_compatible, read_run
from jaxgen.train.state import TrainState, ema_update
from jaxgen.train.step import build_step, loss_step, step_key
from jaxgen.train.validate import ConfigError, check_config, check_options

__all__ = [
    "CheckpointError",
    "Checkpointer",
    "ConfigError",
    "NonFiniteLossError",
    "Preempted",
    "Task",
    "RunDirError",
    "TrainState",
    "abstract_state",
    "adam",
    "apply_overrides",
    "build_step",
    "check_compatible",
    "check_config",
    "check_options",
    "ema_update",
    "eval_config",
    "fit",
    "init_state",
    "loss_step",
    "maybe_initialize_distributed",
    "read_run",
    "run_experiment",
    "step_key",
    "train_config",
    "with_preset",
]
