import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgen import data, train
from tests.train import toy


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


def run_steps(task, cfg, mesh, n):
    it = data.load(
        "digits", "train", cfg.data.batch_size, cfg.seed, mesh=mesh, data_dir=cfg.data.data_dir
    )
    state = train.init_state(task, cfg, mesh)
    step = train.build_step(task.step, mesh)
    for _ in range(n):
        state, metrics = step(state, next(it))
    return state, metrics


def test_four_devices_equal_one_device(data_dir):
    task, cfg = toy.make_task(), toy.config(data_dir)
    one, m1 = run_steps(task, cfg, data.data_mesh(1), 5)
    four, m4 = run_steps(task, cfg, data.data_mesh(4), 5)
    assert int(one.step) == int(four.step) == 5
    np.testing.assert_allclose(float(m1["loss"]), float(m4["loss"]), rtol=1e-5)
    trees = [(s.params, s.model_state, s.ema_params) for s in (one, four)]
    for a, b in zip(*map(leaves, trees), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("warmup", [False, True])
def test_ema_matches_closed_form(warmup):
    """params_t = p0 + t (SGD, lr 1, grad -1), decay d_t at step t (d, or min(d, t/(9+t))
    with warm-up) => ema_T = prod_t d_t p0 + sum_t (1 - d_t) prod_{s>t} d_s (p0 + t)."""
    decay, steps, p0 = 0.8, 40, 0.5

    def step_fn(state, batch, key):
        return state.apply_gradients(jax.tree.map(lambda p: -jnp.ones_like(p), state.params)), {}

    mesh = data.data_mesh()
    state = train.TrainState.create(
        params={"w": jnp.full((3,), p0)},
        tx=optax.sgd(1.0),
        key=jax.random.PRNGKey(0),
        ema_decay=decay,
        ema_warmup=warmup,
    )
    step = train.build_step(step_fn, mesh)
    batch = jax.device_put(
        jnp.zeros((4,)), jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    )
    for _ in range(steps):
        state, _ = step(state, batch)
    t = np.arange(1, steps + 1, dtype=np.float64)
    d = np.minimum(decay, t / (9 + t)) if warmup else np.full(steps, decay)
    later = np.append(np.cumprod(d[::-1])[::-1][1:], 1.0)  # prod_{s>t} d_s
    expected = np.prod(d) * p0 + np.sum((1 - d) * later * (p0 + t))
    np.testing.assert_allclose(np.asarray(state.ema_params["w"]), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(state.params["w"]), p0 + steps)


def two_part_steps(step_fn, tx, steps):
    """The state after `steps` steps of `step_fn` on params {'g': [0, 0], 'd': [0, 0]}
    with optimizers `tx` {'g': ..., 'd': ...}."""
    params = {"g": jnp.zeros(2), "d": jnp.zeros(2)}
    state = train.TrainState.create(params=params, tx=tx, key=jax.random.PRNGKey(0))
    mesh = data.data_mesh()
    batch = jax.device_put(
        jnp.zeros((4,)), jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    )
    step = train.build_step(step_fn, mesh)
    for _ in range(steps):
        state, _ = step(state, batch)
    return state


def test_k_discriminator_updates_per_generator_update():
    """A GAN-style step: k = 3 updates of part 'd', then one of part 'g', in one step."""
    k, steps = 3, 2

    def step_fn(state, batch, key):
        for _ in range(k):
            state = state.apply_gradients(jnp.ones(2), part="d")
        return state.apply_gradients(jnp.ones(2), part="g"), {}

    state = two_part_steps(step_fn, {"g": optax.adam(0.1), "d": optax.sgd(1.0)}, steps)
    np.testing.assert_array_equal(np.asarray(state.params["d"]), [-k * steps] * 2)  # SGD, lr 1
    assert int(state.opt_state["g"][0].count) == steps  # Adam stepped once per step
    np.testing.assert_allclose(np.asarray(state.params["g"]), [-0.1 * steps] * 2, rtol=1e-5)


def test_gradients_of_every_part_update_each_by_its_own_optimizer():
    """apply_gradients without `part` (unCLIP's prior and decoder in one step): each part
    moves by its own optimizer, SGD with learning rates 0.5 and 1."""

    def step_fn(state, batch, key):
        return state.apply_gradients(jax.tree.map(jnp.ones_like, state.params)), {}

    state = two_part_steps(step_fn, {"g": optax.sgd(0.5), "d": optax.sgd(1.0)}, steps=3)
    np.testing.assert_allclose(np.asarray(state.params["g"]), [-1.5] * 2)
    np.testing.assert_allclose(np.asarray(state.params["d"]), [-3.0] * 2)


def test_fit_writes_run_files(data_dir, tmp_path):
    cfg = toy.config(data_dir)
    state = train.run_experiment(cfg, toy.make_task(), tmp_path)
    assert int(state.step) == 6
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert all(np.isfinite(r["loss"]) and r["img_per_s"] > 0 for r in rows)
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "step_000003.png",
        "step_000006.png",
    ]
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert events and b"param_norms" in events[0].read_bytes()  # the histogram is there
    assert {"loss.png", "grad_norm.png"} <= {p.name for p in (tmp_path / "plots").iterdir()}
    assert json.loads((tmp_path / "config.json").read_text())["data"]["name"] == "digits"
    assert train.Checkpointer(tmp_path / "checkpoints").steps() == [3, 6]


def test_resume_is_bit_identical(data_dir, tmp_path):
    task = toy.make_task()
    full = train.run_experiment(toy.config(data_dir, steps=6), task, tmp_path / "full")
    train.run_experiment(toy.config(data_dir, steps=3), task, tmp_path / "split")
    served = []
    with toy.serving(served.append):
        resumed = train.run_experiment(toy.config(data_dir, steps=6), task, tmp_path / "split")
    assert served == [3, 4, 5]  # a resume: only steps 4-6 ran, from data position 3
    for a, b in zip(leaves(full), leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)


def test_corrupt_latest_checkpoint_falls_back(data_dir, tmp_path):
    task = toy.make_task()
    train.run_experiment(toy.config(data_dir, steps=6), task, tmp_path)
    for f in (tmp_path / "checkpoints" / "6" / "state").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    ckpt = train.Checkpointer(tmp_path / "checkpoints")
    state, data_state = ckpt.restore(train.init_state(task, toy.config(data_dir), data.data_mesh()))
    assert int(state.step) == 3 and data_state == {"position": 3}
    assert ckpt.steps() == [3] and (tmp_path / "checkpoints" / "6.unreadable").is_dir()
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 7, "lo')  # a line cut off by a kill
    served = []
    with toy.serving(served.append):
        train.run_experiment(toy.config(data_dir), task, tmp_path)
    assert served == [3, 4, 5]  # steps 4-6 again, from checkpoint 3's data position
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 7))  # one history, not 1-6 then 4-6


def test_a_checkpoint_restores_into_the_abstract_state_as_into_the_initial_one(data_dir, tmp_path):
    """abstract_state (what a resume and `restore_run` restore into, nothing compiled) has
    init_state's structure, shapes, dtypes and shardings, and reads a checkpoint back to the
    same arrays."""
    task, cfg = toy.make_task(), toy.config(data_dir, steps=3)
    train.run_experiment(cfg, task, tmp_path)
    mesh = data.data_mesh()
    concrete, abstract = train.init_state(task, cfg, mesh), train.abstract_state(task, cfg, mesh)
    assert jax.tree.structure(abstract) == jax.tree.structure(concrete)
    for a, c in zip(jax.tree.leaves(abstract), jax.tree.leaves(concrete), strict=True):
        assert isinstance(a, jax.ShapeDtypeStruct)
        assert (a.shape, a.dtype, a.sharding) == (c.shape, c.dtype, c.sharding)
    ckpt = train.Checkpointer(tmp_path / "checkpoints", read_only=True)
    (from_abstract, _), (from_concrete, _) = ckpt.restore(abstract), ckpt.restore(concrete)
    ckpt.close()
    assert int(from_abstract.step) == 3
    for a, b in zip(leaves(from_abstract), leaves(from_concrete), strict=True):
        np.testing.assert_array_equal(a, b)


def test_nan_guard_stops_and_keeps_last_good_checkpoint(data_dir, tmp_path):
    cfg = toy.config(data_dir, steps=30)
    cfg.train.checkpoint_every = 1
    task = toy.make_task(tx=optax.sgd(1e4))  # diverges within a few steps
    with pytest.raises(train.NonFiniteLossError, match=r"Step \d+: non-finite") as err:
        train.run_experiment(cfg, task, tmp_path)
    bad_step = int(str(err.value).split()[1].rstrip(":"))
    ckpt = train.Checkpointer(tmp_path / "checkpoints")
    assert 1 < bad_step < 30 and ckpt.steps()[-1] == bad_step - 1
    state, _ = ckpt.restore(train.init_state(task, cfg, data.data_mesh()))
    assert int(state.step) == bad_step - 1
    assert all(np.isfinite(x).all() for x in leaves(state.params))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in rows)


@pytest.mark.parametrize("grad_clip", [0.0, 0.5])
def test_adam_clips_only_for_a_positive_norm_and_warms_up(grad_clip):
    """grad_clip 0 is plain Adam (clip_by_global_norm(0) would zero every update); > 0 clips
    first; the learning rate rises as lr * t / warmup_steps."""
    g = {"w": jnp.array([3.0, -4.0])}  # ||g|| = 5
    params = {"w": jnp.zeros(2)}
    reference = (
        optax.adam(0.1)
        if grad_clip == 0
        else optax.chain(optax.clip_by_global_norm(grad_clip), optax.adam(0.1))
    )
    tx = train.adam(0.1, grad_clip)
    expected, _ = reference.update(g, reference.init(params), params)
    updates, _ = tx.update(g, tx.init(params), params)
    np.testing.assert_allclose(updates["w"], expected["w"], rtol=1e-6)
    assert np.all(np.abs(updates["w"]) > 0.09)  # Adam's first step: about lr per coordinate
    warm = train.adam(0.1, grad_clip, warmup_steps=4)
    state = warm.init(params)
    steps = []
    for _ in range(3):
        updates, state = warm.update(g, state, params)
        steps.append(float(jnp.abs(updates["w"][0])))
    np.testing.assert_allclose(steps, [0.0, 0.025, 0.05], atol=1e-6)  # lr t / 4, |m/sqrt(v)| = 1
    with pytest.raises(ValueError, match="grad_clip=-1 must be >= 0"):
        train.adam(0.1, -1)


def test_config_overrides():
    cfg = toy.config("/tmp")
    new, rest = train.apply_overrides(
        cfg, ["--config.train.steps=100", "--config.data.name=mnist", "--workdir", "x"]
    )
    assert new.train.steps == 100 and new.data.name == "mnist" and rest == ["--workdir", "x"]
    assert cfg.train.steps == 6  # the original is untouched
    with pytest.raises(ValueError, match="Did you mean train.steps"):
        train.apply_overrides(cfg, ["--config.train.step=1"])
    with pytest.raises(ValueError, match="train.steps=ten"):
        train.apply_overrides(cfg, ["--config.train.steps=ten"])


def test_norm_metrics_match_numpy_per_leaf_and_overall():
    """The segment-sum norms of the raveled tree are numpy's per leaf, in leaf order, and
    the overall norm is numpy's of all entries; global_norm (the GAN steps') agrees."""
    rng = np.random.default_rng(0)
    tree = {"a": rng.normal(size=(3, 4)), "b": {"c": rng.normal(size=5), "d": np.ones((2, 2))}}
    tree = jax.tree.map(jnp.float32, tree)
    leaves = [np.asarray(x, np.float64) for x in jax.tree.leaves(tree)]
    metrics = jax.jit(lambda t: train.step.norm_metrics(t, "grad"))(tree)
    np.testing.assert_allclose(metrics["hist/grad_norms"], [np.linalg.norm(x) for x in leaves],
                               rtol=1e-6)  # fmt: skip
    overall = np.linalg.norm(np.concatenate([x.ravel() for x in leaves]))
    np.testing.assert_allclose(metrics["grad_norm"], overall, rtol=1e-6)
    np.testing.assert_allclose(train.step.global_norm(tree), overall, rtol=1e-6)
