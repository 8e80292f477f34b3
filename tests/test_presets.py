"""Every preset of every experiment builds: the config passes the run's checks, and one
training step and the sample hook trace on the preset's data shape and batch over the
test mesh. Abstract evaluation only (jax.eval_shape, no compilation), so the `gpu`
presets, which CI never trains, are checked for shape errors on a CPU in seconds."""

import jax
import pytest

from jaxgen import data, runs
from jaxgen.train import run, step

NEEDS_A_RUN = {
    "latent_diffusion",
    "dalle",
    "imagen",
    "unclip",
}  # build on a trained stage: tested elsewhere


def experiment_presets():
    for name in sorted(set(runs.experiment_names()) - NEEDS_A_RUN):
        presets = getattr(runs.load_experiment(name), "PRESETS", None) or {None: {}}
        yield from ((name, preset) for preset in presets)


@pytest.mark.parametrize("name, preset", list(experiment_presets()))
def test_preset_builds_and_traces_a_step_and_samples(name, preset):
    module = runs.load_experiment(name)
    c = runs.experiment_config(module, [f"--config.preset={preset}"] if preset else [])
    dataset = c.data.get("name")
    if dataset and not data.dataset_spec(dataset).offline():  # make_task may load it (download)
        pytest.skip(f"{dataset} is not on this machine: apt-get install dataset-fashion-mnist")
    task = module.make_task(c)
    mesh = data.data_mesh()
    run.check_config(c, mesh.devices.size)
    state = run.abstract_state(task, c, mesh)
    if task.images is None:  # the dataset's shape, nothing loaded
        shapes = data.batch_shapes(c.data.name, c.data.batch_size)
        batch = {k: jax.ShapeDtypeStruct(*v) for k, v in shapes.items()}
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


@pytest.mark.parametrize("name", ["wgan_gp", "cgan", "stylegan", "vae", "ddpm_cond"])
def test_a_preset_applies_the_experiments_own_values_and_overrides_win(name):
    """--config.preset=gpu gives the experiment's own preset over its own defaults (wgan_gp's
    steps, not dcgan's); every key of the preset holds its value except the one overridden;
    the config records the preset; an unknown preset names the choices."""
    module = runs.load_experiment(name)
    overrides = ["--config.preset=gpu", "--config.seed=3", "--config.train.steps=7"]
    c = runs.experiment_config(module, overrides)
    assert c.preset == "gpu" and c.seed == 3 and c.train.steps == 7
    for key, value in module.PRESETS["gpu"].items():
        node = c
        for part in key.split("."):
            node = node[part]
        assert node == value or key == "train.steps", key
    assert runs.experiment_config(module, []).preset == module.get_config().preset
    with pytest.raises(runs.UsageError, match="Unknown preset 'gpuu'; use one of"):
        runs.experiment_config(module, ["--config.preset=gpuu"])


def test_an_experiment_without_presets_refuses_one():
    with pytest.raises(runs.UsageError, match="train_classifier has no presets"):
        runs.experiment_config(runs.load_experiment("train_classifier"), ["--config.preset=gpu"])
