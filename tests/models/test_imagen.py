"""Imagen, unCLIP and their upsampler: unCLIP's prior (conditioning, the empty condition),
and quick runs end to end on digits_captions (the cascade's evaluation with the
thresholding table, unCLIP's evaluation with variations, the upsampler's against bilinear)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxgen_experiments import imagen as imagen_experiment
from jaxgen_experiments import unclip as unclip_experiment
from jaxgen_experiments import upsampler as upsampler_experiment

from jaxgen.models import unclip

from .conftest import quick_run


def test_imagen_needs_captions_and_a_valid_augmentation_level():
    c = imagen_experiment.get_config("quick")
    c.data.name = "digits"
    with pytest.raises(ValueError, match="has no captions"):
        imagen_experiment.make_task(c)
    c = upsampler_experiment.get_config("quick")
    c.sample.aug_level = 6
    with pytest.raises(ValueError, match=r"aug_level=6 .* choose 0..5"):
        upsampler_experiment.make_task(c)


def test_prior_reads_text_time_and_its_noised_embedding_per_example():
    prior = unclip.Prior(width=16, depth=1, num_heads=2)
    z, t = jax.random.normal(jax.random.key(0), (3, 8)), jnp.array([1, 10, 100])
    y = jax.random.normal(jax.random.key(1), (3, 4, 5))
    params = prior.init(jax.random.key(2), z, t, y)["params"]
    apply = jax.jit(lambda z, t, y: prior.apply({"params": params}, z, t, y))
    out = apply(z, t, y)
    assert out.shape == z.shape and prior.null_label == 0.0
    for changed in (apply(z, t, y.at[1].add(1.0)), apply(z.at[1].add(1.0), t, y),
                    apply(z, t.at[1].set(500), y)):  # fmt: skip
        np.testing.assert_allclose(changed[::2], out[::2], atol=1e-6)
        assert float(jnp.abs(changed[1] - out[1]).max()) > 1e-4
    with pytest.raises(ValueError, match=r"z_t \[B, E\], t \[B\] and y \[B, L, D\]"):
        prior.apply({"params": params}, z, t, y[0])


def test_scaled_embedding_has_norm_sqrt_e():
    z = unclip.scaled_embedding(jnp.array([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5]]))
    np.testing.assert_allclose(jnp.linalg.norm(z, axis=-1), [2.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(z[0], [1.2, 1.6, 0.0, 0.0], rtol=1e-6)


STEPS = {"train.steps": 10, "train.sample_every": 10, "train.checkpoint_every": 10}


@pytest.fixture(scope="module")
def quick_upsampler(tmp_path_factory):
    """The run directory of a 10-step quick upsampler (16 -> 32 on digits_captions)."""
    workdir = str(tmp_path_factory.mktemp("upsampler") / "run")
    quick_run(upsampler_experiment, workdir, "quick", **STEPS)
    return workdir


def test_upsampler_evaluation_against_bilinear(quick_upsampler):
    results = upsampler_experiment.evaluate(
        quick_upsampler, overrides=["--config.eval.num_examples=16", "--config.eval.batch_size=16"]
    )
    assert results["bilinear_psnr"] > 15 and results["bilinear_ssim"] > 0.5
    assert np.isfinite(results["model_psnr"]) and results["model_fid"] > 0


def test_quick_imagen_and_its_thresholding_table(tmp_path, quick_clip, quick_upsampler):
    """A quick Imagen run through the cascade and the thresholding table (the text-to-image
    scores of its evaluation are DALL-E's and unCLIP's, tested with them)."""
    state = quick_run(
        imagen_experiment, str(tmp_path), "quick", **STEPS, **{"clip.workdir": quick_clip}
    )
    c = imagen_experiment.get_config("quick")
    c.update_from_flattened_dict({"clip.workdir": quick_clip, "eval.upsampler": quick_upsampler,
                                  "eval.clip_run": quick_clip, "eval.batch_size": 8,
                                  "eval.thresholding_examples": 8,
                                  "eval.thresholding_weights": (5.0,)})  # fmt: skip
    result = imagen_experiment.thresholding_table(c, state.ema_params, tmp_path)
    table = result["thresholding"]
    assert [(r["imagen_w"], r["threshold"]) for r in table] == [(5.0, "static"), (5.0, "dynamic")]
    assert all(0 <= r["saturated"] <= 1 and r["fid"] > 0 for r in table)
    assert all(0 <= r["accuracy_caption"] <= 1 and r["clip_score"] >= 0 for r in table)
    assert result["fid_static_w5"] == table[0]["fid"]  # the rows as keys for the README
    assert result["saturated_dynamic_w5"] == table[1]["saturated"]
    assert (tmp_path / "thresholding.png").exists()


def test_quick_unclip_end_to_end(tmp_path, quick_clip, quick_upsampler):
    state = quick_run(unclip_experiment, str(tmp_path), "quick", **STEPS,
                      **{"clip.workdir": quick_clip})  # fmt: skip
    assert set(state.params) == {"prior", "decoder"}
    overrides = [f"--config.eval.upsampler={quick_upsampler}",
                 f"--config.eval.clip_run={quick_clip}", "--config.eval.num_examples=8",
                 "--config.eval.batch_size=8"]  # fmt: skip
    results = unclip_experiment.evaluate(str(tmp_path), overrides=overrides)
    assert 0 <= results["accuracy_caption"] <= 1 and results["real_accuracy_size"] == 1.0
    assert -1 <= results["prior_cosine_to_image"] <= 1
    assert (tmp_path / "eval/step_000010/variations.png").exists()
