"""Run management below the command line: find an experiment, configure it, build its task,
train, restore and evaluate a run directory. `jaxgen.cli` and the experiments' own
`python experiments/NAME.py` entry point are thin front ends over these functions.

How experiments are found: a package of experiment modules is registered under the entry-point
group ``jaxgen.experiments`` (setup.cfg registers this repository's ``experiments/`` folder as
the package ``jaxgen_experiments``, so `jaxgen train NAME` works from an installed jaxgen as
from a checkout). Every module of a registered package that defines ``get_config`` and
``make_task`` is an experiment, named by its module name. Another project registers its own
experiments the same way::

    [options.entry_points]
    jaxgen.experiments =
        mine = my_project.experiments

An experiment module defines:
  get_config(preset=...)  -> ml_collections.ConfigDict; `preset` picks a hardware variant
                             (quick / cpu / gpu) where the experiment has several
  make_task(config)       -> jaxgen.train.Task
  evaluate(workdir, step=None, overrides=())  (optional) its tables and pictures
"""

import argparse
import difflib
import functools
import importlib
import inspect
import json
import logging
import os
import pkgutil
import sys
from importlib.metadata import entry_points
from pathlib import Path

EXPERIMENT_GROUP = "jaxgen.experiments"
PRESET_OVERRIDE = "--config.preset="
COMPILATION_CACHE = "JAXGEN_COMPILATION_CACHE"


def compilation_cache_dir() -> str | None:
    """Where the commands keep JAX's persistent compilation cache, so that a second run of a
    program (a resumed or repeated training, sampling, evaluation) loads its compiled steps
    instead of compiling them again: $JAXGEN_COMPILATION_CACHE, by default
    $XDG_CACHE_HOME/jaxgen/jax (~/.cache/jaxgen/jax); empty turns it off. None as well when
    JAX_COMPILATION_CACHE_DIR is set: JAX then uses that one itself. The cache is trusted
    code: keep it in a directory only you can write."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    value = os.environ.get(COMPILATION_CACHE)
    if value is None:
        value = str(
            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "jaxgen" / "jax"
        )
    return value or None


def setup_process() -> None:
    """What a jaxgen command does first: log jaxgen's progress and warnings, and use the
    persistent compilation cache of compilation_cache_dir()."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("jaxgen").setLevel(logging.INFO)
    path = compilation_cache_dir()
    if path:
        import jax

        jax.config.update("jax_compilation_cache_dir", path)


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def closest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3)
    return f" Did you mean {' or '.join(close)}?" if close else ""


@functools.cache
def experiment_modules() -> dict[str, str]:
    """{name: dotted module} of every module in the packages registered under
    EXPERIMENT_GROUP (the first package to register a name keeps it)."""
    found = {}
    for ep in entry_points(group=EXPERIMENT_GROUP):
        package = ep.load()
        for info in pkgutil.iter_modules(package.__path__):
            found.setdefault(info.name, f"{package.__name__}.{info.name}")
    return found


def is_experiment(module) -> bool:
    return callable(getattr(module, "get_config", None)) and callable(
        getattr(module, "make_task", None)
    )


def experiment_names() -> list[str]:
    """Names of the registered experiments (their modules are imported to tell them apart
    from helper scripts such as experiments/bench.py)."""
    modules = experiment_modules()
    return sorted(n for n in modules if is_experiment(importlib.import_module(modules[n])))


def load_experiment(name: str):
    """The registered experiment module called `name` (an `experiments/NAME.py` path is
    read as its name)."""
    name = Path(name).stem if name.endswith(".py") else name
    module_name = experiment_modules().get(name)
    module = importlib.import_module(module_name) if module_name else None
    if module is None or not is_experiment(module):
        known = experiment_names()
        raise UsageError(
            f"unknown experiment {name!r}.{closest(name, known)} Known: {', '.join(known)}. "
            f"An experiment of your own runs as `python YOUR_FILE.py`, or by name once its "
            f"package is registered under the entry-point group {EXPERIMENT_GROUP!r}."
        )
    return module


def experiment_name(module) -> str:
    return Path(module.__file__).stem


def configure(base, overrides):
    """`base` with the --config.KEY=VALUE `overrides` applied, locked."""
    from jaxgen import train

    try:
        return train.apply_overrides(base, overrides)[0]
    except ValueError as e:
        raise UsageError(str(e)) from None


def experiment_config(module, overrides):
    """The config of a new run of `module`: get_config(preset) for the preset chosen by
    --config.preset=NAME (the experiment's default without one), then the other overrides."""
    chosen = [o[len(PRESET_OVERRIDE) :] for o in overrides if o.startswith(PRESET_OVERRIDE)]
    rest = [o for o in overrides if not o.startswith(PRESET_OVERRIDE)]
    if not chosen:
        return configure(module.get_config(), rest)
    if "preset" not in inspect.signature(module.get_config).parameters:
        raise UsageError(f"{experiment_name(module)} has no presets; drop --config.preset.")
    try:
        return configure(module.get_config(preset=chosen[-1]), rest)
    except ValueError as e:  # an unknown preset
        raise UsageError(str(e)) from None


def build_task(module, config):
    """module.make_task(config) after the config's range checks; a bad value, name, image
    shape or missing weights file is a UsageError raised before any data is loaded or
    anything compiled."""
    import jax

    from jaxgen import train

    try:
        train.check_config(config, jax.device_count())
        return module.make_task(config)
    except (ValueError, FileNotFoundError) as e:  # FileNotFoundError: a weights file
        raise UsageError(str(e)) from None
    except (AttributeError, KeyError):  # a run's config.json from before a key was added
        from jaxgen.train.rundir import flatten

        defaults = flatten(module.get_config().to_dict())
        missing = sorted(set(defaults) - set(flatten(config.to_dict())))
        if not missing:
            raise
        raise UsageError(
            f"the config has no {', '.join(missing)}, which {experiment_name(module)} reads "
            f"now: the run is from an older jaxgen. Add "
            f"{', '.join(f'{k}={defaults[k]!r}' for k in missing)} (the defaults) to its "
            "config.json, or train it again."
        ) from None


def train_experiment(module, workdir, overrides):
    """Trains (or resumes) the run of experiment `module` in `workdir` with the
    --config `overrides`; returns its final TrainState."""
    from jaxgen import train

    config = experiment_config(module, overrides)
    task = build_task(module, config)
    try:
        return train.run_experiment(config, task, workdir, experiment=experiment_name(module))
    except (train.RunDirError, train.ConfigError) as e:
        raise UsageError(str(e)) from None
    except (train.CheckpointError, train.NonFiniteLossError) as e:
        raise SystemExit(f"jaxgen: error: {e}") from None
    except train.Preempted as e:
        print(f"jaxgen: {e}", file=sys.stderr)
        raise SystemExit(e.exit_status) from None


def run_config(workdir, overrides):
    """(experiment module, config with `overrides`) of run directory `workdir`."""
    import ml_collections

    from jaxgen import train

    if any(o.startswith(PRESET_OVERRIDE) for o in overrides):
        raise UsageError(
            f"{workdir} was trained with its preset already applied; --config.preset chooses "
            "the preset of a new run (jaxgen train)."
        )
    try:
        experiment, config_dict = train.read_run(workdir)
    except train.RunDirError as e:
        raise UsageError(str(e)) from None
    module = load_experiment(experiment)
    config_dict = with_current_defaults(module, config_dict)
    return module, configure(ml_collections.ConfigDict(config_dict), overrides)


def with_current_defaults(module, stored: dict) -> dict:
    """A run's stored config with the keys its experiment's config gained since the run was
    written filled in at their defaults (of the run's preset); every stored value kept. So
    `eval DIR --config.eval.NEW_KEY=...` works on runs older than the key. A preset since
    removed leaves the stored config as it is."""
    takes_preset = "preset" in inspect.signature(module.get_config).parameters
    try:
        defaults = module.get_config(stored["preset"]) if takes_preset else module.get_config()
    except (KeyError, ValueError):
        return stored

    def merge(default, kept):
        out = dict(kept)
        for key, value in default.items():
            if key not in out:
                out[key] = value
            elif isinstance(value, dict) and isinstance(out[key], dict):
                out[key] = merge(value, out[key])
        return out

    return merge(defaults.to_dict(), stored)


WEIGHTS = "weights.msgpack"  # an exported run's sampling weights (export_run)


def sampling_tree(state) -> dict:
    """The parts of a TrainState that sampling reads: step, EMA params and model state
    (e.g. batch statistics); no optimizer state."""
    return {"step": state.step, "ema_params": state.ema_params, "model_state": state.model_state}


def load_sampling_weights(state, path):
    """`state` with the step, EMA params (also as params) and model state of the exported
    weights file `path`; a file of another model is a UsageError."""
    import jax
    from flax import serialization

    target = sampling_tree(state)
    try:
        tree = serialization.from_bytes(target, Path(path).read_bytes())
        same = jax.tree.map(lambda a, b: a.shape == b.shape, target, tree)
    except (ValueError, TypeError, KeyError):
        same = False
    if not all(jax.tree.leaves(same)):
        raise UsageError(f"{path} does not hold this run's model: export the run again.")
    params = tree["ema_params"]
    return state.replace(
        step=tree["step"], params=params, ema_params=params, model_state=tree["model_state"]
    )


def restore_run(workdir, step=None, overrides=()):
    """(config, task, state) of run `workdir` at checkpoint `step` (None: the newest), or of
    an exported run (`export_run`: its weights file, sampling parts only)."""
    from jaxgen import data, train
    from jaxgen.train.checkpoint import first_line

    module, config = run_config(workdir, list(overrides))
    task = build_task(module, config)
    weights = Path(workdir) / WEIGHTS
    if weights.is_file() and not (Path(workdir) / "checkpoints").exists():
        if step is not None:
            raise UsageError(f"{workdir} is an exported run with one step; drop --step.")
        state = train.init_state(task, config, data.data_mesh())
        return config, task, load_sampling_weights(state, weights)
    ckpt = train.Checkpointer(Path(workdir) / "checkpoints", read_only=True)
    steps = ckpt.steps()
    if not steps or (step is not None and step not in steps):
        raise UsageError(
            f"no checkpoint {step if step is not None else ''} in {workdir}; "
            f"it has steps {steps or 'none'}."
        )
    state = train.abstract_state(task, config, data.data_mesh())
    try:
        restored = ckpt.restore(state, step)
    except Exception as e:  # noqa: BLE001 - any read failure of the chosen step
        reason = first_line(e)
        raise UsageError(
            f"checkpoint {step} in {workdir} is unreadable ({reason}); choose another --step "
            f"of {steps}."
        ) from None
    finally:
        ckpt.close()
    if restored is None:
        raise UsageError(
            f"none of the checkpoints {steps} in {Path(workdir) / 'checkpoints'} reads back "
            "(damaged files); train the run again."
        )
    return config, task, restored[0]


def export_run(workdir, out_dir, step=None, environment=None):
    """Writes `out_dir`, a small run directory to commit beside a result: run.json and
    config.json of run `workdir`, the sampling weights of checkpoint `step` (None: the
    newest; EMA params and model state, no optimizer state) in weights.msgpack, every
    evaluation of the run (eval.json, eval/step_N/eval.json) and result.json: experiment,
    seed, step, training seconds (the fit loop's log; None without one), the commits that
    trained it (run.json holds their whole records) and `environment` (commit, versions,
    machine) of the export.
    `jaxgen sample` and `jaxgen summarize` read it as they read the run."""
    import shutil

    import jax
    from flax import serialization

    from jaxgen import train
    from jaxgen.files import write_bytes_atomic, write_json
    from jaxgen.train.rundir import train_seconds

    out = Path(out_dir)
    if out.resolve() == Path(workdir).resolve():
        raise UsageError("export to another directory than the run's own.")
    config, task, state = restore_run(workdir, step)
    experiment, _ = train.read_run(workdir)
    # images a step: the batch, or a task's own images on every device (train.task_batches)
    batch = config.data.get("batch_size") or len(task.images) * jax.device_count()
    out.mkdir(parents=True, exist_ok=True)
    for name in ("run.json", "config.json"):
        shutil.copyfile(Path(workdir) / name, out / name)
    write_bytes_atomic(out / WEIGHTS, serialization.to_bytes(jax.device_get(sampling_tree(state))))
    evals = sorted(Path(workdir).glob("eval.json")) + sorted(
        Path(workdir).glob("eval/step_*/eval.json")
    )
    for f in evals:
        (out / f.relative_to(workdir)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, out / f.relative_to(workdir))
    trained_with = json.loads((out / "run.json").read_text()).get("trained_with", [])
    log = Path(workdir) / "metrics.jsonl"
    result = {
        "experiment": experiment,
        "seed": config.seed,
        "step": int(state.step),
        "train_seconds": (  # None when the run's training log is gone
            train_seconds(log, batch) if log.is_file() else None
        ),
        "evaluations": [str(f.relative_to(workdir)) for f in evals],
        # the commits that trained it (a run recorded before run.json held them: none)
        "trained_with_commits": [t.get("commit") for t in trained_with],
        **(environment or {}),
    }
    write_json(out / "result.json", result)
    return result


def check_num_samples(n: int) -> None:
    if n < 1:
        raise UsageError(f"--n {n}: the number of samples must be >= 1.")


def sample_run(workdir, n, seed, step=None, overrides=()):
    """(images [n, H, W, C] in [-1, 1], checkpoint step) drawn from run `workdir` with key
    `seed` (EMA weights)."""
    import jax
    import numpy as np

    from jaxgen import train

    check_num_samples(n)
    overrides = [*overrides, f"--config.train.num_samples={n}"]
    _, task, state = restore_run(workdir, step, overrides)
    if task.sample is None:
        name = train.read_run(workdir)[0]
        raise UsageError(
            f"{name} draws no images (it is not a generative model); evaluate the run with "
            f"`python experiments/{name}.py eval {workdir}`."
        )
    images = np.asarray(jax.device_get(task.sample(state, jax.random.PRNGKey(seed))))
    return images, int(state.step)


def caption_picture(workdirs, out, n: int, seed: int) -> list[str]:
    """`jaxgen captions`: the first `n` test captions drawn by each text-to-image run of
    `workdirs` (EMA weights, newest checkpoint, its experiment's ``caption_generator``, key
    `seed`), a PNG at `out` with a row per run and a column per caption; returns the
    captions. One UsageError, before anything is drawn, for a run that draws no images from
    captions or runs of different datasets."""
    import jax
    import numpy as np

    from jaxgen import data, train
    from jaxgen.evaluation.common import save_grid

    check_num_samples(n)
    loaded = []
    for workdir in workdirs:
        name, _ = train.read_run(workdir)
        module = load_experiment(name)
        if not hasattr(module, "caption_generator"):
            able = [e for e in experiment_names()
                    if hasattr(load_experiment(e), "caption_generator")]  # fmt: skip
            raise UsageError(
                f"{workdir} is a {name} run, which draws no images from captions: choose "
                f"runs of {', '.join(able)}."
            )
        loaded.append((module, *restore_run(workdir)))
    datasets = sorted({c.data.name for _, c, _, _ in loaded})
    if len(datasets) > 1:
        raise UsageError(f"The runs were trained on {datasets}: pick runs of one dataset.")
    split = data.load_captioned(datasets[0], "test", loaded[0][1].data.get("data_dir"))
    texts = list(split.captions[:n])
    tokens = data.caption_tokens(datasets[0], texts)
    rows = [module.caption_generator(c, state.ema_params)(tokens, jax.random.PRNGKey(seed))
            for module, c, _, state in loaded]  # fmt: skip
    save_grid(out, np.concatenate([np.asarray(r) for r in rows]), ncol=len(texts))
    return texts


def evaluate_run(workdir, metrics, n, seed, step=None, overrides=()):
    """`jaxgen eval`: scores n samples (key `seed`) of run `workdir` at checkpoint `step`
    with `metrics` (evaluate.METRICS; KID and precision/recall subsets from `seed`) against
    the test split, with the dataset's classifier features; writes workdir/eval.json and
    returns the results. Every input is checked before sampling. A GAN's demo grid
    (`sample.grid`) is replaced by plain samples; experiments whose sample hook shows
    something else (SAMPLE_HOOK_SHOWS: translations, one optimised image) are refused."""
    from jaxgen.files import write_json
    from jaxgen.metrics import evaluate
    from jaxgen.metrics.classifier import load_feature_net

    check_num_samples(n)
    unknown = [m for m in metrics if m not in evaluate.METRICS]
    if unknown:
        raise UsageError(
            f"unknown metric {unknown[0]!r}; choose from {','.join(evaluate.METRICS)}."
        )
    module, run = run_config(workdir, list(overrides))
    name = experiment_name(module)
    shows = getattr(module, "SAMPLE_HOOK_SHOWS", None)  # set where they are not samples
    if shows:
        fix = f"score it with `python experiments/{name}.py eval {workdir}`"
        raise UsageError(
            f"{name}'s sample hook shows {shows}, not samples of a model, so jaxgen eval has "
            f"nothing to score; {fix if hasattr(module, 'evaluate') else 'see its docstring'}."
        )
    overrides = list(overrides)
    if "grid" in run.get("sample", {}):  # GAN demo grids: FID sees plain samples
        overrides.append("--config.sample.grid=samples")
    try:
        load_feature_net(run.data.name)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None
    samples, sample_step = sample_run(workdir, n, seed, step, overrides)
    results = evaluate.evaluate_samples(
        samples, run.data.name, metrics, seed=seed, data_dir=run.data.get("data_dir")
    )
    results.update(step=sample_step, sample_seed=seed)
    write_json(Path(workdir) / "eval.json", results)
    return results


def exit_on_usage_error(fn):
    """Runs fn(); a UsageError is printed as one `jaxgen: error:` line, exit status 2."""
    try:
        return fn()
    except UsageError as e:
        print(f"jaxgen: error: {e}", file=sys.stderr)
        sys.exit(2)


def script_main(argv=None):
    """The entry point of an experiment script, called from its `if __name__ == "__main__"`:
    `python experiments/NAME.py [--workdir DIR] [--config.KEY=VALUE ...]` trains the script's
    experiment; `python experiments/NAME.py eval WORKDIR [--step N] [--config.eval.KEY=VALUE
    ...]` runs its own evaluation of a run."""
    module = sys.modules["__main__"]
    setup_process()
    argv = sys.argv[1:] if argv is None else argv
    name = experiment_name(module)
    p = argparse.ArgumentParser(prog=f"python {module.__file__}", description=module.__doc__)
    if argv[:1] == ["eval"]:
        if not hasattr(module, "evaluate"):
            p.exit(2, f"jaxgen: error: {name} has no evaluation of its own; use jaxgen eval.\n")
        p.add_argument("workdir", help="run directory of a training run")
        p.add_argument("--step", type=int, default=None, help="checkpoint (None: newest)")
        args, overrides = p.parse_known_args(argv[1:])
        results = exit_on_usage_error(
            lambda: module.evaluate(args.workdir, step=args.step, overrides=overrides)
        )
        print(json.dumps(results, indent=2))
        return
    from jaxgen import train

    p.add_argument("--workdir", default=f"runs/{name}", help="run directory")
    args, overrides = p.parse_known_args(argv)
    unknown = [a for a in overrides if not a.startswith("--config.")]
    if unknown:
        p.exit(2, f"jaxgen: error: unknown option {unknown[0]!r}; see --help.\n")
    train.maybe_initialize_distributed()
    exit_on_usage_error(lambda: train_experiment(module, args.workdir, overrides))
    print(f"Run directory: {Path(args.workdir).resolve()}")
