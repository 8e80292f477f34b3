"""Training options of the shared loop: gradient accumulation (train.grad_accum_steps) and
bf16 mixed precision (train.precision)."""

import shutil

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxgen import data, train
from jaxgen.train.precision import mixed_precision
from tests.train import toy


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


class TinyConv(nn.Module):
    """No batch statistics: a micro-batch's forward does not depend on the other examples."""

    @nn.compact
    def __call__(self, x):
        return nn.Conv(x.shape[-1], (3, 3))(nn.tanh(nn.Conv(4, (3, 3))(x)))


class TinyBN(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.BatchNorm(use_running_average=False)(nn.Conv(4, (3, 3))(x))
        return nn.Conv(x.shape[-1], (3, 3))(nn.relu(h))


def mse_objective(params, model_state, batch, key, step):
    """The mean over examples of ||f(x) - x||^2 / D."""
    out = TinyConv().apply({"params": params}, batch["image"])
    return jnp.mean((out - batch["image"]) ** 2), ({}, model_state)


def sharded(mesh, images):
    return {"image": jax.device_put(images, NamedSharding(mesh, P(data.DATA_AXIS)))}


@pytest.mark.parametrize(
    "make_tx",
    [
        lambda: optax.sgd(0.5, momentum=0.9),
        lambda: train.adam(0.05, grad_clip=0.1, warmup_steps=3),  # clip and schedule per update
    ],
    ids=["sgd-momentum", "adam-clip-warmup"],
)
def test_k_micro_batches_give_the_update_of_one_k_times_larger_batch(make_tx):
    """k = 4 micro-batches of b = 4 per update with grad_accum_steps=4 against one batch of
    16 per update, over 2 updates: params and EMA params agree to float rounding; the 3
    micro-steps between updates change neither; step counts micro-batches."""
    k, b, updates = 4, 4, 2
    mesh = data.data_mesh()
    images = jax.random.normal(jax.random.PRNGKey(1), (updates, k, b, 8, 8, 1))
    params = TinyConv().init(jax.random.PRNGKey(0), images[0, 0])["params"]

    def create(grad_accum_steps):
        return train.TrainState.create(
            params=params,
            tx=make_tx(),
            key=jax.random.PRNGKey(2),
            ema_decay=0.5,
            grad_accum_steps=grad_accum_steps,
        )

    step = train.build_step(train.loss_step(mse_objective), mesh, donate=False)
    micro, large = create(k), create(1)
    for u in range(updates):
        before = leaves((micro.params, micro.ema_params))
        for i in range(k):
            if i > 0:  # only the k-th micro-batch applies the update
                for a, c in zip(before, leaves((micro.params, micro.ema_params)), strict=True):
                    np.testing.assert_array_equal(a, c)
            micro, _ = step(micro, sharded(mesh, images[u, i]))
        large, _ = step(large, sharded(mesh, images[u].reshape(k * b, 8, 8, 1)))
        trees = [(s.params, s.ema_params) for s in (micro, large)]
        for a, c in zip(*map(leaves, trees), strict=True):
            np.testing.assert_allclose(a, c, rtol=2e-5, atol=1e-6)
    assert int(micro.step) == k * updates and int(large.step) == updates
    assert int(micro.opt_state.gradient_step) == updates


def test_a_step_not_ending_an_accumulation_leaves_params_and_ema():
    """The EMA closed form of accumulation: SGD with lr 1 on gradient -1 moves params by +1
    per update; with k = 3 the EMA decays with warm-up once per update (by the number of
    updates before it), never on the micro-steps in between."""
    k, n_updates, decay, p0 = 3, 5, 0.8, 0.5

    def step_fn(state, batch, key):
        return state.apply_gradients(jax.tree.map(lambda p: -jnp.ones_like(p), state.params)), {}

    mesh = data.data_mesh()
    state = train.TrainState.create(
        params={"w": jnp.full((3,), p0)},
        tx=optax.sgd(1.0),
        key=jax.random.PRNGKey(0),
        ema_decay=decay,
        grad_accum_steps=k,
    )
    step = train.build_step(step_fn, mesh)
    batch = sharded(mesh, jnp.zeros((4,)))
    ema = [p0]
    for _ in range(k * n_updates):
        state, _ = step(state, batch)
        ema.append(float(state.ema_params["w"][0]))
    u = np.arange(n_updates)
    d = np.minimum(decay, (1 + u) / (10 + u))
    expected = [p0]
    for t in u:
        expected.append(d[t] * expected[-1] + (1 - d[t]) * (p0 + t + 1))
    np.testing.assert_allclose(ema[k::k], expected[1:], rtol=1e-6)
    np.testing.assert_allclose(np.diff(ema).reshape(n_updates, k)[:, :-1], 0.0)
    np.testing.assert_allclose(np.asarray(state.params["w"]), p0 + n_updates)


def test_accumulation_resumes_mid_accumulation_bit_identically(data_dir, tmp_path):
    """A checkpoint inside an accumulation (step 3 of k = 2) holds the accumulated gradient:
    the run resumed from it ends where the uninterrupted one does."""

    def config(steps, checkpoint_every=3):
        c = toy.config(data_dir, steps=steps)
        c.train.grad_accum_steps, c.train.checkpoint_every = 2, checkpoint_every
        return c

    task = toy.make_task()
    full = train.run_experiment(config(6), task, tmp_path / "full")
    train.run_experiment(config(4), task, tmp_path / "split")
    shutil.rmtree(tmp_path / "split" / "checkpoints" / "4")  # as if killed before saving 4
    served = []
    with toy.serving(served.append):
        resumed = train.run_experiment(config(6), task, tmp_path / "split")
    assert served == [3, 4, 5]  # resumed at step 3, inside the second accumulation
    for a, b in zip(leaves(full), leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_run_recorded_before_the_options_resumes_with_their_defaults(data_dir, tmp_path):
    """toy.config has neither key, like the config.json of a run from before them."""
    task = toy.make_task()
    train.run_experiment(toy.config(data_dir, steps=2), task, tmp_path)
    c = toy.config(data_dir, steps=4)
    c.train.grad_accum_steps, c.train.precision = 1, "fp32"
    assert int(train.run_experiment(c, task, tmp_path).step) == 4
    c.train.grad_accum_steps = 2
    with pytest.raises(train.RunDirError, match=r"train.grad_accum_steps: 1 -> 2"):
        train.run_experiment(c, task, tmp_path)


def test_several_optimizers_refuse_accumulation_and_bf16():
    """GAN steps compose one update per optimizer: no accumulation, no bf16 casting."""
    tx = {"generator": optax.adam(1e-3), "discriminator": optax.adam(1e-3)}
    params = {"generator": jnp.zeros(2), "discriminator": jnp.zeros(2)}
    with pytest.raises(ValueError, match="needs one optimizer"):
        train.TrainState.create(params=params, tx=tx, key=jax.random.PRNGKey(0), grad_accum_steps=2)
    c = toy.config("/tmp")
    for key, value in (("grad_accum_steps", 2), ("precision", "bf16")):
        c.train[key] = value
        with pytest.raises(train.ConfigError, match=f"train.{key}=.* not supported"):
            train.check_options(c, tx)
        c.train[key] = {"grad_accum_steps": 1, "precision": "fp32"}[key]
    train.check_options(c, tx)


def eqns(jaxpr):
    """Every equation of `jaxpr` and of the jaxprs nested in it (pjit, custom_vjp, ...)."""
    for eqn in jaxpr.eqns:
        yield eqn
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else [value]:
                if hasattr(sub, "eqns"):
                    yield from eqns(sub)
                elif hasattr(sub, "jaxpr") and hasattr(sub.jaxpr, "eqns"):
                    yield from eqns(sub.jaxpr)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_the_network_runs_forward_and_backward_in_the_compute_dtype(dtype):
    """Every convolution of the loss's value and gradient (forward, and both backward ones)
    takes `dtype` operands; the loss and the gradients are float32."""
    model = TinyBN()
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 8, 8, 1))
    variables = model.init(jax.random.PRNGKey(1), x)
    params, model_state = variables["params"], {"batch_stats": variables["batch_stats"]}

    def objective(params, model_state, batch, key, step):
        out, updates = model.apply(
            {"params": params, **model_state}, batch, mutable=["batch_stats"]
        )
        return jnp.mean((out - batch) ** 2), ({}, updates)

    grad_fn = jax.value_and_grad(mixed_precision(objective, dtype), has_aux=True)
    jaxpr = jax.make_jaxpr(grad_fn)(params, model_state, x, None, 0)
    convs = [e for e in eqns(jaxpr.jaxpr) if e.primitive.name == "conv_general_dilated"]
    assert len(convs) >= 5  # 2 forward, 2 input and 2 kernel gradients (less one unneeded)
    assert {v.aval.dtype for e in convs for v in e.invars} == {jnp.dtype(dtype)}
    (loss, (_, new_state)), grads = grad_fn(params, model_state, x, None, 0)
    assert {a.dtype for a in leaves((loss, grads, new_state))} == {np.dtype(np.float32)}


def test_bf16_keeps_float32_state_and_updates_close_to_fp32(data_dir):
    """One step in bf16 and in fp32 from the same state and batch: params, EMA params,
    optimizer and model state stay float32; the bf16 update is within a few bf16 rounding
    errors (2^-8 relative) of fp32's, and not equal to it (the cast is applied)."""
    task = toy.make_task(tx=optax.sgd(0.1, momentum=0.9))
    mesh = data.data_mesh()
    batch = next(data.load("digits", "train", 16, 0, mesh=mesh, data_dir=data_dir))
    states = {}
    for precision in ("fp32", "bf16"):
        cfg = toy.config(data_dir)
        cfg.train.precision = precision
        state = train.init_state(task, cfg, mesh)
        assert state.compute_dtype == {"fp32": jnp.float32, "bf16": jnp.bfloat16}[precision]
        p0 = leaves(state.params)
        states[precision], metrics = train.build_step(task.step, mesh)(state, batch)
        assert metrics["loss"].dtype == jnp.float32
    new = states["bf16"]
    floats = leaves((new.params, new.ema_params, new.opt_state, new.model_state))
    assert {a.dtype for a in floats} == {np.dtype(np.float32)}
    deltas = zip(p0, leaves(states["bf16"].params), leaves(states["fp32"].params), strict=True)
    for p, a, b in deltas:
        delta_bf16, delta_fp32 = a - p, b - p
        error = np.linalg.norm(delta_bf16 - delta_fp32) / np.linalg.norm(delta_fp32)
        assert 1e-4 < error < 0.05, error
