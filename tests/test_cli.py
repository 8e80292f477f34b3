"""The `jaxgen` command as a user calls it: subprocesses on a tiny digits run."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from flax.serialization import msgpack_restore

from tests.compile_flags import COMPILE_FLAGS


def jaxgen(*args, env=None, cwd=None):
    env = {**os.environ, **(env or {})}
    env["XLA_FLAGS"] = COMPILE_FLAGS  # one device, as a user runs it
    return subprocess.run(
        [sys.executable, "-m", "jaxgen", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


def tree_digest(path, exclude=()):
    """Hash of every file name and content under `path` (but the files named in `exclude`):
    detects any change."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and p.name not in exclude):
        h.update(str(f.relative_to(path)).encode() + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    workdir = root / "run"
    env = {"TFDS_DATA_DIR": str(root / "tfds")}
    result = jaxgen(
        "train",
        "vae",
        "--workdir",
        workdir,
        "--config.train.steps=6",
        "--config.train.checkpoint_every=3",
        "--config.train.sample_every=3",
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, env


def test_train_writes_the_run_directory(run_dir):
    workdir, _ = run_dir
    names = {p.name for p in workdir.iterdir()}
    assert {
        "config.json",
        "run.json",
        "metrics.jsonl",
        "tensorboard",
        "samples",
        "checkpoints",
    } <= names
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == [
        "3",
        "6",
    ]


def test_sample_is_deterministic_under_a_seed(run_dir, tmp_path):
    workdir, env = run_dir
    outs = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        out = tmp_path / f"{name}.npz"
        result = jaxgen("sample", workdir, "--n", 8, "--seed", seed, "--out", out, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        outs.append(np.load(out)["samples"])
    assert outs[0].shape == (8, 8, 8, 1)
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])
    png = tmp_path / "grid.png"
    assert jaxgen("sample", workdir, "--step", 3, "--out", png, env=env).returncode == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_writes_eval_json(run_dir):
    workdir, env = run_dir
    result = jaxgen("eval", workdir, "--n", 200, "--metrics", "fid,modes", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((workdir / "eval.json").read_text())
    assert results["step"] == 6 and results["num_samples"] == 200
    assert results["fid_digits_classifier"] > 0
    assert results["labels"]["fid_digits_classifier"] == "FID (digits classifier features)"
    assert 1 <= results["classes_covered_digits_classifier"] <= 10


@pytest.mark.parametrize(
    "args, message",
    [
        (["trian", "vae"], "unknown command 'trian'. Did you mean train?"),
        (["train", "vea"], "unknown experiment 'vea'. Did you mean vae?"),
        (["train", "vae", "--config.train.step=3"], "Did you mean train.steps, "),
        (["sample", "{run}", "--nn", "3"], "unknown option '--nn' for sample. Did you mean --n?"),
        (["sample", "{run}", "--step", "4"], "no checkpoint 4 in"),
        (["sample", "{missing}"], "is not a jaxgen run directory"),
        (["eval", "{run}", "--metrics", "fid,fdi"], "unknown metric 'fdi'"),
        (
            ["train", "vae", "--workdir", "{run}", "--config.model.latent_dim=3"],
            "different config (model.latent_dim: 16 -> 3)",
        ),
    ],
)
def test_bad_arguments_fail_with_one_line_and_touch_nothing(run_dir, tmp_path, args, message):
    workdir, env = run_dir
    before = tree_digest(workdir)
    args = [a.format(run=workdir, missing=tmp_path / "nope") for a in args]
    result = jaxgen(*args, env=env, cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("jaxgen: error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr[-2000:]
    assert tree_digest(workdir) == before
    assert not (tmp_path / "runs").exists()


def test_commands_keep_compiled_programs_in_the_cache_dir(run_dir, tmp_path, monkeypatch):
    """JAXGEN_COMPILATION_CACHE: the first `jaxgen sample` writes its compiled programs
    there, the second loads them (JAX counts its cache hits) and draws the same samples.
    The directory: the variable, by default under $XDG_CACHE_HOME; empty, or JAX's own
    JAX_COMPILATION_CACHE_DIR set, leaves JAX's setting alone."""
    workdir, env = run_dir
    cache = tmp_path / "xla"
    env = {**env, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    hits = "import sys; from jaxgen import cli; from jax._src import monitoring; "
    hits += "n = []; monitoring.register_event_listener(lambda e, **k: n.append(e)); "
    hits += "cli.main(sys.argv[1:]); print('hits', n.count('/jax/compilation_cache/cache_hits'))"
    samples, counts = [], []
    for i in range(2):
        out = tmp_path / f"{i}.npz"
        result = subprocess.run(
            [sys.executable, "-c", hits, "sample", str(workdir), "--n", "8", "--out", str(out)],
            capture_output=True,
            text=True,
            env={**os.environ, **env, "JAXGEN_COMPILATION_CACHE": str(cache)},
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        samples.append(np.load(out)["samples"])
        counts.append(int(result.stdout.split("hits ")[1]))
        if i == 0:
            files = sorted(cache.rglob("*"))
    assert counts[0] == 0 and counts[1] > 0 and files and sorted(cache.rglob("*")) == files
    np.testing.assert_array_equal(samples[0], samples[1])
    from jaxgen import runs

    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.delenv("JAXGEN_COMPILATION_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert runs.compilation_cache_dir() == str(tmp_path / "jaxgen" / "jax")
    monkeypatch.setenv("JAXGEN_COMPILATION_CACHE", "")
    assert runs.compilation_cache_dir() is None
    monkeypatch.setenv("JAXGEN_COMPILATION_CACHE", str(cache))
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax_own"))
    assert runs.compilation_cache_dir() is None


def test_help_lists_options_with_defaults():
    result = jaxgen("sample", "--help")
    assert result.returncode == 0
    assert "--n N" in result.stdout and "(default: 64)" in result.stdout


def test_experiments_are_found_in_an_installed_wheel(tmp_path):
    """`jaxgen train NAME` outside a checkout: the wheel holds jaxgen and the experiments
    package with its entry point, and the registry finds every experiment there, not in
    this checkout's experiments/ folder."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "-w", tmp_path / "wheel", root], check=True, timeout=300)
    (wheel,) = (tmp_path / "wheel").glob("jaxgen-*.whl")
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target"]
    subprocess.run([*install, tmp_path / "site", wheel], check=True, timeout=300)
    code = (
        "import jaxgen_experiments; from jaxgen import runs; "
        "print(jaxgen_experiments.__file__); print(','.join(runs.experiment_names())); "
        "print(runs.load_experiment('ddpm_cond').get_config(preset='gpu').data.name)"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    where, names, dataset = result.stdout.split()
    assert where.startswith(str(tmp_path / "site"))
    files = os.listdir(os.path.join(root, "experiments"))
    expected = sorted(p[:-3] for p in files if p.endswith(".py"))
    assert names.split(",") == [n for n in expected if n not in NOT_EXPERIMENTS]
    assert dataset == "fashion_mnist"


NOT_EXPERIMENTS = {"__init__", "bench", "fid_protocol"}  # helper scripts: no make_task


def test_an_exported_run_samples_as_the_run_and_summarizes(run_dir, tmp_path):
    """`jaxgen export` keeps only what sampling needs: the exported directory gives the same
    samples as the run's newest checkpoint for a seed, in [-1, 1]; its weights file holds no
    optimizer state; result.json records the run; summarize reads its eval.json."""
    workdir, env = run_dir
    out = tmp_path / "results" / "vae_tiny"
    assert jaxgen("eval", workdir, "--n", 16, "--metrics", "fid", env=env).returncode == 0
    result = jaxgen("export", workdir, out, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (out / "checkpoints").exists() and (out / "eval.json").is_file()
    record = json.loads((out / "result.json").read_text())
    assert record["experiment"] == "vae" and record["step"] == 6 and record["seed"] == 0
    assert record["train_seconds"] > 0 and record["versions"]["jax"] and record["commit"]
    trained = json.loads((workdir / "run.json").read_text())["trained_with"]
    assert len(trained) == 1 and record["trained_with_commits"] == [trained[0]["commit"]]
    assert trained[0]["commit"] and trained[0]["versions"]["jax"]
    weights = msgpack_restore((out / "weights.msgpack").read_bytes())
    assert weights["step"] == 6 and set(weights) == {"step", "ema_params", "model_state"}
    samples = {}
    for name, source in (("run", workdir), ("export", out), ("again", out)):
        path = tmp_path / f"{name}.npz"
        result = jaxgen("sample", source, "--n", 8, "--seed", 3, "--out", path, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        samples[name] = np.load(path)["samples"]
    assert samples["export"].shape == (8, 8, 8, 1)
    assert samples["export"].min() >= -1 and samples["export"].max() <= 1
    np.testing.assert_array_equal(samples["export"], samples["run"])
    np.testing.assert_array_equal(samples["export"], samples["again"])
    table = jaxgen("summarize", out, "--keys", "fid", env=env)
    assert table.returncode == 0 and "vae_tiny" in table.stdout, table.stderr[-2000:]
    copy = tmp_path / "without_log"
    shutil.copytree(workdir, copy, ignore=shutil.ignore_patterns("metrics.jsonl"))
    result = jaxgen("export", copy, tmp_path / "exported", env=env)  # no training log: still
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "exported" / "result.json").read_text())["train_seconds"] is None
