"""Conv autoencoder, denoising autoencoder and VQ-VAE: shapes and exact parameter counts
(abstractly, nothing compiled), sharded training on `digits` through train.build_step, the
EMA codebook in the model state, the sample hooks, the test-set evaluation, determinism."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import data, losses
from jaxgen.evaluation import latent
from jaxgen.models import autoencoder, vqvae

from .family_helpers import (  # noqa: F401  (fast_cpu_random: an autouse fixture)
    Run,
    assert_loss_decreases,
    fast_cpu_random,
    num_params,
    tiny_config,
)

KEY = jax.random.PRNGKey(0)
X = jnp.zeros((4, 8, 8, 1))


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_autoencoder_shapes_and_parameter_count(upsample):
    model = autoencoder.ConvAutoencoder((8, 8, 1), bottleneck=4, widths=(8, 16), upsample=upsample)
    params = jax.eval_shape(model.init, KEY, X)["params"]
    # Conv 1->8 (80), 8->16 (1,168), Dense 64->4 (260) | Dense 4->64 (320), upsampling
    # 16->8 (1,160) and 8->1 (73): transposed and resize convs have the same kernels.
    assert num_params(params) == 3_061
    code = jax.eval_shape(lambda p: model.apply({"params": p}, X, method=model.encode), params)
    out = jax.eval_shape(lambda p: model.apply({"params": p}, X), params)
    assert code.shape == (4, 4) and out.shape == X.shape


def test_corruptions():
    x = jnp.ones((2, 8, 8, 1))
    assert autoencoder.make_corruption("none")(x, KEY) is x
    noisy = autoencoder.make_corruption("gaussian", noise_std=0.5)(x, KEY)
    assert 0.3 < float(jnp.std(noisy - x)) < 0.7
    masked = autoencoder.make_corruption("masking", mask_prob=0.5)(x, KEY)
    assert set(np.unique(masked).tolist()) == {0.0, 1.0} and 0.3 < float(masked.mean()) < 0.7
    with pytest.raises(ValueError, match="Unknown corruption 'blur'; use one of none"):
        autoencoder.make_corruption("blur")
    with pytest.raises(ValueError, match="mask_prob"):
        autoencoder.make_corruption("masking", mask_prob=1.0)


def test_comparison_rows_interleave_groups_row_by_row():
    a, b = jnp.zeros((6, 1, 1, 1)), jnp.ones((6, 1, 1, 1))
    rows = autoencoder.comparison_rows([a, b], ncol=3)
    np.testing.assert_array_equal(rows.ravel(), [0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1])


def test_dae_trains_evaluates_and_shows_noisy_denoised_clean_rows(data_dir, tmp_path):
    """The conv autoencoder's training (as a DAE under Gaussian noise; `ae` is the same
    model and step with the identity corruption)."""
    experiment, c = tiny_config("dae", data_dir, bottleneck=8)
    c.train.num_samples = 27  # a grid of 6 columns: rows noisy / denoised / clean
    run = Run(experiment, c)
    state, history = run.train(25)
    assert_loss_decreases(history, 0.75)
    # Bottleneck 8 instead of 4: 2 x (64 x 4 + 4) more than the count above.
    assert num_params(state.params) == 3_577
    images = run.task.sample(state, jax.random.PRNGKey(1))
    assert images.shape == (27, 8, 8, 1) and bool(jnp.all(jnp.abs(images) <= 1.0))
    clean = data.to_float(data.load_split("digits", "test", data_dir)[0])
    np.testing.assert_array_equal(images[12:18], clean[:6])  # third row: the clean images
    results = latent.evaluate_reconstructions(
        lambda p, x: autoencoder.reconstruct(experiment.make_model(c), p, x),
        state.ema_params,
        tmp_path,
        dataset="digits",
        data_dir=data_dir,
        corrupt_fn=autoencoder.make_corruption(**c.loss),
        step=25,
    )
    assert 0 < results["recon_mse"] < 1.0 and results["num_params"] == 3_577
    # Gaussian noise of std 0.5: the corrupted inputs' MSE is about 0.25.
    assert abs(results["noisy_mse"] - 0.25) < 0.01 and 0 < results["denoise_mse"] < 1.0
    assert (tmp_path / "denoising.png").is_file() and (tmp_path / "reconstructions.png").is_file()
    assert json.loads((tmp_path / "eval.json").read_text()) == results


def test_ae_sample_hook_shows_input_and_reconstruction_rows(data_dir):
    experiment, c = tiny_config("ae", data_dir, bottleneck=8)
    c.train.num_samples = 18  # a grid of 5 columns: rows input / reconstruction
    run = Run(experiment, c)
    images = run.task.sample(run.init(), jax.random.PRNGKey(1))
    clean = data.to_float(data.load_split("digits", "test", data_dir)[0])
    assert images.shape == (18, 8, 8, 1)
    np.testing.assert_array_equal(images[:5], clean[:5])
    np.testing.assert_array_equal(images[10:14], clean[5:9])


@pytest.mark.parametrize("ema", [False, True])
def test_vqvae_shapes_and_parameter_count(ema):
    model = vqvae.VQVAE((8, 8, 1), widths=(8, 16), num_codes=12, code_dim=4, ema=ema)
    params, model_state = jax.eval_shape(lambda k: vqvae.init(model, k, X), KEY)
    # Conv 1->8 (80), 8->16 (1,168), 1x1 Conv 16->4 (68) | Conv 3x3 4->16 (592),
    # ConvTranspose 16->8 (1,160), 8->1 (73); the 12 x 4 codebook is a parameter without EMA.
    assert num_params(params) == 3_141 + (0 if ema else 48)
    if ema:
        assert set(model_state[vqvae.EMA_COLLECTION]) == {"codebook", "cluster_size", "embed_sum"}
    else:
        assert model_state == {}
    x_recon, z_e, q = jax.eval_shape(
        lambda p, s: model.apply({"params": p, **s}, X), params, model_state
    )
    assert x_recon.shape == X.shape and z_e.shape == (4, 2, 2, 4)
    assert q.indices.shape == (4, 2, 2) and q.indices.dtype == jnp.int32


def evaluate_vqvae(run, state, out_dir, data_dir):
    model = run.experiment.make_model(run.c)
    return latent.evaluate_reconstructions(
        lambda p, x: vqvae.reconstruct(model, p, state.model_state, x),
        state.ema_params,
        out_dir,
        dataset="digits",
        data_dir=data_dir,
        indices_fn=lambda p, x: vqvae.encode_indices(model, p, state.model_state, x),
        num_codes=model.num_codes,
        step=int(state.step),
    )


def test_vqvae_gradient_codebook_trains(data_dir):
    experiment, c = tiny_config("vqvae", data_dir, num_codes=16, code_dim=4)
    c.train.learning_rate = 1e-3
    run = Run(experiment, c)
    state, history = run.train(40)
    assert_loss_decreases(history, 0.9)
    assert all(1.0 <= h["perplexity"] <= 16.0 for h in history)
    assert all(h["codebook"] == pytest.approx(h["commitment"]) for h in history)  # same norm
    assert "codebook" in state.params and state.model_state == {}


def test_vqvae_ema_codebook_lives_in_the_model_state(data_dir, tmp_path):
    """The first sharded step's codebook equals the EMA update over the *global* batch
    (counts psum'd over the 4 devices) and the optimizer never sees it; training reduces
    the loss; the same seed gives identical metrics twice."""
    experiment, c = tiny_config("vqvae", data_dir, num_codes=16, code_dim=4, ema=True)
    run = Run(experiment, c)
    state0 = run.init()
    params0, ms0 = jax.device_get((state0.params, state0.model_state))
    batches = run.batches()
    batch = next(batches)
    state, metrics = run.step(state0, batch)

    model = experiment.make_model(c)
    variables = {"params": params0, **ms0}
    z_e = model.apply(variables, np.asarray(batch["image"]), method=model.encode)
    q = model.apply(variables, z_e, method=model.quantize)
    ema = losses.EMACodebookState(**ms0[vqvae.EMA_COLLECTION])
    expected = losses.ema_codebook_update(ema, z_e, q.indices, c.loss.ema_decay)
    got = state.model_state[vqvae.EMA_COLLECTION]
    for name in ("codebook", "cluster_size", "embed_sum"):
        np.testing.assert_allclose(got[name], getattr(expected, name), rtol=1e-4, atol=1e-6)
    assert "codebook" not in state.params
    np.testing.assert_allclose(metrics["perplexity"], losses.codebook_perplexity(q.indices, 16))

    state, history = run.train(39, state, batches)
    assert_loss_decreases(history, 0.75)
    results = evaluate_vqvae(run, state, tmp_path, data_dir)
    assert 1.0 <= results["perplexity"] <= results["codes_used"] <= 16
    assert results["num_examples"] == 297 and 0 < results["recon_mse"] < 1.0
    assert (tmp_path / "reconstructions.png").is_file()

    first, second = (run.train(3)[1] for _ in range(2))
    assert first == second
