"""Latent diffusion on a spatial latent (Rombach et al. 2022) on `digits` with tiny models:
an ldm_autoencoder run (8x8 -> 2x2x4) and its evaluation, a class-conditional latent U-Net
trained on its latents, the decoded samples and the evaluation (steps and guidance tables,
pictures); the labels and label dropout of the latent objective; every preset's denoiser
on the latent grid of the autoencoder preset of the same name."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import data, train
from jaxgen.diffusion import make_schedule
from jaxgen.models import diffusion, latent_diffusion, ldm_autoencoder, unet
from jaxgen.runs import load_experiment

from .helpers import random_params, tiny_config

FID = "fid_digits_classifier"

pytestmark = pytest.mark.usefixtures("fast_cpu_random")


def latent_shape(autoencoder_config):
    """The latent grid (h, w, C) of the ldm_autoencoder of `autoencoder_config` (abstractly)."""
    model = load_experiment("ldm_autoencoder").make_model(autoencoder_config)
    x = jnp.zeros((1, *data.dataset_spec(autoencoder_config.data.name).shape))
    params = jax.eval_shape(model.init, jax.random.key(0), x, jax.random.key(0))["params"]
    return jax.eval_shape(lambda p: ldm_autoencoder.encode(model, p, x)[0], params).shape[1:]


@pytest.mark.parametrize("preset", ["quick", "cpu", "gpu"])
def test_each_presets_unet_fits_the_latent_grid_of_the_autoencoder_preset(preset):
    """latent_diffusion --config.preset=P runs on an `ldm_autoencoder --config.preset=P` run:
    the same dataset, and its U-Net maps the latent grid (2x2x4 or 7x7x4, odd sizes and
    downsampling included) to a noise prediction of the same shape."""
    c_ae = load_experiment("ldm_autoencoder").get_config(preset)
    experiment = load_experiment("latent_diffusion")
    c = experiment.get_config(preset)
    assert c.data.name == c_ae.data.name
    assert c.autoencoder.workdir == "runs/ldm_autoencoder"  # ldm_autoencoder's own run directory
    shape = latent_shape(c_ae)
    assert shape == {"digits": (2, 2, 4), "fashion_mnist": (7, 7, 4)}[c.data.name]
    model = experiment.make_model(c, shape)
    assert isinstance(model, unet.UNet)
    z, t = jnp.zeros((2, *shape)), jnp.zeros(2, jnp.int32)
    params = jax.eval_shape(model.init, jax.random.key(0), z, t)["params"]
    eps = jax.eval_shape(lambda p: model.apply({"params": p}, z, t), params)
    assert eps.shape == z.shape


def test_the_default_preset_denoises_a_latent_vector_with_the_mlp():
    experiment = load_experiment("latent_diffusion")
    c = experiment.get_config()
    assert c.preset == "digits" and c.autoencoder.workdir == "runs/vae"
    model = experiment.make_model(c, (16,))
    assert isinstance(model, latent_diffusion.LatentDenoiser)
    assert (model.width, model.depth) == (c.mlp.width, c.mlp.depth)
    assert isinstance(experiment.make_model(c, (2, 2, 4)), unet.UNet)
    c.model.class_conditional = True
    with pytest.raises(ValueError, match="has a latent vector, whose MLP denoiser is uncond"):
        experiment.make_model(c, (16,))


def test_latent_objective_sees_the_labels_and_drops_them():
    """On z_0 = s * encode(x): with p_uncond = 0 the loss depends on the labels, with
    p_uncond = 1 every label is the empty class, so it does not; z_0 = 0.5 * (2 x) = x gives
    the pixel objective's loss on x; the autoencoder's encode gets no gradient."""
    model = unet.UNet(8, (1,), 1, (), 1, 4, num_classes=10)
    schedule = make_schedule("linear", 100)
    x = jax.random.normal(jax.random.key(0), (6, 2, 2, 4))
    y = jnp.zeros(6, jnp.int32)
    params = random_params(model, x, y, y)
    params["Embed_0"]["embedding"] = 50.0 * params["Embed_0"]["embedding"]  # labels matter
    key = jax.random.key(1)
    a, b = jnp.arange(6), 9 - jnp.arange(6)

    def loss(labels, p_uncond=0.0, w=2.0):
        batch = {"image": x, "label": labels}
        encode = lambda v: w * v  # noqa: E731
        out = latent_diffusion.objective(
            model, schedule, encode, 0.5, params, {}, batch, key, 0, p_uncond=p_uncond
        )
        return out[0]

    assert float(loss(a)) != pytest.approx(float(loss(b)), rel=1e-3)
    assert float(loss(a, 1.0)) == float(loss(b, 1.0))
    pixel, _ = diffusion.objective(model, schedule, params, {}, {"image": x, "label": a}, key, 0)
    assert float(loss(a)) == pytest.approx(float(pixel), rel=1e-6)
    assert float(jax.grad(lambda w: loss(a, w=w))(2.0)) == 0.0


@pytest.fixture(scope="module")
def autoencoder_run(data_dir, tmp_path_factory):
    """(config, run directory) of a tiny ldm_autoencoder (widths 8, 16: 8x8 -> 2x2x4) trained
    20 steps."""
    experiment = load_experiment("ldm_autoencoder")
    c = experiment.get_config("quick")
    c.data.update({"batch_size": 32, "data_dir": data_dir})
    c.model.update({"widths": (8, 16)})
    c.train.update({"steps": 20, "log_every": 5, "checkpoint_every": 20, "sample_every": 0})
    c.train.update({"learning_rate": 3e-3, "num_samples": 16})
    workdir = tmp_path_factory.mktemp("ldm_autoencoder")
    train.run_experiment(c, experiment.make_task(c), workdir, experiment="ldm_autoencoder")
    return c, workdir


def test_autoencoder_trains_and_evaluates(autoencoder_run):
    c, workdir = autoencoder_run
    rows = [json.loads(r) for r in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) and r["kl"] > 0 for r in rows)
    assert rows[-1]["recon"] < rows[0]["recon"]
    results = load_experiment("ldm_autoencoder").evaluate(workdir)
    assert results["step"] == 20 and results["num_examples"] == 297
    assert 0 < results["recon_mse"] < 1.0
    assert (workdir / "eval" / "step_000020" / "reconstructions.png").stat().st_size > 500


def test_class_conditional_latent_unet_trains_samples_and_evaluates(
    autoencoder_run, data_dir, tmp_path
):
    """latent_diffusion on the autoencoder's 2x2x4 grid: a class-conditional U-Net with label
    dropout, samples decoded to [N, 8, 8, 1] in [-1, 1], the same for the same key; the
    evaluation's steps table (2 network evaluations per guided step), guidance table and
    pictures."""
    _, ae_dir = autoencoder_run
    experiment = load_experiment("latent_diffusion")
    c = tiny_config(experiment, data_dir)
    c.autoencoder.workdir = str(ae_dir)
    c.model.class_conditional = True
    c.loss.p_uncond = 0.2
    c.sample.update({"num_steps": 3, "guidance_w": 1.0})
    c.train.update({"steps": 20, "log_every": 5, "checkpoint_every": 20, "sample_every": 0})
    task = experiment.make_task(c)
    workdir = tmp_path / "ldm"
    state = train.run_experiment(c, task, workdir, experiment="latent_diffusion")
    rows = [json.loads(r) for r in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert int(state.step) == 20 and all(np.isfinite(r["loss"]) for r in rows)
    assert abs(rows[0]["loss"] - 1.0) < 0.3  # zero-initialized output: E eps^2 = 1
    assert "Embed_0" in state.params  # the class embedding

    images = task.sample(state, jax.random.key(0))
    assert images.shape == (20, 8, 8, 1) and bool(jnp.all(jnp.abs(images) <= 1.0))
    assert float(jnp.std(images)) > 0.01  # decoded, not constant
    np.testing.assert_array_equal(images, task.sample(state, jax.random.key(0)))
    assert not np.array_equal(images, task.sample(state, jax.random.key(1)))

    overrides = [
        "--config.eval.num_samples=20",
        "--config.eval.batch_size=10",
        "--config.eval.ddim_steps=(2,)",
        "--config.eval.ancestral=False",
        "--config.eval.guidance_ws=(0.0, 2.0)",
        "--config.eval.pictures=('steps', 'guidance')",
    ]
    results = experiment.evaluate(workdir, overrides=overrides)
    [row] = results["steps_table"]
    assert (row["sampler"], row["steps"], row["nfe"]) == ("ddim", 2, 4) and row[FID] > 0
    assert [r["guidance_w"] for r in results["guidance_table"]] == [0.0, 2.0]
    for r in results["guidance_table"]:
        assert r[FID] > 0 and 0 <= r["accuracy_digits_classifier"] <= 1
    out = workdir / "eval" / "step_000020"
    assert json.loads((out / "eval.json").read_text()) == results
    for name in ("steps", "guidance"):
        assert (out / results["files"][name]).stat().st_size > 500
