"""jaxgen command line.

jaxgen list                                      experiments and datasets
jaxgen train EXPERIMENT [--workdir DIR] [--config.KEY=VALUE ...]
jaxgen sample DIR [--n 64] [--seed 0] [--step N] [--out grid.png|samples.npz]
                  [--config.KEY=VALUE ...]       (sampling options of the experiment)
jaxgen eval DIR [--metrics fid,kid,is,pr,modes] [--n 10000] [--seed 0] [--step N]
jaxgen bench [--config.KEY=VALUE ...]            throughput vs PyTorch (BENCHMARKS.md)
jaxgen bench --quality [--seeds 0,1,2] [--preset quick] [--families vae,dcgan,ddpm]
                       [--out DIR]               seeded quality benchmark (README)
jaxgen summarize DIR [DIR ...] [--keys fid,recon_mse] [--out table.md]
                                                 mean +- std over seeds of evaluated runs
"""

import argparse
import difflib
import importlib.util
import json
import logging
import sys
from pathlib import Path

EXPERIMENTS_DIR = Path(__file__).resolve().parent.parent / "experiments"


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


def experiment_names():
    """Experiment files: experiments/*.py defining get_config() (not the helper scripts)."""
    return sorted(
        p.stem for p in EXPERIMENTS_DIR.glob("*.py") if "\ndef get_config(" in p.read_text()
    )


def closest(word, choices):
    close = difflib.get_close_matches(word, choices, n=3)
    return f" Did you mean {' or '.join(close)}?" if close else ""


def load_experiment(name_or_path):
    """The experiment module named `name_or_path` (in experiments/) or at that path."""
    path = Path(name_or_path)
    if path.suffix != ".py":
        path = EXPERIMENTS_DIR / f"{name_or_path}.py"
    if not path.is_file():
        raise UsageError(
            f"unknown experiment {name_or_path!r}.{closest(str(name_or_path), experiment_names())}"
            f" Known: {', '.join(experiment_names())}."
        )
    spec = importlib.util.spec_from_file_location(f"jaxgen_experiment_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def configure(base, overrides):
    from jaxgen import train

    try:
        return train.apply_overrides(base, overrides)[0]
    except ValueError as e:
        raise UsageError(str(e)) from None


def cmd_list(args, overrides):
    from jaxgen import data

    print("Experiments:")
    for name in experiment_names():
        doc = (load_experiment(name).__doc__ or "").strip().splitlines()
        print(f"  {name:16s} {doc[0] if doc else ''}")
    print("Datasets:")
    for spec in data.DATASETS.values():
        where = "offline" if spec.offline() else "download"
        shape = "x".join(map(str, spec.shape))
        print(f"  {spec.name:16s} {shape:9s} [{where}] {spec.description}")


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
        name = Path(module.__file__).stem
        raise UsageError(
            f"the config has no {', '.join(missing)}, which {name} reads now: the run is from "
            f"an older jaxgen. Add {', '.join(f'{k}={defaults[k]!r}' for k in missing)} (the "
            "defaults) to its config.json, or train it again."
        ) from None


def train_experiment(experiment, workdir, overrides):
    """`jaxgen train EXPERIMENT --workdir WORKDIR [overrides]`: trains (or resumes) the run;
    returns its final TrainState."""
    from jaxgen import train

    module = load_experiment(experiment)
    config = configure(module.get_config(), overrides)
    task = build_task(module, config)
    try:
        return train.run_experiment(config, task, workdir, experiment=Path(experiment).stem)
    except (train.RunDirError, train.ConfigError) as e:
        raise UsageError(str(e)) from None
    except (train.CheckpointError, train.NonFiniteLossError) as e:
        raise SystemExit(f"jaxgen: error: {e}") from None


def cmd_train(args, overrides):
    from jaxgen import train

    train.maybe_initialize_distributed()
    workdir = args.workdir or f"runs/{Path(args.experiment).stem}"
    train_experiment(args.experiment, workdir, overrides)
    print(f"Run directory: {Path(workdir).resolve()}")


def run_config(workdir, overrides):
    """(experiment module, config with `overrides`) of run directory `workdir`."""
    import ml_collections

    from jaxgen import train

    try:
        experiment, config_dict = train.read_run(workdir)
    except train.RunDirError as e:
        raise UsageError(str(e)) from None
    return load_experiment(experiment), configure(ml_collections.ConfigDict(config_dict), overrides)


def restore_run(workdir, step, overrides):
    """(config, task, state) of run `workdir` at checkpoint `step` (None: the newest)."""
    from jaxgen import data, train

    module, config = run_config(workdir, overrides)
    task = build_task(module, config)
    ckpt = train.Checkpointer(Path(workdir) / "checkpoints")
    steps = ckpt.steps()
    if not steps or (step is not None and step not in steps):
        raise UsageError(
            f"no checkpoint {step if step is not None else ''} in {workdir}; "
            f"it has steps {steps or 'none'}."
        )
    state = train.init_state(task, config, data.data_mesh())
    state, _ = ckpt.restore(state, step)
    ckpt.close()
    return config, task, state


def check_num_samples(n):
    if n < 1:
        raise UsageError(f"--n {n}: the number of samples must be >= 1.")


def cmd_sample(args, overrides):
    import jax
    import numpy as np

    from jaxgen.train.writers import image_grid, save_png, write_atomic

    check_num_samples(args.n)
    if Path(args.out).suffix not in (".png", ".npz"):
        raise UsageError(f"--out {args.out}: write to a .png grid or a .npz file.")
    overrides = [*overrides, f"--config.train.num_samples={args.n}"]
    _, task, state = restore_run(args.workdir, args.step, overrides)
    images = np.asarray(jax.device_get(task.sample(state, jax.random.PRNGKey(args.seed))))
    out = Path(args.out)
    if out.suffix == ".png":
        save_png(out, image_grid(images), scale=max(1, 256 // (images.shape[1] * 8)))
    else:
        write_atomic(out, lambda p: np.savez(open(p, "wb"), samples=images))  # noqa: SIM115
    print(f"Wrote {len(images)} samples (step {int(state.step)}, seed {args.seed}) to {out}")


def evaluate_run(workdir, metrics, n, seed, step=None, overrides=()):
    """`jaxgen eval`: scores n samples (key `seed`) of run `workdir` at checkpoint `step`
    with `metrics` (evaluate.METRICS; KID and precision/recall subsets from `seed`) against
    the test split, with the dataset's classifier features; writes workdir/eval.json and
    returns the results. Every input is checked before sampling. A GAN's demo grid
    (`sample.grid`) is replaced by plain samples; experiments whose sample hook shows
    something else (SAMPLE_HOOK_SHOWS: translations, one optimised image) are refused."""
    import jax
    import numpy as np

    from jaxgen.metrics import evaluate
    from jaxgen.metrics.classifier import load_feature_net

    check_num_samples(n)
    unknown = [m for m in metrics if m not in evaluate.METRICS]
    if unknown:
        raise UsageError(
            f"unknown metric {unknown[0]!r}; choose from {','.join(evaluate.METRICS)}."
        )
    module, run = run_config(workdir, overrides)
    name = Path(module.__file__).stem
    shows = getattr(module, "SAMPLE_HOOK_SHOWS", None)  # set where they are not samples
    if shows:
        fix = f"score it with `python experiments/{name}.py eval {workdir}`"
        raise UsageError(
            f"{name}'s sample hook shows {shows}, not samples of a model, so jaxgen eval has "
            f"nothing to score; {fix if hasattr(module, 'evaluate') else 'see its docstring'}."
        )
    overrides = [*overrides, f"--config.train.num_samples={n}"]
    if "grid" in run.get("sample", {}):  # GAN demo grids: FID sees plain samples
        overrides.append("--config.sample.grid=samples")
    try:
        load_feature_net(run.data.name)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None
    config, task, state = restore_run(workdir, step, overrides)
    samples = np.asarray(jax.device_get(task.sample(state, jax.random.PRNGKey(seed))))
    results = evaluate.evaluate_samples(
        samples, config.data.name, metrics, seed=seed, data_dir=config.data.get("data_dir")
    )
    results.update(step=int(state.step), sample_seed=seed)
    evaluate.write_eval_json(Path(workdir) / "eval.json", results)
    return results


def cmd_eval(args, overrides):
    results = evaluate_run(
        args.workdir, args.metrics.split(","), args.n, args.seed, args.step, overrides
    )
    for key, label in results["labels"].items():
        print(f"{label}: {results[key]}")
    print(f"Wrote {Path(args.workdir) / 'eval.json'}")


def cmd_bench(args, overrides):
    if args.quality:
        bench_quality(args, overrides)
        return
    from jaxgen.bench import harness

    quality_options = ("seeds", "preset", "families", "out")
    given = [f"--{o}" for o in quality_options if getattr(args, o) != BENCH_DEFAULTS[o]]
    if given:
        raise UsageError(f"{', '.join(given)}: options of `jaxgen bench --quality`.")
    try:
        config = harness.configure(overrides)
    except ValueError as e:
        raise UsageError(str(e)) from None
    harness.run(config)


def bench_quality(args, overrides):
    from jaxgen.bench import quality

    if overrides:
        raise UsageError(
            f"{overrides[0].split('=')[0]}: --config.* options set the throughput benchmark; "
            "the quality benchmark is fixed by --preset."
        )
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise UsageError(f"--seeds {args.seeds}: write integers, e.g. 0,1,2.") from None
    try:
        runs = quality.plan(args.families.split(","), seeds, args.preset)
    except ValueError as e:
        raise UsageError(str(e)) from None
    quality.run(runs, args.preset, args.out)


def cmd_summarize(args, overrides):
    from jaxgen.bench import quality

    if overrides:
        raise UsageError(f"{overrides[0].split('=')[0]}: summarize takes no --config options.")
    try:
        summary, unevaluated = quality.summarize_runs(args.workdirs)
        columns = quality.columns(summary, args.keys.split(",") if args.keys else None)
    except ValueError as e:
        raise UsageError(str(e)) from None
    text = quality.table(summary, columns)
    print(text, end="")
    if unevaluated:
        print(f"Left out, not evaluated: {' '.join(map(str, unevaluated))}", file=sys.stderr)
    if args.out:
        from jaxgen.train.writers import write_atomic

        write_atomic(args.out, lambda p: Path(p).write_text(text))
        print(f"Wrote {args.out}")


BENCH_DEFAULTS = {"seeds": "0,1,2", "preset": "quick", "families": "vae,dcgan,ddpm",
                  "out": "runs/quality"}  # fmt: skip


class BenchFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Option defaults shown; description and the config listing kept as written."""


class BenchHelp(argparse.Action):
    """-h for `jaxgen bench`: its options, then the throughput benchmark's config keys with
    their defaults (read from jaxgen.bench only when help is asked for)."""

    def __init__(self, option_strings, dest, **kwargs):
        kwargs = {"default": argparse.SUPPRESS, "help": "show this help and exit"}
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from jaxgen.bench import harness
        from jaxgen.train.config import all_keys

        config = harness.default_config()
        text = {k: str(v) if isinstance(v, str) else repr(v) for k, v in config.items()}
        keys = [f"  --config.{k}={text[k]}" for k in all_keys(config)]
        parser.epilog = "throughput options (default values):\n" + "\n".join(keys)
        parser.print_help()
        parser.exit()


def parser():
    p = argparse.ArgumentParser(
        prog="jaxgen", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    fmt = argparse.ArgumentDefaultsHelpFormatter
    sub.add_parser("list", help="experiments and datasets").set_defaults(fn=cmd_list)
    t = sub.add_parser(
        "train",
        help="train an experiment (resumes DIR's run)",
        formatter_class=fmt,
        description="Extra --config.KEY=VALUE arguments override the config.",
    )
    t.add_argument("experiment", help="name in experiments/ or path to an experiment .py")
    t.add_argument("--workdir", default=None, help="run directory (None: runs/EXPERIMENT)")
    t.set_defaults(fn=cmd_train)
    s = sub.add_parser(
        "sample",
        help="samples from a run's checkpoint (EMA weights)",
        formatter_class=fmt,
        description="Extra --config.KEY=VALUE arguments set sampling options.",
    )
    s.add_argument("workdir", help="run directory of a `jaxgen train` run")
    s.add_argument("--n", type=int, default=64, help="number of samples")
    s.add_argument("--seed", type=int, default=0, help="sampling seed")
    s.add_argument("--step", type=int, default=None, help="checkpoint step (None: newest)")
    s.add_argument("--out", default="samples.png", help="a .png grid or a .npz of samples")
    s.set_defaults(fn=cmd_sample)
    e = sub.add_parser(
        "eval",
        help="metrics of a run's samples -> DIR/eval.json",
        formatter_class=fmt,
        description="Samples --n images from the checkpoint (EMA weights) and "
        "scores them against the test split with the dataset's feature classifier.",
    )
    e.add_argument("workdir", help="run directory of a `jaxgen train` run")
    e.add_argument("--metrics", default="fid,kid,is,pr,modes", help="comma-separated")
    e.add_argument("--n", type=int, default=10000, help="number of samples")
    e.add_argument("--seed", type=int, default=0, help="sampling and subset seed")
    e.add_argument("--step", type=int, default=None, help="checkpoint step (None: newest)")
    e.set_defaults(fn=cmd_eval)
    b = sub.add_parser(
        "bench",
        help="throughput vs PyTorch, or --quality: the seeded quality benchmark",
        formatter_class=BenchFormatter,
        add_help=False,
        description="Without --quality: the throughput benchmark against PyTorch (BENCHMARKS.md),\n"
        "set by the --config.KEY=VALUE options below (as python experiments/bench.py).\n"
        "With --quality: trains each family's standard model with every seed under the\n"
        "preset, scores it with the fixed metric protocol (README: Seeded benchmark\n"
        "protocol) and writes OUT/quality.md and OUT/quality.json.",
    )
    b.add_argument("-h", "--help", action=BenchHelp)
    b.add_argument("--quality", action="store_true", help="the seeded quality benchmark")
    b.add_argument("--seeds", default=BENCH_DEFAULTS["seeds"], help="training seeds")
    b.add_argument("--preset", default=BENCH_DEFAULTS["preset"], help="quick, cpu or gpu")
    b.add_argument("--families", default=BENCH_DEFAULTS["families"], help="comma-separated")
    b.add_argument("--out", default=BENCH_DEFAULTS["out"], help="output directory")
    b.set_defaults(fn=cmd_bench)
    m = sub.add_parser(
        "summarize",
        help="mean +- std over seeds of evaluated runs (markdown table)",
        formatter_class=fmt,
        description="Groups run directories named NAME_s<seed> by NAME (their configs may "
        "differ in seed only) and tabulates mean +- std (ddof 1) of the numbers in their "
        "eval.json (jaxgen eval) and eval/step_N/eval.json (python experiments/X.py eval).",
    )
    m.add_argument("workdirs", nargs="+", metavar="DIR", help="evaluated run directories")
    m.add_argument("--keys", default=None, help="comma-separated (None: the headline numbers)")
    m.add_argument("--out", default=None, help="also write the table to this file")
    m.set_defaults(fn=cmd_summarize)
    return p, sub


def split_args(p, sub, argv):
    """(namespace, --config.* overrides); a mistyped command or option names the closest."""
    commands = list(sub.choices)
    if argv and not argv[0].startswith("-") and argv[0] not in commands:
        raise UsageError(f"unknown command {argv[0]!r}.{closest(argv[0], commands)}")
    args, rest = p.parse_known_args(argv)
    unknown = [a for a in rest if not a.startswith("--config.")]
    if unknown:
        options = [o for a in sub.choices[args.command]._actions for o in a.option_strings]
        word = unknown[0].split("=")[0]
        raise UsageError(f"unknown option {word!r} for {args.command}.{closest(word, options)}")
    return args, rest


def eval_main(evaluate, argv=None):
    """`python experiments/NAME.py eval WORKDIR [--step N] [--config.eval.KEY=VALUE ...]`."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    parser = argparse.ArgumentParser(description=evaluate.__doc__)
    parser.add_argument("workdir", help="run directory of a `jaxgen train` run")
    parser.add_argument("--step", type=int, default=None, help="checkpoint (None: newest)")
    args, overrides = parser.parse_known_args(argv)
    try:
        results = evaluate(args.workdir, step=args.step, overrides=overrides)
    except UsageError as e:
        parser.exit(2, f"error: {e}\n")
    print(json.dumps(results, indent=2))


def experiment_main(script, evaluate, argv):
    """`python SCRIPT eval WORKDIR [--step N] [--config.eval.KEY=V ...]` evaluates a run of
    SCRIPT with `evaluate(workdir, step=, overrides=)`; anything else is `jaxgen train SCRIPT`."""
    if argv[:1] == ["eval"]:
        eval_main(evaluate, argv[1:])
    else:
        main(["train", script, *argv])


def main(argv=None):
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("jaxgen").setLevel(logging.INFO)
    p, sub = parser()
    try:
        args, overrides = split_args(p, sub, sys.argv[1:] if argv is None else argv)
        args.fn(args, overrides)
    except UsageError as e:
        print(f"jaxgen: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
