"""Run-directory metadata: which experiment and config a run directory belongs to, and the
lock that lets one training process at a time write it."""

import contextlib
import datetime
import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import ml_collections

from jaxgen.files import DamagedFileError, read_json, write_atomic, write_json

log = logging.getLogger(__name__)

LOCK = "lock"  # WORKDIR/lock: who trains the run (host, PID, start), flock-ed while it does

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


def is_run(workdir: str | Path) -> bool:
    """Whether `workdir` holds (part of) a training run: run.json, config.json or checkpoints."""
    workdir = Path(workdir)
    return any((workdir / name).exists() for name in ("run.json", "config.json", "checkpoints"))


def read_run(workdir: str | Path) -> tuple[str, dict[str, Any]]:
    """(experiment name, config dict) recorded in `workdir`; RunDirError when it is not a
    run directory, or one line naming the damaged file (missing, empty, not JSON, or not
    the JSON object it should be) and the fix."""
    workdir = Path(workdir)
    if not is_run(workdir):
        raise RunDirError(
            f"{workdir} is not a jaxgen run directory (no run.json/config.json); "
            "pass the --workdir of a `jaxgen train` run."
        )
    fix = "restore it from a copy, or train again in another --workdir."
    try:
        meta = read_json(workdir / "run.json", dict, fix)
        config = read_json(workdir / "config.json", dict, fix)
    except DamagedFileError as e:
        raise RunDirError(str(e)) from None
    if not isinstance(meta.get("experiment"), str):
        raise RunDirError(f"{workdir / 'run.json'} names no experiment; {fix}")
    return meta["experiment"], config


def check_compatible(
    workdir: str | Path, experiment: str, config: ml_collections.ConfigDict
) -> None:
    """Refuses to resume `workdir` with another experiment, or with a config that differs
    in any key outside RESUMABLE_KEYS (listing the keys that differ; a key of ADDED_KEYS
    missing from a config holds its value there)."""
    if not is_run(workdir):
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
    workdir: str | Path, experiment: str, config: ml_collections.ConfigDict, started: dict
) -> None:
    """config.json (the resolved config) and run.json {'experiment', 'trained_with': the
    `started` records (provenance.environment(): commit, versions, machine) of every
    process that trained the run, this one appended}, written atomically."""
    workdir = Path(workdir)
    text = json.dumps(config.to_dict(), indent=2) + "\n"
    write_atomic(workdir / "config.json", lambda p: Path(p).write_text(text))
    try:
        before = read_json(workdir / "run.json").get("trained_with", [])
    except DamagedFileError:  # a new run
        before = []
    before = before if isinstance(before, list) else []
    meta = {"experiment": experiment, "trained_with": [*before, started]}
    write_json(workdir / "run.json", meta)


def train_seconds(metrics_jsonl: str | Path, batch_size: int) -> float:
    """Wall time of the logged steps, compilation included: sum of steps * B / img_per_s
    (lines that are not such rows, e.g. one cut off by a crash, are skipped)."""
    total, last = 0.0, 0
    for line in Path(metrics_jsonl).read_text().splitlines():
        try:
            row = json.loads(line)
            step, rate = int(row["step"]), float(row["img_per_s"])
        except (ValueError, TypeError, KeyError):
            continue
        if step > last and rate > 0:
            total += (step - last) * batch_size / rate
            last = step
    return total


@contextlib.contextmanager
def run_lock(workdir: str | Path) -> Iterator[None]:
    """Holds an exclusive lock on `workdir` (flock on WORKDIR/lock, which records the host,
    PID and start of the holder) while the block runs; RunDirError naming the holder when
    another process holds it. The kernel drops the lock when its process ends, however it
    ends, so a lock left by kill -9 is stale and taken over (logged). On a file system
    without flock (some network mounts) the run goes on unlocked, with a warning."""
    path = Path(workdir) / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        previous = os.read(fd, 4096).decode(errors="replace").strip()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = describe_holder(previous)
            raise RunDirError(
                f"{workdir} is being trained by {holder}; wait for it to finish or stop it "
                "(it saves a checkpoint on SIGTERM), or choose another --workdir."
            ) from None
        except OSError as e:
            log.warning("Cannot lock %s (%s): nothing stops a second trainer here.", path, e)
        else:
            if previous:
                log.info("Took over the lock of %s (no longer running).", describe_holder(previous))
            started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            holder = {"host": socket.gethostname(), "pid": os.getpid(), "started": started}
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def describe_holder(text: str) -> str:
    """'PID 12 on host h (since ...)' from a lock file's text; 'another process' when it
    is empty or unreadable (the holder has not written it yet)."""
    try:
        h = json.loads(text)
        return f"PID {h['pid']} on host {h['host']} (since {h['started']})"
    except (ValueError, TypeError, KeyError):
        return "another process"
