"""Seeded quality benchmark: each family's standard model trained with several seeds under one
preset, scored with one fixed metric protocol, summarised as mean +- std over seeds.

    runs = quality.plan(("vae", "dcgan", "ddpm"), seeds=(0, 1, 2), preset="quick")
    quality.run(runs, "quick", "runs/quality")  # = jaxgen bench --quality --seeds 0,1,2

Training goes through `jaxgen train` (`runs.train_experiment`, the one `fit` loop; the preset
and `--config.seed=s` as overrides), scoring through `jaxgen eval` (`runs.evaluate_run`: FID,
KID and precision/recall of the EMA samples with the dataset's classifier features, sample
key and KID/precision-recall subsets from EVAL_SEED) and, for a family with a likelihood,
its experiment's own evaluation (test-set -ELBO and IWAE NLL). Written to OUT:

    OUT/<family>/seed_<s>/               the run directory (an interrupted run resumes)
    OUT/<family>/seed_<s>/quality.json   that seed's raw numbers (kept: a second call with
                                         the same runs and protocol only re-summarises)
    OUT/quality.md                       one cross-family table, mean +- std over seeds
    OUT/quality.json                     protocol, resolved configs, commit, versions,
                                         machine, every seed's numbers and the summary
"""

import datetime
import json
import math
import re
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

from jaxgen import runs
from jaxgen.files import read_json, write_atomic, write_json
from jaxgen.train.provenance import environment
from jaxgen.train.rundir import flatten


class Family(NamedTuple):
    experiment: str  # experiments/<experiment>.py
    likelihood: bool  # its `evaluate(workdir, overrides=...)` reports the test-set NLL


FAMILIES = {
    "vae": Family("vae", likelihood=True),
    "dcgan": Family("dcgan", likelihood=False),
    "ddpm": Family("ddpm", likelihood=False),
}


class Protocol(NamedTuple):
    num_samples: int  # samples scored per run, against the test split
    iwae_k: int  # importance samples of the IWAE NLL


# `quick` is on digits, whose test split holds 297 images: 1,000 samples suffice there; the
# others score the 10,000 samples of the README's protocol.
PROTOCOLS = {
    "quick": Protocol(num_samples=1000, iwae_k=1000),
    "cpu": Protocol(num_samples=10_000, iwae_k=1000),
    "gpu": Protocol(num_samples=10_000, iwae_k=1000),
}
SAMPLE_METRICS = ("fid", "kid", "pr")
EVAL_SEED = 0
# Table columns: (name in a seed's numbers, header, scale shown).
COLUMNS = (
    ("fid", "FID", 1),
    ("kid", "KID", 1),
    ("precision", "precision", 1),
    ("recall", "recall", 1),
    ("iwae_nll_nats", "NLL (IWAE, nats)", 1),
    ("neg_elbo_nats", "-ELBO (nats)", 1),
    ("iwae_nll_bpd", "NLL (bits/dim)", 1),
    ("train_seconds", "train s", 1),
)
# `jaxgen summarize`'s default columns: COLUMNS' numbers, the autoencoders' and the GANs'.
SUMMARY_COLUMNS = (
    ("num_samples", "samples", 1),
    COLUMNS[0],
    ("fid_ancestral_n", "FID (ancestral row's samples)", 1),
    COLUMNS[1],
    ("is", "IS", 1),
    *COLUMNS[2:-1],
    ("accuracy", "accuracy for the label", 1),
    ("l1", "L1 (test pairs)", 1),
    *(
        (f"{k}_{d}", f"{name} {d.replace('_to_', '->')}", 1)
        for d in ("a_to_b", "b_to_a")
        for k, name in (
            ("accuracy", "target-class acc."),
            ("fid", "FID"),
            ("fid_input", "FID untranslated"),
        )
    ),
    ("cycle_l1_a", "cycle L1 a", 1),
    ("cycle_l1_b", "cycle L1 b", 1),
    ("active_units", "active dims", 1),
    ("recon_mse", "recon MSE", 1),
    ("noisy_mse", "corrupted MSE", 1),
    ("denoise_mse", "denoised MSE", 1),
    ("perplexity", "codebook perplexity", 1),
    ("codes_used", "codes used", 1),
    ("classes_covered", "classes covered", 1),
    ("kl_to_uniform", "KL(classes, uniform)", 1),
    ("seconds_per_image", "s / image", 1),
)
NLL_KEYS = ("iwae_nll_nats", "neg_elbo_nats", "iwae_nll_bpd", "neg_elbo_bpd")


class Run(NamedTuple):
    family: str
    seed: int
    overrides: tuple  # --config.KEY=VALUE: the preset, the seed, then any extra ones


def _override(key, value):
    """`--config.key=value` as `apply_overrides` reads it back (strings raw, others repr)."""
    return f"--config.{key}={value if isinstance(value, str) else repr(value)}"


def plan(families, seeds, preset, extra_overrides=None):
    """The runs of a benchmark, one per (family, seed); every input is checked first
    (ValueError naming the problem). `extra_overrides`: {family: [--config.KEY=VALUE]}
    applied after the preset (e.g. tiny models in tests)."""
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"unknown families {unknown}; choose from {','.join(FAMILIES)}.")
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds must be distinct integers >= 0, got {list(seeds)}.")
    if preset not in PROTOCOLS:
        raise ValueError(f"unknown preset {preset!r}; choose from {','.join(PROTOCOLS)}.")
    extra_overrides = extra_overrides or {}
    runs = []
    for family in families:
        base = (_override("preset", preset),)
        extra = tuple(extra_overrides.get(family, ()))
        runs += [Run(family, s, (*base, f"--config.seed={s}", *extra)) for s in seeds]
    return runs


def likelihood_numbers(experiment, workdir, iwae_k):
    """Test-set -ELBO and IWAE NLL (nats; bits/dim for likelihoods over 8-bit images) of a
    run, from its experiment's own evaluation (written to workdir/eval/step_N/)."""
    overrides = [
        "--config.eval.pictures=()",
        "--config.eval.num_fid_samples=0",
        f"--config.eval.iwae_k={iwae_k}",
    ]
    results = runs.load_experiment(experiment).evaluate(workdir, overrides=overrides)
    return {k: results[k] for k in NLL_KEYS if k in results}


def run_one(run, out_dir, protocol, log=print):
    """Trains and scores one seed; writes and returns its record. A record already there for
    the same overrides and protocol is returned as it is (the benchmark resumes)."""
    family = FAMILIES[run.family]
    workdir = Path(out_dir) / run.family / f"seed_{run.seed}"
    done = workdir / "quality.json"
    if done.is_file():
        record = json.loads(done.read_text())
        if record["overrides"] == list(run.overrides) and record["protocol"] == protocol._asdict():
            log(f"{run.family}, seed {run.seed}: done before, {done}")
            return record
    log(f"{run.family}, seed {run.seed}: training in {workdir}")
    env = environment()  # the code that trains this seed (a later call may only re-summarise)
    t = time.perf_counter()
    experiment = runs.load_experiment(family.experiment)
    state = runs.train_experiment(experiment, workdir, list(run.overrides))
    train_seconds = time.perf_counter() - t
    results = runs.evaluate_run(workdir, SAMPLE_METRICS, protocol.num_samples, EVAL_SEED)
    net = f"{results['dataset']}_classifier"  # the suffix of its result keys
    numbers = {k: results[f"{k}_{net}"] for k in ("fid", "kid", "precision", "recall")}
    if family.likelihood:
        numbers.update(likelihood_numbers(family.experiment, workdir, protocol.iwae_k))
    record = {
        "family": run.family,
        "experiment": family.experiment,
        "seed": run.seed,
        "overrides": list(run.overrides),
        "protocol": protocol._asdict(),
        "commit": env["commit"],
        "dirty": env["dirty"],
        "workdir": str(workdir),
        "steps": int(state.step),
        "dataset": results["dataset"],
        "numbers": numbers,
        "labels": {k.split(f"_{net}")[0]: v for k, v in results["labels"].items()},
        "feature_net": results["feature_net"],
        "feature_net_sha256": results["feature_net_sha256"],
        "train_seconds": train_seconds,  # wall seconds of the training call, compiles included
    }
    write_json(done, record)
    return record


def mean_std(values):
    """{"mean", "std": the sample standard deviation, ddof = 1 (None for one value)}."""
    values = [float(v) for v in values]
    std = statistics.stdev(values) if len(values) > 1 else None
    return {"mean": statistics.fmean(values), "std": std}


def summarize(records):
    """{family: {"steps", "seeds", "numbers": {name: {"mean", "std"}}}} over the seeds of
    each family; the training time is among the numbers as "train_seconds"."""
    summary = {}
    for family in dict.fromkeys(r["family"] for r in records):
        rows = [r for r in records if r["family"] == family]
        values = {k: [r["numbers"][k] for r in rows] for k in rows[0]["numbers"]}
        values["train_seconds"] = [r["train_seconds"] for r in rows]
        summary[family] = {
            "dataset": rows[0]["dataset"],
            "feature_net": rows[0]["feature_net"],
            "steps": rows[0]["steps"],
            "seeds": [r["seed"] for r in rows],
            "numbers": {k: mean_std(v) for k, v in values.items()},
        }
    return summary


def _decimals(x, significant):
    """Decimals that show `significant` significant digits of x (0 for x = 0)."""
    exponent = math.floor(math.log10(abs(x)) + 1e-9) if x else 0  # 1e-9: 0.01 - ulp is 1e-2
    return max(0, significant - 1 - exponent)


def _cell(stat, scale):
    """'mean +- std', to 3 significant digits of the mean or 2 of the std, whichever needs
    more decimals; the mean alone for one seed or seeds that agree; '-' for a missing number."""
    if stat is None:
        return "-"
    if not stat["std"]:
        return f"{stat['mean'] * scale:.{_decimals(stat['mean'] * scale, 3)}f}"
    mean, std = stat["mean"] * scale, stat["std"] * scale
    digits = max(_decimals(mean, 3), _decimals(std, 2))
    return f"{mean:.{digits}f} +- {std:.{digits}f}"


def table(summary, columns=COLUMNS):
    """Markdown table of `summary` (from `summarize` or `summarize_runs`): one row per family
    or run group, mean +- std over its seeds for each (name, header, scale) of `columns`;
    rows with none of the columns' numbers are left out."""
    header = ["family", "data", "steps", "seeds", *(h for _, h, _ in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for family, s in summary.items():
        numbers = [_cell(s["numbers"].get(k), scale) for k, _, scale in columns]
        if set(numbers) != {"-"}:
            cells = [family, s["dataset"], str(s["steps"]), ",".join(map(str, s["seeds"]))]
            lines.append("| " + " | ".join(cells + numbers) + " |")
    nets = ", ".join(sorted({s["feature_net"] for s in summary.values()} - {"-"}))
    note = (
        "\nmean +- std (ddof 1) over each row's seeds (the value for one seed or when they agree)."
    )
    if nets:
        note += (
            f" FID, KID and precision/recall with the classifier features of {nets} (sample "
            f"key and subsets: seed {EVAL_SEED})."
        )
    lines.append(note + " '-': the model has no such number.")
    return "\n".join(lines) + "\n"


# runs/vae_cpu_s0, runs/vae_cpu_s1 -> group vae_cpu; OUT/vae/seed_0 (--quality) -> vae
SEED_SUFFIX = re.compile(r"(_s|[_/]?seed_?)\d+$")


def eval_files(workdir):
    """The contents of a run's newest experiment evaluation (eval/step_N/eval.json) and of
    `jaxgen eval`'s eval.json, those that exist."""
    workdir = Path(workdir)
    files = [*sorted(workdir.glob("eval/step_*/eval.json"))[-1:], workdir / "eval.json"]
    fix = "evaluate the run again (it rewrites the file)."
    return [read_json(f, dict, fix) for f in files if f.exists()]


# The keys that name a row of an eval.json table (a list of rows, e.g. the diffusion steps
# and guidance tables, SDEdit's strengths): `jaxgen summarize` gives each row a line of its own.
ROW_KEYS = ("sampler", "steps", "guidance_w", "strength")


def _scalars(results, suffix):
    """The numbers of `results` but seed and step, their names without the feature-net
    `suffix` (a table row's ROW_KEYS stay: they name it)."""
    return {
        k.removesuffix(suffix): v
        for k, v in results.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k not in ("seed", "step")
    }


def run_numbers(workdir):
    """The results of a run directory, {row: numbers}: row "" holds the scalars of its
    experiment's newest evaluation (eval/step_N/eval.json) and of `jaxgen eval`'s eval.json
    but those its tables hold; each row of a table is a row of its own, named by its
    ROW_KEYS values ("sampler=ddim steps=10"). Metric names lose their feature-net suffix;
    {} for a run without either file."""
    rows = {}
    for results in eval_files(workdir):
        suffix = f"_{results.get('dataset')}_classifier"  # fid_digits_classifier -> fid
        tables = [
            v for v in results.values() if isinstance(v, list) and v and isinstance(v[0], dict)
        ]
        for row in (row for table in tables for row in table):
            name = " ".join(f"{k}={row[k]}" for k in ROW_KEYS if k in row)
            rows[name] = _scalars(row, suffix)
        in_rows = {k for name, numbers in rows.items() if name for k in numbers}
        run_level = _scalars(results, suffix).items()  # a key the rows hold is theirs
        rows.setdefault("", {}).update({k: v for k, v in run_level if k not in in_rows})
    return rows


def trained_steps(workdir, config):
    """The step a run's numbers are of: an exported run's result.json step (a run stopped
    early), else its config's train.steps."""
    result = Path(workdir) / "result.json"
    if result.is_file():
        return read_json(result, dict, "export the run again.").get(
            "step", config["train"]["steps"]
        )
    return config["train"]["steps"]


def summarize_runs(workdirs):
    """`summarize` for run directories named GROUP_s<seed> or GROUP/seed_<seed> (`jaxgen
    summarize`): one group per name without the seed suffix, whose configs may differ in
    `seed`, `eval.*` and paths that differ by their seed suffix only (ValueError otherwise,
    or for a directory that is not a run), and within a group one entry per row of
    `run_numbers` ("ddpm sampler=ddim steps=10"). Runs not yet evaluated (no numbers) are
    left out: (summary, [their directories])."""
    groups, unevaluated = {}, []
    for d in map(Path, workdirs):
        if not (d / "config.json").exists():
            raise ValueError(
                f"{d / 'config.json'} is missing: {d} is not a run directory; pass "
                "`jaxgen train` runs."
            )
        rows = run_numbers(d)
        if not rows:
            unevaluated.append(d)
            continue
        groups.setdefault(Path(SEED_SUFFIX.sub("", d.as_posix())).name, {})[d] = rows
    if not groups:
        raise ValueError(
            f"none of these runs is evaluated yet (no {unevaluated[0] / 'eval.json'}, nor "
            "eval/step_N/eval.json): run `jaxgen eval DIR` or `python experiments/NAME.py "
            "eval DIR` first."
        )
    summary = {}
    for name, group in groups.items():
        dirs = list(group)
        fix = "restore it from a copy of the run."
        configs = [read_json(d / "config.json", dict, fix) for d in dirs]
        # A path to the seed's own run (vae_s1 for seed 1) counts as the seed; config.json's
        # `eval` section is the training-time default, not what an evaluation ran with.
        unseeded = [
            {
                k: SEED_SUFFIX.sub("", v) if isinstance(v, str) else v
                for k, v in flatten(c).items()
                if k != "seed" and not k.startswith("eval.")
            }
            for c in configs
        ]
        first = unseeded[0]
        diff = sorted(
            {k for u in unseeded for k in u.keys() | first.keys() if u.get(k) != first.get(k)}
        )
        if diff:
            raise ValueError(
                f"runs of group {name!r} differ in {', '.join(diff)}, not only in seed; "
                "give them different names."
            )
        nets = [e["feature_net"] for d in dirs for e in eval_files(d) if "feature_net" in e]
        for row in dict.fromkeys(r for rows in group.values() for r in rows):
            numbers = [rows.get(row, {}) for rows in group.values()]
            summary[f"{name} {row}".strip()] = {
                "dataset": configs[0]["data"].get("name", "-"),  # "-": the task's own data
                "feature_net": nets[0] if nets else "-",
                "steps": trained_steps(dirs[0], configs[0]),
                "seeds": [c["seed"] for c in configs],
                "numbers": {
                    k: mean_std([n[k] for n in numbers])
                    for k in set.intersection(*map(set, numbers))
                },
            }
    return summary, unevaluated


def columns(summary, keys=None):
    """Table columns (name, header, scale) for `summary`: `keys` (ValueError for one that no
    row has, naming those there are), or the SUMMARY_COLUMNS that some row has."""
    present = set().union(*(s["numbers"] for s in summary.values()))
    if keys is None:
        return tuple(c for c in SUMMARY_COLUMNS if c[0] in present)
    missing = [k for k in keys if k not in present]
    if missing:
        raise ValueError(
            f"no run has a number {missing[0]!r}; there are: {', '.join(sorted(present))}."
        )
    headers = {name: header for name, header, _ in SUMMARY_COLUMNS}
    return tuple((k, headers.get(k, k), 1) for k in keys)


def run(runs, preset, out_dir, protocol=None, log=print):
    """Runs the benchmark `runs` (from `plan`) under `preset`, scored with `protocol`
    (None: the preset's); writes OUT/quality.md and OUT/quality.json (module doc) and
    returns what quality.json holds."""
    out_dir = Path(out_dir)
    protocol = protocol or PROTOCOLS[preset]
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    records = [run_one(r, out_dir, protocol, log) for r in runs]
    summary = summarize(records)
    seeds = list(dict.fromkeys(r.seed for r in runs))
    configs = {  # one per family: its seeds' configs differ in `seed` only
        r["family"]: json.loads((Path(r["workdir"]) / "config.json").read_text()) for r in records
    }
    result = {
        "started": started,
        "argv": sys.argv,
        **environment(),
        "preset": preset,
        "protocol": {
            **protocol._asdict(),
            "sample_metrics": list(SAMPLE_METRICS),
            "eval_seed": EVAL_SEED,
            "reference_split": "test",
            "feature_nets": {r["feature_net"]: r["feature_net_sha256"] for r in records},
        },
        "seeds": seeds,
        "configs": configs,
        "runs": records,
        "summary": summary,
    }
    write_json(out_dir / "quality.json", result)
    text = table(summary)
    write_atomic(out_dir / "quality.md", lambda p: Path(p).write_text(text))
    log(f"\n{text}\nWrote {out_dir / 'quality.md'} and {out_dir / 'quality.json'}")
    return result


# README tables generated from committed result directories: a block
#   <!-- results: results/dcgan_cpu_s* --keys fid,kid -->
#   (the table)
#   <!-- /results -->
# holds the table `jaxgen summarize` makes of those directories (globs relative to the
# README's folder). `jaxgen summarize --readme README.md` rewrites every block;
# tests/test_readme.py checks that none is stale.
RESULTS_BLOCK = re.compile(
    r"(<!-- results: (?P<args>[^\n]*?) -->\n)(?P<table>.*?)(<!-- /results -->)", re.S
)


def results_table(args: str, root: Path) -> str:
    """The summarize table of a results block's arguments: DIR-globs [--keys K1,K2]."""
    patterns, _, keys = args.partition("--keys")
    keys = keys.strip().split(",") if keys.strip() else None
    patterns = patterns.split()
    dirs = [p for pattern in patterns for p in sorted(root.glob(pattern))]
    if not dirs:
        raise ValueError(f"results block {args!r}: no directory matches under {root}.")
    summary, unevaluated = summarize_runs(dirs)
    if unevaluated:
        raise ValueError(f"results block {args!r}: not evaluated: {unevaluated}.")
    return table(summary, columns(summary, keys))


def readme_tables(text: str, root: Path) -> str:
    """`text` with the table of every results block made anew from `root`'s directories."""
    return RESULTS_BLOCK.sub(
        lambda m: m.group(1) + results_table(m.group("args"), root) + m.group(4), text
    )
