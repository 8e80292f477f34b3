"""Every preset of every experiment builds: the config passes the run's checks, and one
training step and the sample hook trace on the preset's data shape and batch over the
test mesh. Abstract evaluation only (jax.eval_shape, no compilation), so the `gpu`
presets, which CI never trains, are checked for shape errors on a CPU in seconds."""

import jax
import jax.numpy as jnp
import pytest

from jaxgen import cli, data, train
from jaxgen.models import gan
from jaxgen.train import run, step

NEEDS_A_RUN = {"latent_diffusion"}  # builds on a trained autoencoder (tests/diffusion)


def experiment_presets():
    for name in sorted(set(cli.experiment_names()) - NEEDS_A_RUN):
        presets = getattr(cli.load_experiment(name), "PRESETS", None) or {None: {}}
        yield from ((name, preset) for preset in presets)


@pytest.mark.parametrize("name, preset", list(experiment_presets()))
def test_preset_builds_and_traces_a_step_and_samples(name, preset, monkeypatch):
    # The GANs' init is jitted with a CPU compiler option, which JAX refuses inside a trace.
    monkeypatch.setattr(gan, "jit_init", jax.jit)
    module = cli.load_experiment(name)
    c = cli.configure(module.get_config(), [f"--config.preset={preset}"] if preset else [])
    if preset:  # resolved here as make_task will (idempotent), to learn the preset's dataset
        train.apply_preset(c, module.PRESETS, module.get_config())
    dataset = c.data.get("name")
    if dataset and not data.dataset_spec(dataset).offline():  # make_task may load it (download)
        pytest.skip(f"{dataset} is not on this machine: apt-get install dataset-fashion-mnist")
    task = module.make_task(c)
    mesh = data.data_mesh()
    run.check_config(c, mesh.devices.size)
    state = jax.eval_shape(lambda: run.init_state(task, c, mesh))
    if task.images is None:  # the dataset's shape, nothing loaded
        images = (c.data.batch_size, *data.dataset_spec(c.data.name).shape)
        batch = {
            "image": jax.ShapeDtypeStruct(images, jnp.float32),
            "label": jax.ShapeDtypeStruct(images[:1], jnp.int32),
        }
    else:  # the run's own batches of the task's images
        batch = next(run.task_batches(task, c, mesh))
    new_state, metrics = jax.eval_shape(step.build_step(task.step, mesh), state, batch)
    assert jax.tree.map(lambda x: (x.shape, x.dtype), new_state) == jax.tree.map(
        lambda x: (x.shape, x.dtype), state
    )
    assert metrics["param_norm"].shape == ()
    if task.sample is not None:
        samples = jax.eval_shape(task.sample, state, jax.random.PRNGKey(0))
        assert samples.shape[1:] == batch["image"].shape[1:]
