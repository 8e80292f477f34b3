"""The committed result directories (results/NAME, made by `jaxgen export`): each one's
weights sample on a CPU as `jaxgen sample results/NAME` does, images of the dataset's shape
in [-1, 1], the same for the same seed; each result.json records what the README promises."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxgen import data, runs

RESULTS = sorted((Path(__file__).resolve().parents[1] / "results").glob("*/weights.msgpack"))


@pytest.mark.parametrize("weights", RESULTS, ids=[w.parent.name for w in RESULTS])
def test_committed_weights_sample_deterministically(weights):
    """The weights load into the model (restored once, as `jaxgen sample` restores them:
    the CLI's own path is tests/test_cli.py's) and its sample hook draws the same images
    for the same key, others for another."""
    workdir = weights.parent
    module, config = runs.run_config(workdir, [])
    # a diffusion model's chain of 4 steps: the weights, not the sampler, are under test here
    fast = ["--config.sample.num_steps=4"] if "num_steps" in config.get("sample", {}) else []
    config, task, state = runs.restore_run(workdir, None, [*fast, "--config.train.num_samples=20"])
    assert int(state.step) == config.train.steps
    if task.sample is None:  # an encoder (clip): nothing to draw
        with pytest.raises(runs.UsageError, match="draws no images"):
            runs.sample_run(workdir, n=20, seed=0)
        return
    a, b, c = (np.asarray(task.sample(state, jax.random.PRNGKey(k))) for k in (0, 0, 1))
    assert a.shape == (20, *data.dataset_spec(config.data.name).shape)  # cGAN: 2 rows of 10
    assert a.min() >= -1 and a.max() <= 1 and a.std() > 0.1
    np.testing.assert_array_equal(a, b)
    if not getattr(module, "SAMPLE_HOOK_SHOWS", None):  # samples of a model, not test images
        assert not np.array_equal(a, c)
    record = (workdir / "result.json").read_text()
    for key in ('"seed"', '"step"', '"train_seconds"', '"commit"', '"versions"', '"machine"'):
        assert key in record, key


def test_there_are_committed_results():
    assert RESULTS, "results/ holds no exported run"


def test_a_run_older_than_a_config_key_takes_its_default_and_its_override():
    """results/ddpm_cpu_s0 was written before eval.bpd_num_examples and model.arch existed:
    they read as today's defaults and take overrides; every stored value is kept."""
    workdir = RESULTS[0].parents[1] / "ddpm_cpu_s0"
    stored = json.loads((workdir / "config.json").read_text())
    assert "bpd_num_examples" not in stored["eval"] and "arch" not in stored["model"]
    _, config = runs.run_config(workdir, ["--config.eval.bpd_num_examples=7"])
    assert config.eval.bpd_num_examples == 7 and config.model.arch == "unet"
    assert config.model.width == stored["model"]["width"] == 16  # the cpu preset's, kept
    assert config.train.steps == stored["train"]["steps"] and config.preset == "cpu"
