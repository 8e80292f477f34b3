"""`jaxgen bench`: its help, and the seeded quality benchmark on a tiny preset: the same seed
gives the same numbers, another seed other numbers, and the summary files record what the
protocol promises."""

import contextlib
import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.experimental.compilation_cache import compilation_cache

from jaxgen import cli
from jaxgen.bench import quality

TINY = [  # a few steps of a tiny VAE: what is tested is the protocol, not the model
    "--config.model.latent_dim=4",
    "--config.model.widths=(8,16)",
    "--config.train.steps=3",
    "--config.data.batch_size=16",
    "--config.train.checkpoint_every=3",
    "--config.train.num_samples=8",
]
PROTOCOL = quality.Protocol(num_samples=64, iwae_k=10)


@contextlib.contextmanager
def persistent_compilation_cache(path):
    """JAX's on-disk compilation cache in `path` while inside: the runs after the first
    load their compiled programs instead of compiling them again (the same programs, so
    the same numbers)."""
    options = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
    before = [getattr(jax.config, o) for o in options]
    for option, value in zip(options, (str(path), 0), strict=True):
        jax.config.update(option, value)
    compilation_cache.reset_cache()
    try:
        yield
    finally:
        for option, value in zip(options, before, strict=True):
            jax.config.update(option, value)
        compilation_cache.reset_cache()


@pytest.fixture(scope="module")
def benchmarks(tmp_path_factory):
    """The VAE with seeds 0 and 1 in one output directory, with seed 0 again in another;
    then the first benchmark once more (its log in out["again"])."""
    with (
        pytest.MonkeyPatch.context() as mp,
        persistent_compilation_cache(tmp_path_factory.mktemp("jax_cache")),
    ):
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))  # FID statistics
        out = {}
        for name, seeds in (("a", (0, 1)), ("b", (0,))):
            runs = quality.plan(("vae",), seeds, "quick", {"vae": TINY})
            out[name] = tmp_path_factory.mktemp(name)
            quality.run(runs, "quick", out[name], protocol=PROTOCOL, log=lambda *a: None)
        out["again"] = []
        runs = quality.plan(("vae",), (0, 1), "quick", {"vae": TINY})
        quality.run(runs, "quick", out["a"], protocol=PROTOCOL, log=out["again"].append)
    return out


def per_seed(out, seed):
    return json.loads((out / "vae" / f"seed_{seed}" / "quality.json").read_text())


def test_same_seed_same_numbers_other_seed_other_numbers(benchmarks):
    (a0, a1), b0 = [per_seed(benchmarks["a"], s) for s in (0, 1)], per_seed(benchmarks["b"], 0)
    assert a0["steps"] == 3
    nll = {"iwae_nll_nats", "neg_elbo_nats"}  # Bernoulli likelihood: nats, no bits/dim
    assert set(a0["numbers"]) == {"fid", "kid", "precision", "recall", *nll}
    assert a0["numbers"] == b0["numbers"]  # bit-identical: the run is a function of the seed
    assert all(a0["numbers"][k] != a1["numbers"][k] for k in ("fid", "kid", "iwae_nll_nats"))
    # the IWAE bound (k = 10) is at least as tight as the ELBO
    assert a0["numbers"]["iwae_nll_nats"] <= a0["numbers"]["neg_elbo_nats"] + 1e-3


def test_summary_files_record_protocol_environment_and_configs(benchmarks):
    out = benchmarks["a"]
    summary = json.loads((out / "quality.json").read_text())
    assert summary["preset"] == "quick" and summary["seeds"] == [0, 1]
    assert summary["protocol"]["num_samples"] == PROTOCOL.num_samples
    [net] = summary["protocol"]["feature_nets"]
    assert net.startswith("digits_classifier/v") and summary["summary"]["vae"]["feature_net"] == net
    assert len(summary["commit"]) == 40 and isinstance(summary["dirty"], bool)
    assert len(per_seed(out, 0)["commit"]) == 40  # the code that trained that seed
    assert {"jax", "flax", "optax", "numpy"} <= {k for k, v in summary["versions"].items() if v}
    assert summary["machine"]["cpu_count"] >= 1 and summary["machine"]["devices"]
    config = summary["configs"]["vae"]
    assert config["preset"] == "quick" and config["model"]["widths"] == [8, 16]
    assert [r["numbers"] for r in summary["runs"]] == [per_seed(out, s)["numbers"] for s in (0, 1)]
    stats = summary["summary"]["vae"]["numbers"]["fid"]
    fids = [per_seed(out, s)["numbers"]["fid"] for s in (0, 1)]
    assert stats["mean"] == pytest.approx(np.mean(fids))
    assert stats["std"] == pytest.approx(np.std(fids, ddof=1))
    assert (
        (out / "quality.md").read_text().splitlines()[2].startswith("| vae | digits | 3 | 0,1 | ")
    )


def test_a_second_call_reuses_the_seeds_done(benchmarks):
    assert benchmarks["again"][:2] == [
        f"vae, seed {s}: done before, {benchmarks['a'] / 'vae' / f'seed_{s}' / 'quality.json'}"
        for s in (0, 1)
    ]


def test_table_has_one_row_per_family_and_marks_missing_numbers():
    records = [
        {
            "family": f,
            "seed": s,
            "dataset": "digits",
            "feature_net": "digits_classifier/v2",
            "steps": 10,
            "train_seconds": 2.0 + s,
            "numbers": numbers,
        }
        for f, numbers in (
            ("vae", {"fid": 10.0, "kid": 0.004, "iwae_nll_nats": 30.0}),
            ("dcgan", {"fid": 20.0, "kid": 0.008}),
        )
        for s in (0, 1, 2)
    ]
    for r in records[:3]:  # the VAE's: FIDs 10, 13, 10; NLLs 30.00, 30.02, 30.04
        r["numbers"] = {**r["numbers"], "fid": 10.0 + 3 * (r["seed"] == 1)}
        r["numbers"]["iwae_nll_nats"] += r["seed"] / 50
    summary = quality.summarize(records)
    assert summary["vae"]["numbers"]["fid"] == {
        "mean": 11.0,
        "std": pytest.approx(np.std([10, 13, 10], ddof=1)),
    }
    assert summary["dcgan"]["numbers"]["fid"] == {"mean": 20.0, "std": 0.0}
    lines = quality.table(summary).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    vae, dcgan = ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:4])
    assert header[:6] == ["family", "data", "steps", "seeds", "FID", "KID"]
    assert vae[:6] == ["vae", "digits", "10", "0,1,2", "11.0 +- 1.7", "0.00400"]
    assert vae[header.index("NLL (IWAE, nats)")] == "30.020 +- 0.020"  # the std's 2 digits
    assert dcgan[header.index("NLL (IWAE, nats)")] == "-"
    assert vae[header.index("train s")] == "3.00 +- 1.00"
    assert quality.mean_std([1823.14]) == {"mean": 1823.14, "std": None}
    assert quality._cell(quality.mean_std([1823.14]), 1) == "1823"  # one seed: no spread


def test_summarize_runs_recomputes_the_benchmark_summary_from_the_run_directories(benchmarks):
    """A second formulation: `jaxgen summarize` of the benchmark's run directories reads
    their eval files and gives the numbers quality.json summarised from its own records."""
    dirs = [benchmarks["a"] / "vae" / f"seed_{s}" for s in (0, 1)]
    summaries, unevaluated = quality.summarize_runs(dirs)
    [(name, summary)] = summaries.items()
    assert unevaluated == []
    expected = json.loads((benchmarks["a"] / "quality.json").read_text())["summary"]["vae"]
    assert name == "vae" and summary["seeds"] == [0, 1] and summary["steps"] == 3
    assert summary["feature_net"] == expected["feature_net"]
    for key in ("fid", "kid", "precision", "recall", "iwae_nll_nats", "neg_elbo_nats"):
        assert summary["numbers"][key] == pytest.approx(expected["numbers"][key]), key


def test_summarize_command_writes_the_table_and_rejects_mixed_or_unknown(
    benchmarks, tmp_path, capsys
):
    dirs = [str(benchmarks["a"] / "vae" / f"seed_{s}") for s in (0, 1)]
    out = tmp_path / "table.md"
    cli.main(["summarize", *dirs, "--keys", "fid,iwae_nll_nats", "--out", str(out)])
    lines = out.read_text().splitlines()
    assert lines[0] == "| family | data | steps | seeds | FID | NLL (IWAE, nats) |"
    assert (
        lines[2].startswith("| vae | digits | 3 | 0,1 | ")
        and out.read_text() in capsys.readouterr().out
    )
    other = tmp_path / "vae_s2"  # seed 2 "of the same group", trained with another lr
    other.mkdir()
    config = json.loads((Path(dirs[0]) / "config.json").read_text())
    config["seed"], config["train"]["learning_rate"] = 2, 0.5
    (other / "config.json").write_text(json.dumps(config))
    unevaluated = str(tmp_path / "vae_s3")  # a run not evaluated yet is left out, said so
    shutil.copytree(other, unevaluated)
    cli.main(["summarize", *dirs, unevaluated])
    assert capsys.readouterr().err == f"Left out, not evaluated: {unevaluated}\n"
    shutil.copy(Path(dirs[0]) / "eval.json", other / "eval.json")
    for argv, message in (
        (
            [*dirs, str(other)],
            "runs of group 'vae' differ in train.learning_rate, not only in seed",
        ),
        ([*dirs, "--keys", "fid,fdi"], "no run has a number 'fdi'; there are: "),
        ([str(tmp_path)], "config.json is missing: "),
        ([unevaluated], "none of these runs is evaluated yet"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["summarize", *argv])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_summarize_gives_each_table_row_of_an_experiment_eval_a_line(tmp_path, capsys):
    """A diffusion eval.json holds its numbers in tables (lists of rows): each (sampler,
    steps) row is summarized over the seeds on a line of its own."""
    fids = {0: (20.0, 10.0), 1: (22.0, 14.0)}  # seed: (DDIM 10, ancestral) FIDs
    for seed, (fid_ddim, fid_ancestral) in fids.items():
        run = tmp_path / f"ddpm_s{seed}"
        (run / "eval" / "step_5").mkdir(parents=True)
        config = {"seed": seed, "data": {"name": "digits"}, "train": {"steps": 5}}
        config["autoencoder"] = {"workdir": f"runs/vae_s{seed}"}  # each seed's own: one group
        config["eval"] = {"new_option": 1} if seed else {}  # training-time defaults: ignored
        (run / "config.json").write_text(json.dumps(config))
        rows = [
            {"sampler": "ddim", "steps": 10, "num_samples": 100, "fid_digits_classifier": fid_ddim},
            {
                "sampler": "ddpm",
                "steps": 1000,
                "num_samples": 50,
                "fid_digits_classifier": fid_ancestral,
            },
        ]
        results = {"dataset": "digits", "feature_net": "net/v1", "step": 5, "num_samples": 100}
        results["steps_table"] = rows
        (run / "eval" / "step_5" / "eval.json").write_text(json.dumps(results))
    cli.main(["summarize", str(tmp_path / "ddpm_s0"), str(tmp_path / "ddpm_s1")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| family | data | steps | seeds | samples | FID |"
    assert lines[2:4] == [
        "| ddpm sampler=ddim steps=10 | digits | 5 | 0,1 | 100 | 21.0 +- 1.4 |",
        "| ddpm sampler=ddpm steps=1000 | digits | 5 | 0,1 | 50.0 | 12.0 +- 2.8 |",
    ]  # the run-level num_samples is the rows': no line of its own
    assert "classifier features of net/v1" in lines[5]


def test_bench_help_lists_options_and_throughput_config_with_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "--seeds SEEDS" in out and "(default: 0,1,2)" in out
    assert "--families FAMILIES" in out and "(default: vae,dcgan,ddpm)" in out
    assert "--config.batch_sizes=(64, 128)" in out and "--config.precision=fp32" in out
