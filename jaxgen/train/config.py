"""Command-line overrides of an ml_collections config: `--config.train.steps=100`."""

import ast
import difflib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import ml_collections

PREFIX = "--config."


def type_name(value: Any) -> str:
    """What a config field of `value`'s type takes, in words."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return f"a {type(value).__name__}"


def example(path: str, value: Any) -> str:
    """A valid override of field `path`: its current `value`."""
    if isinstance(value, tuple | list):
        return f'--config.{path}="{tuple(value) or (1, 2)!r}"'
    return f"--config.{path}={value!r}"


def literal(text: str) -> Any:
    """`text` as a Python literal, or ValueError."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(f"{text!r} is not a literal") from None


def parse_value(text: str, current: Any) -> Any:
    """`text` read as the type of the field's current value; ValueError when it is not one
    (an integer field refuses 1.5, a tuple field refuses 3: no silent conversion)."""
    if isinstance(current, bool):
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{text!r} is not true or false")
        return text.lower() in ("true", "1")
    if current is None:
        try:
            return literal(text)
        except ValueError:
            return text
    if isinstance(current, str):
        return text
    value = literal(text) if not isinstance(current, float) else text
    if isinstance(current, int):
        if isinstance(value, float) and value.is_integer():  # 1e3 means 1000
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{text!r} is not an integer")
        return value
    if isinstance(current, float):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    if not isinstance(value, tuple | list):
        raise ValueError(f"{text!r} is not a {type(current).__name__}")
    return type(current)(value)


def all_keys(config: ml_collections.ConfigDict, prefix: str = "") -> Iterator[str]:
    for k, v in config.items():
        if isinstance(v, ml_collections.ConfigDict):
            yield from all_keys(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}"


def apply_overrides(
    config: ml_collections.ConfigDict, args: Sequence[str]
) -> tuple[ml_collections.ConfigDict, list[str]]:
    """Applies `--config.a.b=value` arguments to a copy of `config`; returns (config, rest).

    An unknown key names the closest valid keys; a value of the wrong type says so.
    """
    config = ml_collections.ConfigDict(config.to_dict())
    keys = list(all_keys(config))
    rest = []
    for arg in args:
        if not arg.startswith(PREFIX):
            rest.append(arg)
            continue
        path, sep, text = arg[len(PREFIX) :].partition("=")
        if not sep:
            raise ValueError(f"{arg}: write --config.KEY=VALUE.")
        if path not in keys:
            close = difflib.get_close_matches(path, keys, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"Unknown config key {path!r}.{hint}")
        *parents, leaf = path.split(".")
        node = config
        for p in parents:
            node = node[p]
        current = node[leaf]
        try:
            node[leaf] = parse_value(text, current)
        except ValueError:
            raise ValueError(
                f"--config.{path}={text}: {path} takes {type_name(current)}, "
                f"e.g. {example(path, current)}."
            ) from None
    config.lock()
    return config, rest


def train_config(steps: int, **changes: Any) -> dict[str, Any]:
    """The `train` block of an experiment's config: `steps` of the fit loop, the EMA decay of
    the sampled weights, how often (in steps) to log, checkpoint and sample, how many
    samples a picture shows, the micro-batches averaged per optimizer update
    (`grad_accum_steps`, 1: none) and the precision of the network's computation
    ('fp32' or 'bf16'); `changes` replace those defaults or add the keys an experiment's
    task reads (learning_rate, warmup_steps, grad_clip, ...)."""
    defaults = {"ema_decay": 0.999, "log_every": 50, "checkpoint_every": 1000,
                "sample_every": 500, "num_samples": 64, "grad_accum_steps": 1,
                "precision": "fp32"}  # fmt: skip
    return {"steps": steps, **defaults, **changes}


def eval_config(**changes: Any) -> dict[str, Any]:
    """The `eval` block of an experiment's config: the key of the evaluation (seed), how many
    test images it reads (num_examples, 0: all) and how many it processes at once
    (batch_size); `changes` replace those or add the evaluation's own keys."""
    return {"seed": 0, "num_examples": 0, "batch_size": 250, **changes}


def with_preset(
    config: ml_collections.ConfigDict, preset: str, presets: Mapping[str, Mapping[str, Any]]
) -> ml_collections.ConfigDict:
    """`config` updated in place by `presets[preset]` ({'a.b': value}), with config.preset
    set to its name; returns it. A preset is a hardware variant of an experiment's config
    (flax examples' configs/, big_vision's get_config(arg)): get_config(preset) ends with
    this call, and command-line overrides are applied after it, so they always win.
    ValueError names the presets for an unknown one."""
    if preset not in presets:
        raise ValueError(f"Unknown preset {preset!r}; use one of {', '.join(presets)}.")
    config.preset = preset
    config.update_from_flattened_dict(dict(presets[preset]))
    return config
