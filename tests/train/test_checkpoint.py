"""The Checkpointer on the installed Orbax: nothing it passes is deprecated there, saving and
restoring a run raises no deprecation warning, and it keeps the newest `max_to_keep`."""

import dataclasses
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from jaxgen import train
from tests.train import toy

# Deprecated in Orbax 0.12 (documented only, no warning): the parser must find these.
KNOWN_DEPRECATED = {"max_to_keep", "keep_period", "item_names", "item_handlers", "checkpointers"}


def documented_deprecated(doc):
    """Names a docstring's argument list documents as deprecated: 'name: deprecated, do
    not use.' or 'name:\\n  Optional. Deprecated; prefer ...'."""
    return set(re.findall(r"^\s*(\w+):\s+(?:Optional\.\s+)?deprecated\b", doc, re.M | re.I))


def test_documented_deprecated_parses_orbax_docstrings():
    init_doc, options_doc = (
        ocp.CheckpointManager.__init__.__doc__,
        ocp.CheckpointManagerOptions.__doc__,
    )
    fields = {f.name for f in dataclasses.fields(ocp.CheckpointManagerOptions)}
    found = documented_deprecated(init_doc) | documented_deprecated(options_doc)
    assert {n for n in KNOWN_DEPRECATED if re.search(rf"^\s*{n}:", init_doc, re.M)} <= found
    assert KNOWN_DEPRECATED & fields <= found
    assert not {"options", "directory", "preservation_policy", "create"} & found


def test_run_checkpoints_use_no_deprecated_orbax_api(data_dir, tmp_path, monkeypatch, caplog):
    """Train 3 steps, resume to 6: Orbax deprecation warnings are errors meanwhile, no warning
    logged says 'deprecated', and no argument or option set is documented as deprecated."""
    init_deprecated = documented_deprecated(ocp.CheckpointManager.__init__.__doc__)
    options_deprecated = documented_deprecated(ocp.CheckpointManagerOptions.__doc__)
    made = []

    class RecordingManager(ocp.CheckpointManager):
        def __init__(self, *args, **kwargs):
            made.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(ocp, "CheckpointManager", RecordingManager)
    task = toy.make_task()
    with warnings.catch_warnings(), caplog.at_level("INFO"):
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.filterwarnings("error", category=category, module="orbax")
        train.run_experiment(toy.config(data_dir, steps=3), task, tmp_path)
        state = train.run_experiment(toy.config(data_dir, steps=6), task, tmp_path)
    assert int(state.step) == 6 and "Resumed from step 3" in caplog.text
    warned = [r.getMessage() for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert not [m for m in warned if "deprecat" in m.lower()]
    assert len(made) == 3  # the first run's; the resume's read-only look at its steps, its own
    for kwargs in made:
        assert not {k for k, v in kwargs.items() if v is not None} & init_deprecated
        options = kwargs["options"]
        for field in dataclasses.fields(options):
            if field.name in options_deprecated:
                assert getattr(options, field.name) == field.default, field.name


def test_keeps_the_newest_max_to_keep_and_restores_each_exactly(tmp_path):
    state = {"w": jnp.arange(4.0), "key": jax.random.PRNGKey(7)}
    at = lambda step: jax.tree.map(lambda x: x + step, state)  # noqa: E731
    ckpt = train.Checkpointer(tmp_path, max_to_keep=2)
    for step in range(1, 5):
        ckpt.save(step, at(step), {"position": 10 * step})
    ckpt.wait()
    assert ckpt.steps() == [3, 4]
    for step in (3, 4, None):
        restored, data_state = ckpt.restore(state, step)
        expected = at(step or 4)
        assert data_state == {"position": 10 * (step or 4)}
        for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(expected), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    ckpt.close()


def test_a_per_leaf_optimizer_state_reads_back_weights_and_refuses_a_resume(tmp_path):
    """A checkpoint of a run before the optimizers ran on the raveled parameters (Adam's
    moments per leaf): a reader gets its weights exactly and zero optimizer state; a resume,
    which would restart the optimizer, gets one error saying so."""
    params = {"a": jnp.arange(3.0), "b": {"c": jnp.ones((2, 2))}}
    new = train.TrainState.create(params=params, tx=optax.adam(0.1), key=jax.random.PRNGKey(0))
    old = new.replace(
        params=jax.tree.map(lambda x: x + 1, params),
        ema_params=jax.tree.map(lambda x: x + 2, params),
        opt_state=optax.adam(0.1).init(params),  # the per-leaf layout
    )
    writer = train.Checkpointer(tmp_path)
    writer.save(5, old, {"position": 3})
    writer.wait()
    reader = train.Checkpointer(tmp_path, read_only=True)
    restored, data_state = reader.restore(new)
    reader.close()
    assert data_state == {"position": 3}
    for field in ("params", "ema_params"):
        for a, b in zip(jax.tree.leaves(getattr(restored, field)),
                        jax.tree.leaves(getattr(old, field)), strict=True):  # fmt: skip
            np.testing.assert_array_equal(a, b)
    assert jax.tree.structure(restored.opt_state) == jax.tree.structure(new.opt_state)
    assert all(not np.asarray(x).any() for x in jax.tree.leaves(restored.opt_state))
    with pytest.raises(train.RunDirError, match="cannot be resumed exactly"):
        writer.restore(new)
    writer.close()
