"""Damaged run directories: every file a run directory holds that a command reads, damaged
in every way (missing, empty, truncated, garbage, a JSON value of the wrong type), under
every command that reads it (`train` resuming, `sample`, `eval`, `summarize`).

Each case either recovers as the README's Faults section documents (an unreadable newest
checkpoint: train moves it to N.unreadable and resumes from the previous one, sample and
eval read the previous one and leave the directory alone) or stops with one
`jaxgen: error:` line naming the damaged file (or its checkpoint folder) and the fix, exit
status 2, no traceback, and the run directory byte-for-byte unchanged. The commands run
in this process (`cli.main`) on copies of one tiny vae run.
"""

import json
import re
import shutil

import numpy as np
import pytest

from jaxgen import cli
from tests.bench.test_quality import persistent_compilation_cache
from tests.test_cli import tree_digest

TRAIN = ["--config.train.steps=4", "--config.train.checkpoint_every=2"]
TRAIN += ["--config.train.sample_every=0", "--config.data.batch_size=16"]
# Resuming asks for step 2: a run that reads checkpoint 4 (or falls back to 2) trains no
# further, so no case compiles a training step.
RESUME = ["train", "vae", *TRAIN[1:], "--config.train.steps=2"]
DAMAGES = ("missing", "empty", "truncated", "garbage", "wrong_type")
# Every file of an Orbax checkpoint, as a pattern under checkpoints/<step>/ (checked against
# the run by test_the_patterns_cover_every_checkpoint_file); a pattern damages every file
# it matches (the data chunks d/* have hashed names).
CHECKPOINT_FILES = (
    "_CHECKPOINT_METADATA",
    "commit_success.txt",
    "data/metadata",
    "data/commit_success.txt",
    "state/_METADATA",
    "state/_sharding",
    "state/commit_success.txt",
    "state/manifest.ocdbt",
    "state/array_metadatas/process_0",
    "state/d/*",
    "state/ocdbt.process_0/manifest.ocdbt",
    "state/ocdbt.process_0/d/*",
)
RUN_FILES = (
    "run.json",
    "config.json",
    "metrics.jsonl",
    "eval.json",
    "eval/step_000004/eval.json",
    *(f"checkpoints/4/{f}" for f in CHECKPOINT_FILES),  # the newest checkpoint
    *(f"checkpoints/*/{f}" for f in CHECKPOINT_FILES),  # every checkpoint
)
# What each command reads of a run directory (`sample` and `eval` restore a run through the
# same runs.restore_run; eval is run on the files that decide whether it starts at all).
READS = {
    "train": lambda f: f in ("run.json", "config.json", "metrics.jsonl") or "checkpoints" in f,
    "sample": lambda f: f in ("run.json", "config.json") or "checkpoints" in f,
    "eval": lambda f: f in ("run.json", "config.json") or f.endswith(("/state/d/*", "/d/*")),
    "summarize": lambda f: f in ("config.json", "eval.json", "eval/step_000004/eval.json"),
}


@pytest.fixture(scope="module", autouse=True)
def compiled_once(tmp_path_factory):
    """The cases compile the same programs: JAX's on-disk cache compiles each once."""
    with persistent_compilation_cache(tmp_path_factory.mktemp("jax_cache")):
        yield


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A vae run of 4 steps with checkpoints 2 and 4, a `jaxgen eval` eval.json and an
    experiment evaluation's eval/step_000004/eval.json, and the samples `jaxgen sample
    --n 4` draws from each checkpoint."""
    root = tmp_path_factory.mktemp("damaged")
    run = root / "run_s0"
    cli.main(["train", "vae", "--workdir", str(run), *TRAIN])
    cli.main(["eval", str(run), "--n", "16", "--metrics", "fid"])
    experiment_eval = run / "eval" / "step_000004" / "eval.json"  # as an experiment's eval writes
    experiment_eval.parent.mkdir(parents=True)
    shutil.copyfile(run / "eval.json", experiment_eval)
    samples = {}
    for step in (2, 4):
        out = root / f"{step}.npz"
        cli.main(["sample", str(run), "--n", "4", "--step", str(step), "--out", str(out)])
        samples[step] = np.load(out)["samples"]
    return run, samples


def damaged_paths(run, file):
    """The paths under `run` that case `file` damages."""
    if not file.startswith("checkpoints/"):
        return [run / file]
    _, step, pattern = file.split("/", 2)
    return sorted((run / "checkpoints").glob(f"{step}/{pattern}"))


def damage(path, how, rng):
    """Damages the file at `path` in the way `how` names."""
    content = path.read_bytes()
    if how == "missing":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(content[: len(content) // 2])
    elif how == "garbage":
        path.write_bytes(rng.integers(0, 256, max(len(content), 16), dtype=np.uint8).tobytes())
    else:  # a valid JSON value of another type than the file holds
        path.write_text(json.dumps(["not", "an", "object"]))


def command(name, run, tmp_path):
    return {
        "train": [*RESUME, "--workdir", str(run)],
        "sample": ["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.npz")],
        "eval": ["eval", str(run), "--n", "16", "--metrics", "fid"],
        "summarize": ["summarize", str(run)],
    }[name]


def applies(file, how):
    """Whether damage `how` is a distinct case for `file`: a wrong JSON type only for JSON
    files; an empty file only outside the checkpoints (an Orbax file read empty fails as a
    truncated one does, which every checkpoint file is tested with)."""
    if how == "wrong_type":
        return file.endswith(".json")
    return how != "empty" or not file.startswith("checkpoints/")


CASES = [
    (name, f, how)
    for name, reads in READS.items()
    for f in RUN_FILES
    for how in DAMAGES
    if reads(f) and applies(f, how)
]


def test_the_patterns_cover_every_checkpoint_file(pristine):
    run, _ = pristine
    for step in (2, 4):
        files = {p for p in (run / "checkpoints" / str(step)).rglob("*") if p.is_file()}
        covered = {
            p for f in CHECKPOINT_FILES for p in damaged_paths(run, f"checkpoints/{step}/{f}")
        }
        assert files == covered


@pytest.mark.parametrize("name, file, how", CASES)
def test_damaged_run(pristine, tmp_path, capsys, name, file, how):
    """One line and nothing changed, or a documented recovery that reads only intact data:
    a sample drawn after a recovery equals the pristine run's sample of the step it read."""
    source, samples = pristine
    run = tmp_path / "run_s0"
    shutil.copytree(source, run)
    paths = damaged_paths(run, file)
    assert paths, file
    rng = np.random.default_rng(0)
    for path in paths:
        damage(path, how, rng)
    before = tree_digest(run, exclude=("lock",))
    capsys.readouterr()
    try:
        cli.main(command(name, run, tmp_path))
        status = 0
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if status == 0:
        assert recovers(name, file, how), f"{name} went on with {file} {how}:\n{out}{err}"
        if name in ("train", "sample"):  # what a resumed run continues from is intact
            if name == "train":
                cli.main(command("sample", run, tmp_path))
                out = capsys.readouterr().out
            step = int(re.search(r"\(step (\d+),", out).group(1))
            np.testing.assert_array_equal(np.load(tmp_path / "s.npz")["samples"], samples[step])
        return
    errors = [line for line in err.splitlines() if line.startswith("jaxgen: error:")]
    assert status == 2 and len(errors) == 1, err
    where = run / "checkpoints" if file.startswith("checkpoints/") else paths[0]
    assert str(where) in errors[0], errors[0]
    assert tree_digest(run, exclude=("lock",)) == before


def recovers(name, file, how):
    """Whether `name` may go on with `file` damaged in way `how`: train, sample and eval
    with a damaged newest checkpoint (they read the previous one, or the newest if the
    damaged file is not one a restore needs) or any checkpoint file a restore does not
    need; train with a damaged metrics.jsonl, which it rewrites from the rows it can read;
    summarize without one of the two evaluations (it reads the one there is)."""
    evaluation = file in ("eval.json", "eval/step_000004/eval.json")
    return (
        file.startswith("checkpoints/")
        or (name, file) == ("train", "metrics.jsonl")
        or (name == "summarize" and evaluation and how == "missing")
    )
