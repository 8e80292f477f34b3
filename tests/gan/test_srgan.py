"""SRResNet / SRGAN: the sub-pixel shuffle against a loop over its equation, the content
loss against numpy, the generator's shapes, and quick runs of both presets' paths with the
evaluation against bicubic."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxgen_experiments import srgan as srgan_experiment

from jaxgen import losses, train
from jaxgen.models import srgan


def test_pixel_shuffle_follows_its_equation():
    r, (b, h, w, c) = 2, (2, 3, 4, 3)
    x = np.random.default_rng(0).normal(size=(b, h, w, c * r * r)).astype(np.float32)
    out = np.asarray(srgan.pixel_shuffle(jnp.asarray(x), r))
    expected = np.zeros((b, h * r, w * r, c), np.float32)
    for hh, ww, ch, i, j in np.ndindex(h, w, c, r, r):
        expected[:, hh * r + i, ww * r + j, ch] = x[:, hh, ww, ch * r * r + i * r + j]
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="not a multiple of r"):
        srgan.pixel_shuffle(jnp.zeros((1, 2, 2, 6)), 2)


@pytest.mark.parametrize("factor", [2, 4])
def test_srresnet_scales_by_its_factor(factor):
    model = srgan.SRResNet(out_channels=1, width=8, num_blocks=1, factor=factor)
    out, _ = model.init_with_output(jax.random.key(0), jnp.ones((2, 7, 7, 1)))
    assert out.shape == (2, 7 * factor, 7 * factor, 1) and float(jnp.abs(out).max()) <= 1.0
    with pytest.raises(ValueError, match="power of 2"):
        srgan.SRResNet(out_channels=1, factor=3).init(jax.random.key(0), jnp.ones((1, 7, 7, 1)))


def test_content_loss_is_the_mean_squared_feature_distance():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 5, 2)), rng.normal(size=(3, 5, 2))
    np.testing.assert_allclose(
        losses.srgan_content_loss(a, b), ((a - b) ** 2).mean(axis=(1, 2)), rtol=1e-6
    )


@pytest.mark.parametrize("adversarial", [True, False])
def test_quick_srgan_and_srresnet_train_and_evaluate(tmp_path, data_dir, adversarial):
    c = srgan_experiment.get_config("quick")
    c.data.data_dir = data_dir
    changes = {
        "model.adversarial": adversarial,
        "train.steps": 4,
        "train.checkpoint_every": 4,
        "train.sample_every": 4,
        "loss.content": "features" if adversarial else "pixels",
    }
    c.update_from_flattened_dict(changes)  # fmt: skip
    state = train.run_experiment(c, srgan_experiment.make_task(c), str(tmp_path), "srgan")
    assert ("discriminator" in state.params) == adversarial
    results = srgan_experiment.evaluate(
        str(tmp_path), overrides=["--config.eval.num_examples=16", "--config.eval.batch_size=16"]
    )
    assert results["bicubic_psnr"] > 0 and np.isfinite(results["model_psnr"])
    assert results["model_ssim"] is None  # 8x8 digits: smaller than SSIM's window
    assert (tmp_path / "eval/step_000004/superresolved.png").exists()
