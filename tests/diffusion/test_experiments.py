"""The ddpm / ddpm_cond experiments with tiny U-Nets on `digits`: sharded training steps
reduce L_simple, and the sample hooks draw from the EMA params through one compiled scan."""

import json
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import dpm_solver_2m_sample, make_schedule
from jaxgen.models import diffusion, unet
from jaxgen.runs import load_experiment

from .helpers import random_params, scan_lengths, tiny_config

pytestmark = pytest.mark.usefixtures("fast_cpu_random")


def test_class_conditional_training_reduces_the_loss_and_samples(ddpm_cond_run):
    task, state, workdir = ddpm_cond_run
    rows = [json.loads(r) for r in (workdir / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows]
    assert int(state.step) == 40 and len(losses) == 40
    assert abs(losses[0] - 1.0) < 0.15  # zero-initialized output: eps_pred = 0, E eps^2 = 1
    assert np.mean(losses[-10:]) < 0.7 * losses[0], losses
    key = jax.random.key(0)
    images = task.sample(state, key)
    assert images.shape == (20, 8, 8, 1) and bool(jnp.all(jnp.abs(images) <= 1.0))
    assert bool(jnp.all(jnp.isfinite(images)))
    # The hook is one jitted scan of DDIM's 5 steps (guidance inside, on a doubled batch).
    assert scan_lengths(jax.make_jaxpr(task.sample)(state, key).jaxpr) == [5]


def test_unconditional_objective_and_ddpm_sample_hook(data_dir):
    experiment = load_experiment("ddpm")
    cfg = tiny_config(experiment, data_dir)
    cfg.diffusion.num_steps = 20
    cfg.sample.sampler = "ddpm"  # Algorithm 2 over all T = 20 steps
    task = experiment.make_task(cfg)
    model = unet.UNet(
        width=16, width_mults=(1,), num_res_blocks=1, attention_resolutions=(), norm_groups=8
    )  # the tiny config's U-Net
    x = jax.random.uniform(jax.random.key(0), (4, 8, 8, 1), minval=-1.0, maxval=1.0)
    params = random_params(model, x, jnp.zeros(4, jnp.int32))
    key = jax.random.key(1)

    def sample(params, key):
        return task.sample(SimpleNamespace(ema_params=params), key)  # all the hook reads

    images = sample(params, key)
    assert images.shape == (20, 8, 8, 1) and bool(jnp.all(jnp.isfinite(images)))
    assert scan_lengths(jax.make_jaxpr(sample)(params, key).jaxpr) == [20]
    # An unconditional model ignores the labels.
    schedule = make_schedule("linear", 20)

    @jax.jit
    def loss_fn(y):
        batch = {"image": x, "label": y}
        return diffusion.objective(model, schedule, params, {}, batch, key, 0)[0]

    loss = loss_fn(jnp.arange(4))
    assert np.isfinite(float(loss)) and float(loss) > 0
    assert float(loss_fn(jnp.zeros(4, jnp.int32))) == float(loss)


def test_drop_labels():
    y = jnp.arange(4000) % 10
    np.testing.assert_array_equal(diffusion.drop_labels(jax.random.key(0), y, 0.0, 10), y)
    np.testing.assert_array_equal(diffusion.drop_labels(jax.random.key(0), y, 1.0, 10), 10)
    dropped = diffusion.drop_labels(jax.random.key(0), y, 0.2, 10)
    assert abs(float(jnp.mean(dropped == 10)) - 0.2) < 0.03
    assert bool(jnp.all((dropped == y) | (dropped == 10)))


def test_drop_labels_drops_a_whole_context_per_example():
    """Text conditions [B, M, D] are dropped per example (every place to the empty zeros),
    with the same draws as labels of that batch."""
    y = jnp.ones((4000, 3, 2))
    dropped = diffusion.drop_labels(jax.random.key(0), y, 0.2, 0.0)
    rows = dropped.reshape(len(y), -1)
    assert bool(jnp.all((rows == 1).all(axis=1) | (rows == 0).all(axis=1)))
    labels = diffusion.drop_labels(jax.random.key(0), jnp.arange(4000) % 10, 0.2, 10)
    np.testing.assert_array_equal(rows[:, 0] == 0, labels == 10)


def test_guidance_on_a_context_uses_the_zero_context():
    """eps~ = (1 + w) eps(x, t, y) - w eps(x, t, 0) for a context U-Net (Imagen's empty
    condition), computed by hand against ``sample_eps_fn``."""
    model = unet.UNet(width=8, width_mults=(1,), num_res_blocks=1, attention_resolutions=(4,),
                      norm_groups=4, context=True)  # fmt: skip
    x, t = jax.random.normal(jax.random.key(0), (2, 4, 4, 1)), jnp.array([3, 30])
    y = jax.random.normal(jax.random.key(1), (2, 3, 5))
    params = random_params(model, x, t, y)  # no zero-initialized output: eps_pred != 0
    eps = jax.jit(lambda y: model.apply({"params": params}, x, t, y))
    guided = jax.jit(lambda: diffusion.sample_eps_fn(model, params, 2, 2.5, y)(x, t))()
    np.testing.assert_allclose(guided, 3.5 * eps(y) - 2.5 * eps(jnp.zeros_like(y)), atol=1e-5)


def test_reverse_process_dpm_solver_2m_is_the_sampler_and_ignores_the_key():
    schedule = make_schedule("linear", 10)
    options = {"num_steps": 5, "eta": 0.0, "variance": "beta"}
    reverse = diffusion.reverse_process("dpm++2m", schedule, **options)
    eps_fn = lambda x_t, t: jnp.tanh(x_t)  # noqa: E731
    x_T = jax.random.normal(jax.random.key(0), (3, 4))
    x_0 = reverse(eps_fn, x_T, jax.random.key(1))
    np.testing.assert_array_equal(reverse(eps_fn, x_T, jax.random.key(2)), x_0)
    np.testing.assert_array_equal(dpm_solver_2m_sample(eps_fn, schedule, x_T, 5), x_0)
    traced = diffusion.reverse_process("dpm++2m", schedule, **options, trajectory=True)
    final, xs = traced(eps_fn, x_T, jax.random.key(1))
    assert xs.shape == (5, 3, 4)
    np.testing.assert_array_equal(final, x_0)
    with pytest.raises(ValueError, match="num_steps must be in 1..T = 1..10"):
        diffusion.reverse_process("dpm++2m", schedule, **{**options, "num_steps": 11})


def test_config_errors():
    schedule = make_schedule("linear", 10)
    options = {"num_steps": 5, "eta": 0.0, "variance": "beta"}
    with pytest.raises(ValueError, match="Unknown sampler 'euler'"):
        diffusion.reverse_process("euler", schedule, **options)
    with pytest.raises(ValueError, match="Unknown variance 'fixed'"):
        diffusion.reverse_process("ddpm", schedule, **{**options, "variance": "fixed"})
    with pytest.raises(ValueError, match="num_steps must be in 1..T = 1..10"):
        diffusion.reverse_process("ddim", schedule, **{**options, "num_steps": 50})
    with pytest.raises(ValueError, match="eta must be in"):
        diffusion.reverse_process("ddim", schedule, **{**options, "eta": -0.5})
    with pytest.raises(ValueError, match="Unknown noise schedule 'quadratic'"):
        make_schedule("quadratic", 10)
