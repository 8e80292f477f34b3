"""`jaxgen` command line: `jaxgen list`, `jaxgen train EXPERIMENT [--workdir DIR]
[--config.KEY=VALUE ...]`."""

import argparse
import difflib
import importlib.util
import logging
import sys
from pathlib import Path

EXPERIMENTS_DIR = Path(__file__).resolve().parent.parent / "experiments"


def experiment_names():
    return sorted(p.stem for p in EXPERIMENTS_DIR.glob("*.py") if not p.stem.startswith("_"))


def load_experiment(name_or_path):
    """The experiment module named `name_or_path` (in experiments/) or at that path."""
    path = Path(name_or_path)
    if path.suffix != ".py":
        path = EXPERIMENTS_DIR / f"{name_or_path}.py"
    if not path.is_file():
        close = difflib.get_close_matches(str(name_or_path), experiment_names(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise SystemExit(
            f"jaxgen: unknown experiment {name_or_path!r}.{hint} "
            f"Known: {', '.join(experiment_names())}."
        )
    spec = importlib.util.spec_from_file_location(f"jaxgen_experiment_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cmd_list(args, overrides):
    from jaxgen import data

    print("Experiments:")
    for name in experiment_names():
        doc = (load_experiment(name).__doc__ or "").strip().splitlines()
        print(f"  {name:16s} {doc[0] if doc else ''}")
    print("Datasets:")
    for spec in data.DATASETS.values():
        where = "offline" if spec.offline() else "download"
        print(f"  {spec.name:16s} {'x'.join(map(str, spec.shape)):9s} [{where}] {spec.description}")


def cmd_train(args, overrides):
    from jaxgen import train

    train.maybe_initialize_distributed()
    module = load_experiment(args.experiment)
    try:
        config, rest = train.apply_overrides(module.get_config(), overrides)
    except ValueError as e:
        raise SystemExit(f"jaxgen train: {e}") from None
    if rest:
        raise SystemExit(f"jaxgen train: unrecognized arguments: {' '.join(rest)}")
    workdir = args.workdir or f"runs/{Path(args.experiment).stem}"
    train.run_experiment(config, module.make_task(config), workdir)
    print(f"Run directory: {Path(workdir).resolve()}")


def parser():
    p = argparse.ArgumentParser(prog="jaxgen", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="registered experiments and datasets").set_defaults(fn=cmd_list)
    t = sub.add_parser("train", help="train an experiment; resumes from DIR's checkpoints",
                       description="Extra --config.KEY=VALUE arguments override the config.")  # fmt: skip
    t.add_argument("experiment", help="name in experiments/ or path to an experiment .py")
    t.add_argument("--workdir", default=None, help="run directory (default: runs/EXPERIMENT)")
    t.set_defaults(fn=cmd_train)
    return p


def main(argv=None):
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("jaxgen").setLevel(logging.INFO)
    args, overrides = parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    args.fn(args, overrides)


if __name__ == "__main__":
    main()
