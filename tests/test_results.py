"""The committed result directories (results/NAME, made by `jaxgen export`): each one's
weights sample on a CPU as `jaxgen sample results/NAME` does, images of the dataset's shape
in [-1, 1], the same for the same seed; each result.json records what the README promises."""

from pathlib import Path

import numpy as np
import pytest

from jaxgen import data, runs

RESULTS = sorted((Path(__file__).resolve().parents[1] / "results").glob("*/weights.msgpack"))


@pytest.mark.parametrize("weights", RESULTS, ids=[w.parent.name for w in RESULTS])
def test_committed_weights_sample_deterministically(weights):
    workdir = weights.parent
    config, task, state = runs.restore_run(workdir)  # the weights load into the model
    assert int(state.step) == config.train.steps
    if task.sample is None:  # an encoder (clip): nothing to draw
        with pytest.raises(runs.UsageError, match="draws no images"):
            runs.sample_run(workdir, n=20, seed=0)
        return
    a, step = runs.sample_run(workdir, n=20, seed=0)  # a cGAN draws whole rows of its 10 classes
    b, _ = runs.sample_run(workdir, n=20, seed=0)
    c, _ = runs.sample_run(workdir, n=20, seed=1)
    module, config = runs.run_config(workdir, [])
    assert a.shape == (20, *data.dataset_spec(config.data.name).shape)
    assert a.min() >= -1 and a.max() <= 1 and a.std() > 0.1
    np.testing.assert_array_equal(a, b)
    if not getattr(module, "SAMPLE_HOOK_SHOWS", None):  # samples of a model, not test images
        assert not np.array_equal(a, c)
    record = (workdir / "result.json").read_text()
    for key in ('"seed"', '"step"', '"train_seconds"', '"commit"', '"versions"', '"machine"'):
        assert key in record, key
    assert step == config.train.steps


def test_there_are_committed_results():
    assert RESULTS, "results/ holds no exported run"
