"""Normalizing flows: every layer and the whole multi-scale Glow (channel and checkerboard
masks) are invertible to float32 tolerance and their log-determinants equal
jnp.linalg.slogdet of the Jacobian from jax.jacfwd; ActNorm's data-dependent init, the
1x1 convolution's rotation init, temperature sampling, interpolation, and the experiment
(training, dequantized test bits/dim, pictures, presets)."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import runs, train
from jaxgen.evaluation import common
from jaxgen.models import flows
from jaxgen.runs import load_experiment

from .family_helpers import (  # noqa: F401  (fast_cpu_random: an autouse fixture)
    assert_loss_decreases,
    fast_cpu_random,
    tiny_config,
)

KEY = jax.random.PRNGKey(0)


def perturb(params, seed, scale=0.2):
    """params + scale * N(0, 1) (numpy, nothing to compile): away from the zero-initialised
    (identity-like) layers."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda p: p + scale * rng.standard_normal(p.shape, np.float32), params)


def check_bijection(forward, inverse, x, atol=1e-5):
    """inverse(forward(x)) = x, logdet of forward = slogdet of its jacfwd Jacobian on the
    first example, and the inverse's logdet is its negative."""
    y, logdet = forward(x)
    x_back, logdet_inv = inverse(y)
    np.testing.assert_allclose(x_back, x, atol=atol)
    np.testing.assert_allclose(logdet_inv, -logdet, atol=1e-4)
    jac = jax.jacfwd(lambda xi: forward(xi[None])[0][0])(x[0])
    sign, log_abs_det = jnp.linalg.slogdet(jac.reshape(y[0].size, x[0].size))
    assert float(sign) != 0.0
    np.testing.assert_allclose(logdet[0], log_abs_det, rtol=1e-4, atol=1e-4)


LAYERS = {
    "actnorm": flows.ActNorm(),
    "invconv1x1": flows.InvConv1x1(),
    "coupling_checkerboard": flows.AffineCoupling(8, "checkerboard", 0),
    "coupling_channel": flows.AffineCoupling(8, "channel", 1),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_is_invertible_with_the_jacobian_log_determinant(name):
    """Also the initialisations: ActNorm's output has zero mean and unit variance per
    channel on its init batch (data-dependent); the 1x1 convolution's W is a rotation."""
    layer = LAYERS[name]
    x = jax.random.normal(KEY, (3, 2, 2, 4)) * jnp.array([0.5, 1.0, 2.0, 3.0]) + 0.3
    init_params = jax.jit(layer.init)(KEY, x)["params"]
    apply = jax.jit(lambda p, x, rev: layer.apply({"params": p}, x, rev), static_argnums=2)
    if name == "actnorm":
        y = apply(init_params, x, False)[0]
        np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
        np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1.0, atol=1e-4)
    if name == "invconv1x1":
        p = jax.tree.map(np.asarray, init_params)
        lower = np.tril(p["lower"], -1) + np.eye(4)
        w = lower @ (np.triu(p["upper"], 1) + np.diag(np.exp(p["log_s"])))
        np.testing.assert_allclose(w @ w.T, np.eye(4), atol=1e-5)
        assert abs(p["log_s"].sum()) < 1e-5  # |det W| = 1
    params = perturb(init_params, 1)
    check_bijection(lambda x: apply(params, x, False), lambda y: apply(params, y, True), x)


def test_split_and_squeeze_are_invertible_with_the_jacobian_log_determinant():
    split = flows.Split(2)
    h = jax.random.normal(KEY, (2, 2, 2, 4))
    params = perturb(jax.jit(split.init, static_argnames="method")(KEY, h, method="forward"), 0)

    def forward(h):
        h_keep, eps, logdet = split.apply(params, h, method="forward")
        return jnp.concatenate([eps, h_keep], -1), logdet

    def inverse(y):
        eps, h_keep = jnp.split(y, 2, axis=-1)
        return split.apply(params, h_keep, eps, method="inverse")

    check_bijection(jax.jit(forward), jax.jit(inverse), h)
    x = jax.random.normal(KEY, (2, 4, 6, 3))
    np.testing.assert_array_equal(flows.unsqueeze(flows.squeeze(x)), x)
    np.testing.assert_array_equal(flows.squeeze(x)[0, 1, 2], x[0, 2:4, 4:6].reshape(-1))


def test_glow_is_invertible_with_the_jacobian_log_determinant_and_samples_by_temperature():
    """Two levels (squeeze, step, split; squeeze, step): x <-> eps of x's size. T = 0
    samples are all the mode f^-1(0); interpolation rows start and end at the images."""
    model = flows.Glow((4, 4, 1), levels=2, steps_per_level=1, hidden=8)
    x = jax.random.uniform(KEY, (4, 4, 4, 1), minval=-1.0, maxval=1.0)
    params = perturb(jax.jit(model.init)(KEY, x)["params"], 2, 0.1)
    forward = jax.jit(lambda x: model.apply({"params": params}, x))
    inverse = jax.jit(lambda z: model.apply({"params": params}, z, method="inverse"))
    check_bijection(forward, inverse, x)
    assert forward(x)[0].shape == (4, 16)

    sample = jax.jit(lambda t: flows.sample(model, params, KEY, 3, t))
    cold, warm = np.asarray(sample(0.0)), np.asarray(sample(0.5))
    mode = np.clip(inverse(jnp.zeros((1, 16)))[0], -1.0, 1.0)
    np.testing.assert_allclose(cold, np.broadcast_to(mode, cold.shape), atol=1e-6)
    assert np.std(warm, axis=0).max() > 1e-3
    rows = jax.jit(lambda a, b: flows.interpolate(model, params, a, b, 4))(x[:2], x[2:])
    rows = np.asarray(rows).reshape(2, 6, 4, 4, 1)
    np.testing.assert_allclose(rows[:, 1], rows[:, 0], atol=1e-5)  # t = 0 decodes x_a
    np.testing.assert_allclose(rows[:, 4], rows[:, 5], atol=1e-5)  # t = 1 decodes x_b


def test_bad_configurations_fail_with_the_fix():
    with pytest.raises(ValueError, match=r"divisible by 2\^levels = 8 \(e.g. levels=2"):
        flows.latent_shapes((28, 28, 1), 3)
    x = jnp.zeros((2, 8, 8, 1))
    with pytest.raises(ValueError, match="Unknown coupling mask 'stripes'"):
        jax.eval_shape(flows.Glow((8, 8, 1), coupling_mask="stripes").init, KEY, x)
    with pytest.raises(ValueError, match="A channel mask needs >= 2 channels"):
        flows.coupling_mask("channel", (4, 4, 1), 0)
    c = runs.experiment_config(
        load_experiment("glow"), ["--config.preset=cpu", "--config.train.steps=123"]
    )
    assert c.data.name == "fashion_mnist" and c.data.batch_size == 32 and c.train.steps == 123


def test_experiment_trains_and_reports_dequantized_test_bits_per_dim(data_dir, tmp_path):
    experiment, c = tiny_config("glow", data_dir)
    c.model.update({"steps_per_level": 1, "hidden": 8})
    c.train.update(
        {"steps": 30, "log_every": 1, "checkpoint_every": 30, "sample_every": 30, "warmup_steps": 0}
    )
    state = train.run_experiment(c, experiment.make_task(c), tmp_path, experiment="glow")
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert_loss_decreases(rows, 0.9)

    overrides = ["--config.eval.num_samples=4", "--config.eval.temperatures=(0.0,1.0)"]
    results = experiment.evaluate(tmp_path, overrides=overrides)
    out = tmp_path / "eval" / "step_000030"
    assert json.loads((out / "eval.json").read_text()) == results
    # bits/dim = (NLL + D log((L - 1) / 2)) / (D ln 2), dequantized over digits' L = 17 levels.
    d = 64
    expected_bpd = (results["test_nll_nats"] + d * math.log(8.0)) / (d * math.log(2))
    assert results["test_bpd"] == pytest.approx(expected_bpd, rel=1e-6)
    # Independently, with other dequantization noise: the same NLL up to that noise.
    images = common.load_test_split("digits", data_dir)[0]
    model = experiment.make_model(c)
    ll = jax.jit(lambda x: flows.dequantized_log_likelihood(model, state.ema_params, x, KEY, 17))
    assert -float(np.mean(ll(images))) == pytest.approx(results["test_nll_nats"], abs=0.5)
    for name in ("samples", "temperatures", "interpolation"):
        assert (out / f"{name}.png").is_file()
