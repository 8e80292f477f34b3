"""Deep image prior: the skip encoder-decoder's shapes and skip connections, the inverse
problems, PSNR, the offline photographs, and a few fitting steps through the shared fit
loop (metrics.jsonl with the PSNR, samples, checkpoint) followed by the evaluation."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import data, losses, train
from jaxgen.data import photos
from jaxgen.evaluation import dip as dip_eval
from jaxgen.models import dip
from jaxgen.runs import configure, load_experiment

from .family_helpers import fast_cpu_random  # noqa: F401  (an autouse fixture)

KEY = jax.random.PRNGKey(0)


def _shapes(model, z):
    params = jax.eval_shape(model.init, KEY, z)["params"]
    return {path: leaf.shape for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}


def _kernel(shapes, module):
    return next(s for p, s in shapes.items() if p[0].key == module and p[-1].key == "kernel")


def test_skipnet_shapes_and_skip_connections():
    model = dip.SkipNet(3, widths_down=(8, 16, 16), widths_up=(8, 12, 16), widths_skip=(4, 0, 2))
    z = jnp.zeros((1, 16, 24, 5))
    shapes = _shapes(model, z)
    # Down: stride-2 conv from the level's input, then a conv of the same width.
    assert _kernel(shapes, "down0_a") == (3, 3, 5, 8)
    assert _kernel(shapes, "down2_b") == (3, 3, 16, 16)
    # Skips: 1x1 convs from the level's input; level 1 has none (n_s = 0).
    assert _kernel(shapes, "skip0") == (1, 1, 5, 4) and _kernel(shapes, "skip2") == (1, 1, 16, 2)
    assert not any(p[0].key == "skip1" for p in shapes)
    # Up at level i reads concat(skip_i, upsampled level i + 1): n_s[i] + n_u[i + 1] channels
    # (the deepest level: n_s + n_d of its own down path).
    assert _kernel(shapes, "up2_a") == (3, 3, 2 + 16, 16)
    assert _kernel(shapes, "up1_a") == (3, 3, 0 + 16, 12)
    assert _kernel(shapes, "up0_a") == (3, 3, 4 + 12, 8)
    assert _kernel(shapes, "up0_b") == (1, 1, 8, 8) and _kernel(shapes, "out") == (1, 1, 8, 3)

    out = jax.eval_shape(model.apply, jax.eval_shape(model.init, KEY, z), z)
    assert out.shape == (1, 16, 24, 3)

    with pytest.raises(ValueError, match="divisible by 8"):
        jax.eval_shape(model.init, KEY, jnp.zeros((1, 20, 24, 5)))


def test_psnr_against_a_hand_computation():
    x = jnp.zeros((2, 4, 4, 1))
    x_hat = x.at[0].set(0.1).at[1, 0, 0, 0].set(2.0)
    # Example 0: MSE 0.01 -> 10 log10(4 / 0.01); example 1: MSE 4 / 16 -> 10 log10(16).
    expected = [10 * np.log10(400.0), 10 * np.log10(16.0)]
    np.testing.assert_allclose(losses.psnr(x, x_hat), expected, rtol=1e-6)
    # On [0, 1] images with R = 1 the PSNR is the same.
    np.testing.assert_allclose(losses.psnr((x + 1) / 2, (x_hat + 1) / 2, 1.0), expected, rtol=1e-5)
    assert np.isinf(float(losses.psnr(x, x)[0]))


def test_inverse_problems():
    x = jax.random.uniform(KEY, (1, 16, 16, 3), minval=-0.5, maxval=0.5)
    noisy = dip.make_problem("denoising", x.shape[1:], KEY, sigma=0.1)
    y = noisy.observe(x)
    np.testing.assert_array_equal(y, noisy.observe(x))  # a fixed key: the same y every step
    np.testing.assert_allclose(y, x + 0.1 * jax.random.normal(KEY, x.shape), atol=1e-6)
    np.testing.assert_array_equal(noisy.observe(jnp.ones_like(x)).max(), 1.0)  # clipped

    masked = dip.make_problem("inpainting", x.shape[1:], KEY, drop_prob=0.5)
    mask = masked.mask
    assert mask.shape == (1, 16, 16, 1) and 0.35 < float(mask.mean()) < 0.65
    np.testing.assert_array_equal(masked.observe(x), x * mask)

    sr = dip.make_problem("super_resolution", x.shape[1:], KEY, factor=4)
    assert sr.observe(x).shape == (1, 4, 4, 3)
    np.testing.assert_allclose(sr.observe(jnp.full_like(x, 0.5)), 0.5, atol=1e-5)

    with pytest.raises(ValueError, match="Unknown deep image prior task 'deblur'"):
        dip.make_problem("deblur", x.shape[1:], KEY)
    with pytest.raises(ValueError, match="not divisible by the factor 3"):
        dip.make_problem("super_resolution", x.shape[1:], KEY, factor=3)


def test_photos_load_offline_as_uint8_squares():
    camera, astronaut = photos.photo("camera", 32), photos.photo("astronaut", 32)
    assert camera.shape == (32, 32, 1) and astronaut.shape == (32, 32, 3)
    assert camera.dtype == astronaut.dtype == np.uint8
    assert photos.photo("camera", 32, channels=3).shape == (32, 32, 3)
    grey = photos.photo("astronaut", 32, channels=1)
    assert grey.shape == (32, 32, 1) and 0 < grey.mean() < 255
    with pytest.raises(ValueError, match="Unknown photo 'lena'"):
        photos.photo("lena", 32)


def _tiny(task, **overrides):
    experiment = load_experiment("dip")
    args = {
        "task": task,
        "data.size": 16,
        "model.widths_down": (8, 8),
        "model.widths_up": (8, 8),
        "model.widths_skip": (4, 4),
        "model.input_channels": 8,
        "train.steps": 40,
        "train.log_every": 5,
        "train.checkpoint_every": 40,
        "train.sample_every": 40,
        **overrides,
    }
    c = configure(experiment.get_config(), [f"--config.{k}={v}" for k, v in args.items()])
    return experiment, c


def test_dip_fits_through_the_fit_loop_and_evaluates(tmp_path):
    experiment, c = _tiny("denoising")
    workdir = tmp_path / "run"
    task = experiment.make_task(c)
    state = train.run_experiment(c, task, workdir, experiment="dip")
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(5, 45, 5))
    assert rows[-1]["loss"] < 0.5 * rows[0]["loss"], [r["loss"] for r in rows]
    assert all(np.isfinite(r["psnr"]) for r in rows)
    assert (workdir / "samples" / "step_000040.png").is_file()
    # The sample grid: the observation y (the same noisy image at every step), f(z), x.
    images = task.sample(state, KEY)
    clean = data.to_float(task.images)
    _, problem, _ = experiment.make_parts(c)
    np.testing.assert_allclose(images[0], problem.observe(clean)[0], atol=1e-5)
    np.testing.assert_array_equal(images[2], clean[0])
    assert float(jnp.abs(images[1] - clean[0]).max()) > 0

    results = experiment.evaluate(workdir)
    psnrs = [r["psnr"] for r in rows]
    assert results["psnr_best"] == pytest.approx(max(psnrs))
    assert results["best_step"] == rows[int(np.argmax(psnrs))]["step"]
    assert results["psnr_final"] == pytest.approx(psnrs[-1])
    assert results["task"] == "denoising" and results["psnr_baseline"] > results["psnr_observation"]
    out = workdir / "eval" / "step_000040"
    assert json.loads((out / "eval.json").read_text()) == results
    assert (out / "comparison.png").is_file() and (out / "psnr.png").is_file()


@pytest.mark.parametrize("task", list(dip_eval.BASELINES))
def test_baselines_improve_on_the_observation(task):
    clean = data.to_float(photos.photo("astronaut", 32))
    problem = dip.make_problem(task, clean.shape, KEY, sigma=0.2, drop_prob=0.5, factor=4)
    y = np.asarray(problem.observe(jnp.asarray(clean)[None]))[0]
    restored, name = dip_eval.BASELINES[task](y, clean, problem)
    assert restored.shape == clean.shape and name
    # The observation as a picture: noisy, with holes (zeros), or upsampled by copying.
    shown = np.asarray(dip.shown_at(jnp.asarray(y)[None], clean.shape))[0]
    assert dip_eval.psnr_np(clean, restored) > dip_eval.psnr_np(clean, shown) + 1.0
