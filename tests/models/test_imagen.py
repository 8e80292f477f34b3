"""Imagen and its upsampler end to end on digits_captions: quick runs, the cascade's
evaluation with the thresholding table, the upsampler's evaluation against bilinear."""

import numpy as np
import pytest
from jaxgen_experiments import imagen as imagen_experiment
from jaxgen_experiments import upsampler as upsampler_experiment

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


def test_quick_upsampler_and_imagen_end_to_end(tmp_path, quick_clip):
    up_dir, base_dir = str(tmp_path / "up"), str(tmp_path / "imagen")
    steps = {"train.steps": 10, "train.sample_every": 10, "train.checkpoint_every": 10}
    quick_run(upsampler_experiment, up_dir, "quick", **steps)
    results = upsampler_experiment.evaluate(
        up_dir, overrides=["--config.eval.num_examples=16", "--config.eval.batch_size=16"]
    )
    assert results["bilinear_psnr"] > 15 and results["bilinear_ssim"] > 0.5
    assert np.isfinite(results["model_psnr"]) and results["model_fid"] > 0

    quick_run(imagen_experiment, base_dir, "quick", **steps, **{"clip.workdir": quick_clip})
    overrides = [f"--config.eval.upsampler={up_dir}", f"--config.eval.clip_run={quick_clip}",
                 "--config.eval.num_examples=16", "--config.eval.batch_size=16",
                 "--config.eval.thresholding_examples=16",
                 "--config.eval.thresholding_weights=(1.0,5.0)"]  # fmt: skip
    results = imagen_experiment.evaluate(base_dir, overrides=overrides)
    for suffix in ("", "_held_out"):
        assert 0 <= results["accuracy_caption" + suffix] <= 1
        assert results["real_accuracy_colour" + suffix] == 1.0
    table = results["thresholding"]
    assert [(r["imagen_w"], r["threshold"]) for r in table] == [
        (1.0, "static"), (5.0, "static"), (1.0, "dynamic"), (5.0, "dynamic")
    ]  # fmt: skip
    assert all(0 <= r["saturated"] <= 1 and r["fid"] > 0 for r in table)
    assert (tmp_path / "imagen/eval/step_000010/thresholding.png").exists()
