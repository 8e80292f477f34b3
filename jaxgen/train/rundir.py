"""Run-directory metadata: which experiment and config a run directory belongs to."""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ml_collections

from jaxgen.files import write_atomic

# Keys that may change when a run is resumed: they schedule work, not the model or data.
RESUMABLE_KEYS = {"train.steps", "train.log_every", "train.checkpoint_every", "train.sample_every"}
# Keys added to the configs after runs were recorded without them, with the value such a run
# trained with: resuming it with that value resumes the same run.
ADDED_KEYS = {"train.grad_accum_steps": 1, "train.precision": "fp32"}


class RunDirError(ValueError):
    """A run directory that belongs to another experiment or an incompatible config."""


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
    return out


def read_run(workdir: str | Path) -> tuple[str, dict[str, Any]]:
    """(experiment name, config dict) recorded in `workdir`; RunDirError when absent."""
    workdir = Path(workdir)
    if not (workdir / "run.json").is_file() or not (workdir / "config.json").is_file():
        raise RunDirError(
            f"{workdir} is not a jaxgen run directory (no run.json/config.json); "
            "pass the --workdir of a `jaxgen train` run."
        )
    experiment = json.loads((workdir / "run.json").read_text())["experiment"]
    return experiment, json.loads((workdir / "config.json").read_text())


def check_compatible(
    workdir: str | Path, experiment: str, config: ml_collections.ConfigDict
) -> None:
    """Refuses to resume `workdir` with another experiment, or with a config that differs
    in any key outside RESUMABLE_KEYS (listing the keys that differ; a key of ADDED_KEYS
    missing from a config holds its value there)."""
    if not (Path(workdir) / "run.json").is_file():
        return
    old_experiment, old_config = read_run(workdir)
    if old_experiment != experiment:
        raise RunDirError(
            f"{workdir} holds a run of experiment {old_experiment!r}, not {experiment!r}; "
            "choose another --workdir."
        )
    old, new = ({**ADDED_KEYS, **flatten(c)} for c in (old_config, config.to_dict()))
    differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    differ = [k for k in differ if k not in RESUMABLE_KEYS]
    if differ:
        details = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in differ[:8])
        raise RunDirError(
            f"{workdir} holds a run of {experiment!r} with a different config ({details}). "
            "Resume with the same config, or choose another --workdir."
        )


def write_run_files(
    workdir: str | Path, experiment: str, config: ml_collections.ConfigDict
) -> None:
    """run.json {'experiment'} and config.json (the resolved config), written atomically."""
    text = json.dumps(config.to_dict(), indent=2) + "\n"
    write_atomic(Path(workdir) / "config.json", lambda p: Path(p).write_text(text))
    meta = json.dumps({"experiment": experiment}) + "\n"
    write_atomic(Path(workdir) / "run.json", lambda p: Path(p).write_text(meta))


def train_seconds(metrics_jsonl: str | Path, batch_size: int) -> float:
    """Wall time of the logged steps, compilation included: sum of steps * B / img_per_s."""
    total, last = 0.0, 0
    for line in Path(metrics_jsonl).read_text().splitlines():
        row = json.loads(line)
        if row["step"] > last:
            total += (row["step"] - last) * batch_size / row["img_per_s"]
            last = row["step"]
    return total
