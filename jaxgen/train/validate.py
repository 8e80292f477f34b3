"""Range checks of an experiment's config, run before any data is loaded or model built.

Every experiment's config shares these conventions, so one set of rules covers them all:
sizes under `model` are integers >= 1 (counts of optional layers may be 0), the schedule
under `train` is positive, learning rates are positive, gradient-clipping norms are >= 0
(0: no clipping), EMA decays lie in [0, 1) and `train.precision` names a precision. The
first value out of range raises one ConfigError naming the key, the value and the range.
"""

from typing import Any

import ml_collections

from jaxgen import data
from jaxgen.data import pipeline
from jaxgen.train.precision import PRECISIONS
from jaxgen.train.rundir import flatten

# Sizes under `model` that count optional layers: 0 means none of them.
COUNTS = {"model.mapping_depth", "model.num_res_blocks", "model.widths_skip"}
POSITIVE = {"train.steps", "train.num_samples", "train.grad_accum_steps"}
NON_NEGATIVE = {"train.log_every", "train.checkpoint_every", "train.sample_every"}


class ConfigError(ValueError):
    """A config value out of range, or a dataset that does not exist."""


def _ints(value):
    """The integers of an int or a tuple/list of ints (bools excluded), else None."""
    values = value if isinstance(value, list | tuple) else [value]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return values
    return None


def _range_error(key, value):
    """The range `value` of `key` violates, or None when it is valid (or unchecked)."""
    leaf = key.rsplit(".", 1)[-1]
    ints = _ints(value)
    if key.startswith("model.") and ints is not None:
        low = 0 if key in COUNTS else 1
        kind = "integers" if isinstance(value, list | tuple) else "an integer"
        return None if all(v >= low for v in ints) else f"{kind} >= {low}"
    if key in POSITIVE:
        return None if ints is not None and len(ints) == 1 and value >= 1 else "an integer >= 1"
    if key in NON_NEGATIVE or leaf.endswith(("warmup_steps", "grad_clip", "clip_norm")):
        return None if value >= 0 else ">= 0 (0: never)"
    if leaf.endswith("learning_rate"):
        return None if value > 0 else "> 0"
    if leaf.endswith("ema_decay"):
        return None if 0 <= value < 1 else "in [0, 1)"
    if key == "train.precision":
        return None if value in PRECISIONS else f"one of {', '.join(map(repr, PRECISIONS))}"
    return None


def check_config(config: ml_collections.ConfigDict, num_devices: int = 1) -> None:
    """Raises ConfigError for the first value of `config` out of its range (module doc), a
    `train.steps` that is not a multiple of `train.grad_accum_steps` (the run would end
    inside an accumulation), a `data.batch_size` that is not positive or not a multiple of
    `num_devices` (each device gets an equal share) or a `data.name` that is no known
    dataset."""
    for key, value in flatten(config.to_dict()).items():
        expected = _range_error(key, value)
        if expected is not None:
            value = tuple(value) if isinstance(value, list) else value  # as it was written
            raise ConfigError(
                f"--config.{key}={value!r} is out of range: it must be {expected}. "
                f"Set --config.{key} to a valid value."
            )
    train = config.get("train", {})
    steps, k = train.get("steps"), train.get("grad_accum_steps", 1)
    if steps is not None and steps % k:
        raise ConfigError(
            f"--config.train.steps={steps} is not a multiple of --config.train.grad_accum_steps"
            f"={k}: steps count micro-batches and the run must end on an optimizer update. "
            f"Set --config.train.steps to a multiple of {k}, e.g. {steps + k - steps % k}."
        )
    data_config = config.get("data", {})
    try:
        if data_config.get("batch_size") is not None:
            pipeline.check_batch_size(data_config.batch_size, num_devices)
        if data_config.get("name") is not None:
            data.dataset_spec(data_config.name)
    except ValueError as e:
        raise ConfigError(f"--config.data: {e}") from None


def check_options(config: ml_collections.ConfigDict, tx: Any) -> None:
    """Raises ConfigError when a task trained by several optimizers (a dict `tx`: the GANs,
    whose steps compose optimizer sub-steps instead of `loss_step`) sets
    `train.grad_accum_steps` > 1 or `train.precision` other than 'fp32': neither applies to
    those steps."""
    if not isinstance(tx, dict):
        return
    train = config.get("train", {})
    for key, default in (("grad_accum_steps", 1), ("precision", "fp32")):
        value = train.get(key, default)
        if value != default:
            raise ConfigError(
                f"--config.train.{key}={value!r} is not supported by this experiment: it "
                f"trains several optimizers ({', '.join(tx)}), and gradient accumulation and "
                f"bf16 apply to single-optimizer experiments only. Set "
                f"--config.train.{key}={default}."
            )
