"""Compile time and steady speed of a training run with the optimizer per parameter leaf
(jaxgen before the change: `--tree PATH` to a checkout of it) and on the raveled parameters
(optax.flatten, this checkout). One measurement per call; timing.sh alternates the two.

    python results/flat_optimizer/timing.py EXPERIMENT PRESET STEPS [--tree PATH]

Prints one JSON line: XLA compile and tracing seconds of the whole run, wall seconds, and
img/s of the last logged 50 steps."""

import collections
import json
import os
import sys
import tempfile
import time

args = sys.argv[1:]
tree = args[args.index("--tree") + 1] if "--tree" in args else os.getcwd()
sys.path[:0] = [tree, os.path.join(tree, "experiments")]
os.environ["JAXGEN_COMPILATION_CACHE"] = ""  # compile everything

import importlib  # noqa: E402

import jax  # noqa: E402
import jax.monitoring  # noqa: E402

from jaxgen import runs, train  # noqa: E402

name, preset, steps = args[0], args[1], int(args[2])
compiles = collections.Counter()


def listen(event, seconds, **kwargs):
    compiles[event] += seconds


jax.monitoring.register_event_duration_secs_listener(listen)
runs.setup_process()
module = importlib.import_module(f"jaxgen_experiments.{name}")
c = module.get_config(preset)
c.update_from_flattened_dict(
    {
        "train.steps": steps,
        "train.log_every": 50,
        "train.checkpoint_every": steps,
        "train.sample_every": steps,
    }  # fmt: skip
)
workdir = tempfile.mkdtemp()
start = time.perf_counter()
train.run_experiment(c, module.make_task(c), workdir, experiment=name)
wall = time.perf_counter() - start
with open(os.path.join(workdir, "metrics.jsonl")) as f:
    logged = [json.loads(line) for line in f]
speed = [r["img_per_s"] for r in logged if "img_per_s" in r]
print(json.dumps({
    "experiment": name, "preset": preset, "steps": steps, "tree": tree,
    "backend_compile_s": round(compiles["/jax/core/compile/backend_compile_duration"], 2),
    "trace_s": round(compiles["/jax/core/compile/jaxpr_trace_duration"], 2),
    "wall_s": round(wall, 2),
    "img_per_s_last_50": round(speed[-1], 1) if speed else None,
}))  # fmt: skip
