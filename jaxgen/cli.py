"""jaxgen command line.

jaxgen list                                      experiments and datasets
jaxgen train EXPERIMENT [--workdir DIR] [--config.KEY=VALUE ...]
jaxgen sample DIR [--n 64] [--seed 0] [--step N] [--out grid.png|samples.npz]
                  [--config.KEY=VALUE ...]       (sampling options of the experiment)
jaxgen eval DIR [--metrics fid,kid,is,pr,modes] [--n 10000] [--seed 0] [--step N]
jaxgen captions DIR [DIR ...] [--n 8] [--seed 0] [--out captions.png]
                                                 the same test captions drawn by each
                                                 text-to-image run, a row per run
jaxgen export DIR OUT [--step N]                 a small run directory to commit: sampling
                                                 weights, configs, evaluations, result.json
jaxgen bench [--config.KEY=VALUE ...]            throughput vs PyTorch (BENCHMARKS.md)
jaxgen bench --quality [--seeds 0,1,2] [--preset quick] [--families vae,dcgan,ddpm]
                       [--out DIR]               seeded quality benchmark (README)
jaxgen summarize DIR [DIR ...] [--keys fid,recon_mse] [--out table.md]
                                                 mean +- std over seeds of evaluated runs
"""

import argparse
import sys
from pathlib import Path

from jaxgen import runs
from jaxgen.runs import UsageError, closest


def cmd_list(args, overrides):
    from jaxgen import data

    print("Experiments:")
    for name in runs.experiment_names():
        doc = (runs.load_experiment(name).__doc__ or "").strip().splitlines()
        print(f"  {name:16s} {doc[0] if doc else ''}")
    print("Datasets:")
    for spec in data.DATASETS.values():
        where = "offline" if spec.offline() else "download"
        shape = "x".join(map(str, spec.shape))
        print(f"  {spec.name:16s} {shape:9s} [{where}] {spec.description}")


def cmd_train(args, overrides):
    from jaxgen import train

    train.maybe_initialize_distributed()
    module = runs.load_experiment(args.experiment)
    workdir = args.workdir or f"runs/{runs.experiment_name(module)}"
    runs.train_experiment(module, workdir, overrides)
    print(f"Run directory: {Path(workdir).resolve()}")


def cmd_sample(args, overrides):

    from jaxgen.files import write_npz_atomic
    from jaxgen.train.writers import image_grid, save_png

    if Path(args.out).suffix not in (".png", ".npz"):
        raise UsageError(f"--out {args.out}: write to a .png grid or a .npz file.")
    images, step = runs.sample_run(args.workdir, args.n, args.seed, args.step, overrides)
    out = Path(args.out)
    if out.suffix == ".png":
        save_png(out, image_grid(images), scale=max(1, 256 // (images.shape[1] * 8)))
    else:
        write_npz_atomic(out, samples=images)
    print(f"Wrote {len(images)} samples (step {step}, seed {args.seed}) to {out}")


def cmd_eval(args, overrides):
    results = runs.evaluate_run(
        args.workdir, args.metrics.split(","), args.n, args.seed, args.step, overrides
    )
    for key, label in results["labels"].items():
        print(f"{label}: {results[key]}")
    print(f"Wrote {Path(args.workdir) / 'eval.json'}")


def cmd_captions(args, overrides):
    if Path(args.out).suffix != ".png":
        raise UsageError(f"--out {args.out}: the picture is a .png file.")
    if overrides:
        raise UsageError(f"jaxgen captions takes no --config overrides, got {overrides[0]}.")
    texts = runs.caption_picture(args.workdirs, args.out, args.n, args.seed)
    print(f"Wrote {args.out}: rows {', '.join(args.workdirs)}; captions:")
    print("\n".join(f"  {i + 1}. {t}" for i, t in enumerate(texts)))


def cmd_export(args, overrides):
    from jaxgen.train.provenance import environment

    if overrides:
        raise UsageError(f"{overrides[0].split('=')[0]}: export takes no --config options.")
    result = runs.export_run(args.workdir, args.out, args.step, environment())
    print(f"Exported step {result['step']} of {args.workdir} to {args.out}")


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
    if args.readme:
        update_readme(Path(args.readme))
        return
    if not args.workdirs:
        raise UsageError("summarize needs run directories (or --readme FILE).")
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
        from jaxgen.files import write_atomic

        write_atomic(args.out, lambda p: Path(p).write_text(text))
        print(f"Wrote {args.out}")


def update_readme(path):
    """Rewrites the results blocks of the markdown file `path` from their directories."""
    from jaxgen.bench import quality
    from jaxgen.files import write_atomic

    text = path.read_text()
    try:
        new = quality.readme_tables(text, path.parent)
    except ValueError as e:
        raise UsageError(str(e)) from None
    write_atomic(path, lambda p: Path(p).write_text(new))
    blocks = len(quality.RESULTS_BLOCK.findall(new))
    print(f"{path}: {blocks} results tables, {'updated' if new != text else 'unchanged'}")


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
    t.add_argument("experiment", help="a registered experiment's name (jaxgen list)")
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
    k = sub.add_parser(
        "captions",
        help="the same test captions drawn by each text-to-image run, side by side",
        formatter_class=fmt,
        description="A PNG with a row per run (dalle, imagen, unclip; EMA weights, newest "
        "checkpoint) and a column per caption: the first --n test captions.",
    )
    k.add_argument("workdirs", nargs="+", help="run directories of text-to-image runs")
    k.add_argument("--n", type=int, default=8, help="number of test captions")
    k.add_argument("--seed", type=int, default=0, help="sampling seed")
    k.add_argument("--out", default="captions.png", help="the PNG picture")
    k.set_defaults(fn=cmd_captions)
    x = sub.add_parser(
        "export",
        help="a small run directory to commit (sampling weights, configs, evaluations)",
        formatter_class=fmt,
        description="Writes OUT: run.json, config.json, weights.msgpack (EMA params and model "
        "state of the checkpoint, no optimizer state), the run's eval.json files and "
        "result.json (seed, step, training seconds, commit, versions, machine). `jaxgen "
        "sample OUT` and `jaxgen summarize OUT` read it like the run.",
    )
    x.add_argument("workdir", help="run directory of a `jaxgen train` run")
    x.add_argument("out", help="output directory, e.g. results/NAME")
    x.add_argument("--step", type=int, default=None, help="checkpoint step (None: newest)")
    x.set_defaults(fn=cmd_export)
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
    m.add_argument("workdirs", nargs="*", metavar="DIR", help="evaluated run directories")
    m.add_argument(
        "--readme", default=None, help="rewrite this markdown file's <!-- results --> tables"
    )
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


def main(argv=None):
    runs.setup_process()
    p, sub = parser()

    def run():
        args, overrides = split_args(p, sub, sys.argv[1:] if argv is None else argv)
        args.fn(args, overrides)

    runs.exit_on_usage_error(run)


if __name__ == "__main__":
    main()
