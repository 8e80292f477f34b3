"""Gated PixelCNN: mask patterns, masked convolutions against a full convolution with the
masked kernel, causality of the whole network checked with jax.grad (pixel i's output
depends on every pixel before i and on none from i on: no blind spot), normalisation over
every 1x2 image, the compiled sampler against the model's conditionals, and the experiment
(training, exact test bits/dim, sampling time, presets)."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxgen import losses, runs, train
from jaxgen.evaluation import common
from jaxgen.models import pixelcnn
from jaxgen.runs import load_experiment

from .family_helpers import (  # noqa: F401  (fast_cpu_random: an autouse fixture)
    assert_loss_decreases,
    fast_cpu_random,
    num_params,
    tiny_config,
)

KEY = jax.random.PRNGKey(0)


def test_causal_masks():
    v_a, v_b = (pixelcnn.causal_mask((5, 5), "vertical", t) for t in "AB")
    np.testing.assert_array_equal(v_a, np.repeat([[1], [1], [0], [0], [0]], 5, axis=1))
    np.testing.assert_array_equal(v_b, np.repeat([[1], [1], [1], [0], [0]], 5, axis=1))
    h_a, h_b = (pixelcnn.causal_mask((1, 5), "horizontal", t) for t in "AB")
    np.testing.assert_array_equal(h_a, [[1, 1, 0, 0, 0]])
    np.testing.assert_array_equal(h_b, [[1, 1, 1, 0, 0]])
    with pytest.raises(ValueError, match=r"kernel_size \(4, 4\) must be odd"):
        pixelcnn.causal_mask((4, 4), "vertical", "A")
    with pytest.raises(ValueError, match="is empty; use a larger kernel"):
        pixelcnn.causal_mask((1, 1), "horizontal", "A")
    with pytest.raises(ValueError, match="Unknown mask_type 'C'"):
        pixelcnn.causal_mask((3, 3), "vertical", "C")


@pytest.mark.parametrize(
    ("kernel_size", "stack", "mask_type"),
    [((5, 5), "vertical", "A"), ((1, 5), "horizontal", "B")],
)
def test_masked_conv_is_a_same_conv_with_the_masked_kernel(kernel_size, stack, mask_type):
    """Only the mask's bounding box is stored: embedding it in the full kernel and running
    a SAME convolution gives the same output."""
    conv = pixelcnn.MaskedConv(4, kernel_size, stack, mask_type)
    x = jax.random.normal(KEY, (2, 6, 7, 3))
    params = {**jax.jit(conv.init)(KEY, x)["params"], "bias": jnp.arange(4.0)}
    mask = pixelcnn.causal_mask(kernel_size, stack, mask_type)
    rows, cols = np.nonzero(mask)
    full = jnp.zeros((*kernel_size, 3, 4))
    full = full.at[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].set(params["kernel"])
    expected = lax.conv_general_dilated(
        x, full * mask[..., None, None], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    got = jax.jit(conv.apply)({"params": params}, x)
    np.testing.assert_allclose(got, expected + params["bias"], atol=1e-5)


def pixel_gradients(fn, x):
    """[P, P] |d <w_i, fn(x)[i]> / d x_j| summed over channels, pixels in raster order, by
    one jax.grad per output pixel i (w_i a fixed random projection of pixel i's outputs)."""
    out = fn(x)
    num_pixels = out.shape[1] * out.shape[2]
    w = jax.random.normal(jax.random.PRNGKey(1), (num_pixels, out.shape[-1]))

    def grad_at(i):
        project = lambda x: jnp.sum(fn(x)[0].reshape(num_pixels, -1)[i] * w[i])
        return jnp.abs(jax.grad(project)(x)).sum(-1).reshape(-1)

    return np.asarray(jax.jit(jax.vmap(grad_at))(jnp.arange(num_pixels)))


def test_output_at_pixel_i_depends_on_every_pixel_before_i_and_none_after():
    """Mask A then mask B blocks: d out_i / d x_j = 0 for j >= i (raster order), and
    != 0 for every j < i, also up and to the right (no blind spot); 5 blocks cover 5x5.
    RGB, class-conditional, mixture head (the head is 1x1 convolutions: any head would do)."""
    model = pixelcnn.PixelCNN(
        (5, 5, 3), features=16, num_layers=5, output="logistic_mixture", num_classes=10
    )
    x = jax.random.uniform(KEY, (1, 5, 5, 3), minval=-1.0, maxval=1.0)
    labels = jnp.array([3])
    params = jax.jit(model.init)(KEY, x, labels)["params"]
    grads = pixel_gradients(lambda x: model.apply({"params": params}, x, labels), x)
    after = np.triu(np.ones((25, 25), bool))  # j >= i
    assert np.all(grads[after] == 0.0)
    assert np.all(grads[~after] > 0.0), np.argwhere((grads == 0) & ~after)


def test_pixel_rnn_never_looks_at_the_current_or_later_pixels():
    """Row LSTM: d out_i / d x_j = 0 for j >= i (raster order); > 0 for the pixel to the
    left, the pixels above and the row above's right neighbours (the state-to-state
    convolution's triangle), class-conditional."""
    model = pixelcnn.PixelRNN((5, 5, 1), features=8, num_layers=2, num_classes=10)
    x = jax.random.uniform(KEY, (1, 5, 5, 1), minval=-1.0, maxval=1.0)
    labels = jnp.array([3])
    params = jax.jit(model.init)(KEY, x, labels)["params"]
    grads = pixel_gradients(lambda x: model.apply({"params": params}, x, labels), x)
    after = np.triu(np.ones((25, 25), bool))  # j >= i
    assert np.all(grads[after] == 0.0)
    i = 2 * 5 + 2  # pixel (2, 2): sees (2, 1), (1, 2), (1, 3) and (0, 4)
    assert all(grads[i, j] > 0 for j in (2 * 5 + 1, 1 * 5 + 2, 1 * 5 + 3, 0 * 5 + 4))


def test_mask_b_block_never_looks_past_the_current_pixel():
    """In a mask-B block the horizontal output at i depends on the horizontal input at
    pixels <= i (i included), the vertical output at row r on vertical inputs of rows <= r."""
    block = pixelcnn.GatedBlock(4, 3, "B")
    v, h = jax.random.normal(KEY, (2, 1, 4, 4, 4))
    params = jax.jit(block.init, static_argnums=3)(KEY, v, h, None)["params"]
    h_grads = pixel_gradients(lambda h: block.apply({"params": params}, v, h, None)[1], h)
    v_grads = pixel_gradients(lambda v: block.apply({"params": params}, v, h, None)[0], v)
    after = np.triu(np.ones((16, 16), bool), 1)  # j > i
    assert np.all(h_grads[after] == 0.0) and np.all(np.diag(h_grads) > 0.0)
    rows = np.arange(16) // 4
    assert np.all(v_grads[rows[None, :] > rows[:, None]] == 0.0)
    assert np.all(np.diag(v_grads) > 0.0)


@pytest.mark.parametrize("network", [pixelcnn.PixelCNN, pixelcnn.PixelRNN])
def test_probabilities_of_all_256_x_256_images_of_two_pixels_sum_to_one(network):
    model = network((1, 2, 1), features=4, num_layers=2)
    levels = np.arange(256) / 127.5 - 1.0
    x = np.stack(np.meshgrid(levels, levels, indexing="ij"), -1).reshape(-1, 1, 2, 1)
    x = x.astype(np.float32)
    params = jax.jit(model.init)(KEY, x[:1])["params"]
    ll = jax.jit(lambda x: pixelcnn.log_likelihood(model, params, x))(x)
    assert np.exp(np.asarray(ll, np.float64)).sum() == pytest.approx(1.0, abs=1e-4)


def test_sampler_draws_each_pixel_from_the_models_conditional():
    """Teacher forcing: one pass over the finished sample gives, at every pixel, the
    conditional p(x_i | x_<i) the loop drew from (the network ignores pixels >= i), so
    redrawing pixel i with the loop's key fold_in(key, i) reproduces it. RGB, mixture,
    class-conditional: labels and channel coupling included."""
    model = pixelcnn.PixelCNN(
        (4, 4, 3),
        features=4,
        num_layers=2,
        output="logistic_mixture",
        num_mixtures=2,
        num_classes=10,
    )
    n = 3
    labels = pixelcnn.sample_labels(model, n)
    params = jax.jit(model.init)(KEY, jnp.zeros((n, 4, 4, 3)), labels)["params"]
    x = jax.jit(lambda k: pixelcnn.sample(model, params, k, n))(KEY)
    draw = pixelcnn.get_output("logistic_mixture").sample

    @jax.jit
    def redraw(x):
        out = model.apply({"params": params}, x, labels).reshape(n, 16, -1)
        keys = jax.vmap(lambda i: jax.random.fold_in(KEY, i))(jnp.arange(16))
        return jax.vmap(lambda k, o: draw(k, o, 3, 2), out_axes=1)(keys, jnp.swapaxes(out, 0, 1))

    redrawn = redraw(x)
    np.testing.assert_array_equal(losses.pixel_bins(redrawn.reshape(x.shape)), losses.pixel_bins(x))
    assert np.all(np.abs(x) <= 1.0) and len(np.unique(x)) > 4


@pytest.mark.parametrize("output", ["softmax", "logistic_mixture"])
def test_pixel_samplers_follow_their_likelihoods(output):
    """20,000 draws of one grey pixel: total variation to exp(log p) over the 256 levels."""
    spec = pixelcnn.get_output(output)
    maps = spec.num_maps(1, 3)
    out = jax.random.normal(KEY, (maps,)) * (2.0 if output == "softmax" else 0.5)
    if output == "logistic_mixture":
        out = out.at[6:9].set(-4.0)  # log scales s = 0.018: about 2 levels
    levels = (np.arange(256) / 127.5 - 1.0).reshape(256, 1, 1, 1).astype(np.float32)
    log_p = jax.jit(spec.log_likelihood, static_argnums=2)(
        levels, jnp.broadcast_to(out, (256, 1, 1, maps)), 3
    )
    p = np.exp(np.asarray(log_p, np.float64))
    draws = jax.jit(spec.sample, static_argnums=(2, 3))(
        jax.random.PRNGKey(5), jnp.broadcast_to(out, (20000, maps)), 1, 3
    )
    freq = np.bincount(np.round((np.asarray(draws[:, 0]) + 1) * 127.5).astype(int), minlength=256)
    assert p.sum() == pytest.approx(1.0, abs=1e-4)
    assert 0.5 * np.abs(freq / 20000 - p).sum() < 0.03


def test_mixture_sampler_couples_the_channels():
    """With tiny scales the draw is the location: G = bin(mu_G + a_GR R), B likewise."""
    k, c = 1, 3
    logit, means, log_scales, coeffs = [0.0], [0.2, -0.3, 0.1], [-9.0] * 3, [0.5, -0.4, 0.3]
    out = jnp.array([*logit, *means, *log_scales, *np.arctanh(coeffs)], jnp.float32)[None]
    draw = jax.jit(pixelcnn.get_output("logistic_mixture").sample, static_argnums=(2, 3))
    x = np.asarray(draw(KEY, out, c, k))[0]
    bins = lambda v: np.round((v + 1) * 127.5) / 127.5 - 1
    r = bins(0.2)
    g = bins(-0.3 + 0.5 * r)
    b = bins(0.1 - 0.4 * r + 0.3 * g)
    np.testing.assert_allclose(x, [r, g, b], atol=1e-6)


def test_parameter_count_and_bad_inputs():
    """Stored weights are the masks' supports: block A (in 1): vertical 1x3x1x16 + 16,
    horizontal 1x1x1x16 + 16, v->h 16x16 + 16, gated 8 -> 8 1x1 + 8 = 440; block B (in 8):
    2x3x8x16 + 16, 1x2x8x16 + 16, 272, 72 = 1,400; head 8x8 + 8, 8x256 + 256 = 2,376."""
    model = pixelcnn.PixelCNN((8, 8, 1), features=8, num_layers=2)
    params = jax.eval_shape(lambda k: model.init(k, jnp.zeros((2, 8, 8, 1)))["params"], KEY)
    assert num_params(params) == 440 + 1400 + 2376
    with pytest.raises(ValueError, match=r"PixelCNN for \(8, 8, 1\) images got x of shape"):
        jax.eval_shape(model.init, KEY, jnp.zeros((2, 4, 4, 1)))
    x = jnp.zeros((2, 8, 8, 1))
    with pytest.raises(ValueError, match="Unknown output 'laplace'; use one of softmax"):
        jax.eval_shape(pixelcnn.PixelCNN((8, 8, 1), output="laplace").init, KEY, x)
    with pytest.raises(ValueError, match="needs labels"):
        jax.eval_shape(pixelcnn.PixelCNN((8, 8, 1), num_classes=10).init, KEY, x)


def test_presets():
    experiment = load_experiment("pixelcnn")
    c = runs.experiment_config(experiment, ["--config.preset=cpu", "--config.train.steps=123"])
    assert c.data.name == "fashion_mnist" and c.data.batch_size == 32 and c.train.steps == 123
    with pytest.raises(runs.UsageError, match="Unknown preset 'tpu'; use one of quick, cpu, gpu"):
        runs.experiment_config(experiment, ["--config.preset=tpu"])


@pytest.mark.parametrize("arch", ["gated", "row_lstm"])
def test_experiment_trains_and_reports_exact_test_bits_per_dim(data_dir, tmp_path, arch):
    experiment, c = tiny_config("pixelcnn", data_dir)
    c.model.update({"features": 8, "num_layers": 2, "arch": arch})
    c.train.update({"steps": 40, "log_every": 4, "checkpoint_every": 40, "sample_every": 40})
    state = train.run_experiment(c, experiment.make_task(c), tmp_path, experiment="pixelcnn")
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert_loss_decreases(rows, 0.9)
    assert (tmp_path / "samples" / "step_000040.png").is_file()

    results = experiment.evaluate(tmp_path, overrides=["--config.eval.num_samples=4"])
    out = tmp_path / "eval" / "step_000040"
    assert json.loads((out / "eval.json").read_text()) == results
    # Independently: -mean log p(x) / (64 ln 2) over the 297 test images, EMA weights.
    images = common.load_test_split("digits", data_dir)[0]
    model = experiment.make_model(c)
    ll = jax.jit(lambda x: pixelcnn.log_likelihood(model, state.ema_params, x))(images)
    assert results["num_examples"] == 297 and results["step"] == 40
    assert results["test_bpd"] == pytest.approx(-float(np.mean(ll)) / (64 * math.log(2)), rel=1e-5)
    assert 0.5 < results["test_bpd"] < 8.0
    assert results["sampling"]["num_samples"] == 4 and results["sampling"]["seconds_per_image"] > 0
    assert (out / "samples.png").is_file()
