"""VAE, beta-VAE, 2-D latent VAE and hierarchical VAE: shapes and exact parameter counts
(abstractly, no compilation), sharded training on `digits`, IWAE >= ELBO and its growth with
k on a trained model, the evaluation entry point with its pictures, presets, determinism."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import losses, runs, train
from jaxgen.evaluation import common, latent
from jaxgen.models import hvae, vae
from jaxgen.runs import load_experiment

from .family_helpers import (  # noqa: F401  (fast_cpu_random: an autouse fixture)
    Run,
    assert_loss_decreases,
    fast_cpu_random,
    num_params,
    tiny_config,
)

KEY = jax.random.PRNGKey(0)
EXPERIMENTS = ("ae", "dae", "vae", "beta_vae", "vae_latent", "vqvae", "hvae")


def abstract_params(init, shape):
    """Parameters of init(key, x [4, *shape]) as ShapeDtypeStructs (nothing compiled)."""
    return jax.eval_shape(init, KEY, jnp.zeros((4, *shape)))


@pytest.mark.parametrize(
    ("likelihood", "channels", "expected"),
    [
        # Conv 1->8 (80), 8->16 (1,168), Dense 64->8 (520) | Dense 4->64 (320),
        # ConvTranspose 16->8 (1,160), 8->C (73 per output map).
        ("bernoulli", 1, 3_321),
        ("gaussian", 2, 3_322),  # + one learned log sigma per channel
        ("discretized_logistic", 2, 3_394),  # + a log-scale map: 8 * 9 + 1 more weights
        ("discretized_gaussian", 2, 3_394),
    ],
)
def test_conv_vae_shapes_and_parameter_counts(likelihood, channels, expected):
    model = vae.ConvVAE((8, 8, 1), latent_dim=4, widths=(8, 16), likelihood=likelihood)
    x = jnp.zeros((4, 8, 8, 1))
    params = jax.eval_shape(lambda k: model.init(k, x, k)["params"], KEY)
    assert num_params(params) == expected
    out, mu, logvar = jax.eval_shape(lambda p: model.apply({"params": p}, x, KEY), params)
    assert out.shape == (4, 8, 8, channels) and mu.shape == logvar.shape == (4, 4)
    log_px = jax.eval_shape(lambda o: vae.log_likelihood(x, o, likelihood), out)
    assert log_px.shape == (4,)


def test_likelihoods_are_finite_at_extreme_outputs():
    x = jnp.tile(jnp.linspace(-1.0, 1.0, 64).reshape(1, 8, 8, 1), (3, 1, 1, 1))
    for name, lik in vae.LIKELIHOODS.items():
        maps = 2 if lik.shared_log_scale or lik.decoder_maps == 2 else 1
        out = jnp.broadcast_to(jnp.array([-30.0, 0.0, 30.0])[:, None, None, None], (3, 8, 8, maps))
        log_px, image = jax.jit(
            lambda o, n=name: (vae.log_likelihood(x, o, n), vae.mean_image(o, n))
        )(out)
        assert log_px.shape == (3,) and bool(jnp.all(jnp.isfinite(log_px))), name
        assert image.shape == x.shape and bool(jnp.all(jnp.abs(image) <= 1.0))
    with pytest.raises(ValueError, match="Unknown likelihood 'poisson'; use one of bernoulli"):
        jax.eval_shape(vae.ConvVAE((8, 8, 1), likelihood="poisson").init, KEY, x, KEY)


def test_demo_config_parameter_count_is_unchanged():
    experiment = load_experiment("vae")
    model = experiment.make_model(experiment.get_config())
    x = jnp.zeros((4, 8, 8, 1))
    assert num_params(jax.eval_shape(lambda k: model.init(k, x, k)["params"], KEY)) == 50_145


def test_hvae_shapes_and_parameter_count():
    model = hvae.HierarchicalVAE((8, 8, 1), z1_dim=4, z2_dim=2, hidden=8, widths=(8, 16))
    x = jnp.zeros((4, 8, 8, 1))
    params = jax.eval_shape(lambda k: model.init(k, x, k)["params"], KEY)
    assert num_params(params) == 3_669
    terms = jax.eval_shape(lambda p: hvae.elbo_terms(model, p, x, KEY), params)
    assert {k: v.shape for k, v in terms.items()} == {k: (4,) for k in terms}
    log_w = jax.eval_shape(lambda p: hvae.iwae_log_weights(model, p, x, KEY, 3), params)
    assert [w.shape for w in log_w] == [(3, 4)] * 3
    images = jax.eval_shape(lambda p: hvae.sample(model, p, KEY, 5), params)
    assert images.shape == (5, 8, 8, 1)


# Parameter counts of the models the cpu presets train on fashion_mnist (28x28).
CPU_PRESET_PARAMS = {
    "ae": 241_441,
    "dae": 241_441,
    "vae": 342_114,
    "beta_vae": 135_094,
    "vae_latent": 59_814,
    "vqvae": 49_937,
    "hvae": 360_370,
}


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_cpu_preset_resolves_and_builds(name):
    experiment = load_experiment(name)
    overrides = ["--config.preset=cpu", "--config.train.steps=123"]
    c = runs.experiment_config(experiment, overrides)  # the override wins over the preset
    task = experiment.make_task(c)
    assert c.data.name == "fashion_mnist" and c.train.steps == 123
    assert c.train.checkpoint_every == 4000  # from the preset
    params, model_state = abstract_params(task.init, (28, 28, 1))
    assert num_params(params) == CPU_PRESET_PARAMS[name]


def mlp_params(n_in, hidden, n_out):
    """Parameters of hvae's MLP: Dense n_in -> hidden -> hidden -> n_out, with biases."""
    return (n_in + 1) * hidden + (hidden + 1) * hidden + (hidden + 1) * n_out


def test_hvae_cpu_preset_is_the_vae_cpu_preset_plus_two_mlps():
    """experiments/hvae.py: the conv stack, bottom-up head and decoder are the vae preset's,
    and the MLPs of q(z2 | x) (2 z1 -> 2 z2) and p(z1 | z2) (z2 -> 2 z1) add about 5%."""
    params, configs = {}, {}
    for name in ("vae", "hvae"):
        experiment = load_experiment(name)
        configs[name] = runs.experiment_config(experiment, ["--config.preset=cpu"])
        task = experiment.make_task(configs[name])
        params[name], _ = abstract_params(task.init, (28, 28, 1))
    shapes = lambda tree: jax.tree.map(lambda x: x.shape, tree)  # noqa: E731
    v, h, m = params["vae"], params["hvae"], configs["hvae"].model
    assert m.z1_dim == configs["vae"].model.latent_dim
    assert shapes(h["encoder"]) == shapes(v["encoder"])
    assert shapes(h["to_bottom_up"]) == shapes(v["to_posterior"])
    assert shapes(h["decoder"]) == shapes(v["decoder"])
    q_z2 = mlp_params(2 * m.z1_dim, m.hidden, 2 * m.z2_dim)
    p_z1 = mlp_params(m.z2_dim, m.hidden, 2 * m.z1_dim)
    assert num_params(h["to_q_z2"]) == q_z2 and num_params(h["to_p_z1"]) == p_z1
    assert num_params(h) == num_params(v) + q_z2 + p_z1
    assert 0.04 < (q_z2 + p_z1) / num_params(v) < 0.06


def test_precision_weighted_merge_is_the_normalised_product_of_the_two_densities():
    """Mean and variance of N(mu_b, s_b^2) N(mu_p, s_p^2), normalised on a grid (numpy), are
    the merged Gaussian's; a very confident bottom-up term dominates the prior."""
    mu_b, logvar_b = np.array([0.3, -1.0, 2.0]), np.array([-1.0, 0.5, -12.0])
    mu_p, logvar_p = np.array([-0.5, 1.0, 0.0]), np.array([0.2, 0.5, 0.0])
    mu, logvar = map(np.asarray, hvae.precision_weighted((mu_b, logvar_b), (mu_p, logvar_p)))
    for i in range(2):
        z = np.linspace(-10, 10, 200_001)
        density = np.exp(-0.5 * (z - mu_b[i]) ** 2 / np.exp(logvar_b[i]))
        density *= np.exp(-0.5 * (z - mu_p[i]) ** 2 / np.exp(logvar_p[i]))
        density /= density.sum()
        mean = (z * density).sum()
        assert mu[i] == pytest.approx(mean, abs=1e-5)
        assert np.exp(logvar[i]) == pytest.approx(((z - mean) ** 2 * density).sum(), rel=1e-4)
    assert mu[2] == pytest.approx(2.0, abs=1e-4) and logvar[2] == pytest.approx(-12.0, abs=1e-4)


# ---------------------------------------------------------------------------------------
# Trained tiny models: a 2-D latent VAE through the fit loop, an HVAE through build_step.


def iwae_estimates(lm, params, x, key, ks):
    """E[L_k] estimated from one draw of max(ks) samples split into groups of k: {k: [B]}."""
    log_w = jax.device_get(lm.log_weights(params, x, key, max(ks)))
    out = {}
    for k in ks:
        groups = [
            losses.iwae_bound(*(w[i : i + k] for w in log_w))[0] for i in range(0, max(ks), k)
        ]
        out[k] = np.mean(groups, axis=0)
    return out


def check_iwae_against_elbo(lm, params, x):
    """IWAE L_k >= ELBO as lower bounds of log p(x), and E[L_k] increases with k."""
    elbo = np.asarray(lm.elbo(params, x, jax.random.PRNGKey(1)))  # analytic KL, [B]
    bounds = iwae_estimates(lm, params, x, jax.random.PRNGKey(2), (1, 4, 16, 64))
    means = [float(np.mean(bounds[k])) for k in (1, 4, 16, 64)]
    assert means == sorted(means) and means[-1] > means[0] + 0.1, means
    # L_1 is an unbiased (Monte Carlo KL) estimate of the ELBO; L_64 lies above it.
    sem = np.std(elbo) / math.sqrt(len(elbo))
    assert abs(means[0] - np.mean(elbo)) < 3 * sem + 0.5, (means[0], np.mean(elbo))
    assert means[-1] > np.mean(elbo)
    # Per image and the same 64 samples: logmeanexp_k log w_k >= mean_k log w_k (Jensen).
    assert np.all(bounds[64] >= bounds[1] - 1e-4)


def test_trained_vae_bounds_metrics_and_evaluation(data_dir, tmp_path):
    experiment, c = tiny_config("vae_latent", data_dir)  # latent 2, discretized logistic
    c.loss.warmup_steps = 20
    c.train.update({"steps": 80, "log_every": 1, "checkpoint_every": 80, "sample_every": 80})
    state = train.run_experiment(c, experiment.make_task(c), tmp_path, experiment="vae_latent")
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert int(state.step) == 80 and [r["step"] for r in rows] == list(range(1, 81))
    assert_loss_decreases(rows, 0.95)
    # beta(step) = min(1, step / 20) at the step's start (row N logs step N - 1's update).
    np.testing.assert_allclose([r["beta"] for r in rows[:25]], np.minimum(np.arange(25) / 20, 1))

    images = common.load_test_split("digits", data_dir)[0]
    lm = latent.conv_vae(experiment.make_model(c))
    params = state.ema_params
    # Batches of 250 and 10 images, as in the evaluation below: compiled once for both.
    check_iwae_against_elbo(lm, params, images[:250])

    # The chunked IWAE equals the bound over its concatenated chunks (same keys).
    x, key = images[:10], jax.random.PRNGKey(3)
    bound, ess = latent.iwae_fn(lm, 8, 4)(params, x, key)
    chunks = [lm.log_weights(params, x, k, 4) for k in jax.random.split(key, 2)]
    expected, terms = losses.iwae_bound(*(jnp.concatenate(w) for w in zip(*chunks, strict=True)))
    np.testing.assert_allclose(bound, expected, rtol=1e-5)
    np.testing.assert_allclose(ess, terms["ess"], rtol=1e-4)
    with pytest.raises(ValueError, match="iwae_k=10 must be a multiple of iwae_chunk=4"):
        latent.iwae_fn(lm, 10, 4)

    # Test-set numbers: deterministic under a seed, bits/dim = nats / (D ln 2).
    run = lambda: latent.likelihood_metrics(
        lm, params, images[:40], KEY, iwae_k=8, iwae_chunk=4, iwae_batch_size=10
    )
    first, second = run(), run()
    assert first == second
    d_ln2 = 64 * math.log(2.0)
    assert first["neg_elbo_bpd"] == pytest.approx(first["neg_elbo_nats"] / d_ln2)
    assert first["iwae_nll_bpd"] == pytest.approx(first["iwae_nll_nats"] / d_ln2)
    assert first["iwae_nll_nats"] < first["iwae_subset_neg_elbo_nats"]
    assert 1.0 <= first["iwae_ess_mean"] <= 8.0 and first["iwae_num_examples"] == 40

    # The experiment's evaluation entry point: numbers and every picture.
    pictures = "('samples', 'reconstructions', 'interpolation', 'arithmetic', 'traversal', " + (
        "'scatter', 'manifold')"
    )
    overrides = [
        "--config.eval.iwae_k=8",
        "--config.eval.iwae_chunk=4",
        "--config.eval.iwae_num_examples=24",
        "--config.eval.num_fid_samples=64",
        f"--config.eval.pictures={pictures}",
        "--config.eval.manifold_size=5",
    ]
    results = experiment.evaluate(tmp_path, overrides=overrides)
    out = tmp_path / "eval" / "step_000080"
    assert json.loads((out / "eval.json").read_text()) == results
    # Conv 1->8 (80), 8->16 (1,168), Dense 64->4 (260) | Dense 2->64 (192),
    # ConvTranspose 16->8 (1,160), 8->2 (146).
    assert results["step"] == 80 and results["num_params"] == 3_006
    assert results["num_examples"] == 297 and results["iwae_num_examples"] == 24
    assert results["iwae_nll_nats"] <= results["iwae_subset_neg_elbo_nats"]
    assert len(results["kl_per_dim"]) == 2 and sorted(results["traversal_dims"]) == [0, 1]
    for name in ("samples", "reconstructions", "interpolation", "arithmetic", "traversal"):
        assert (out / f"{name}.png").is_file()
    assert (out / "scatter.png").stat().st_size > 10_000 and (out / "manifold.png").is_file()
    samples = np.load(out / "samples.npz")["samples"]
    assert samples.shape == (64, 8, 8, 1) and samples.dtype == np.uint8


def test_latent_evaluators_are_the_listed_ones_with_their_own_keys(data_dir, tmp_path):
    c = load_experiment("vae_latent").get_config()
    c.eval.update({"num_rows": 3, "iwae_k": 8, "iwae_chunk": 4, "num_fid_samples": 64})
    assert latent.evaluators(c.eval, one_latent=True) == [
        latent.LikelihoodTable(iwae_k=8, iwae_chunk=4, iwae_batch_size=10, iwae_num_examples=0),
        latent.LatentStatistics(),  # for the latent pictures
        latent.SamplesPicture(num_rows=3, num_steps=8),
        latent.ReconstructionsPicture(num_rows=3, num_steps=8),
        latent.InterpolationPicture(num_rows=3, num_steps=8),
        latent.ArithmeticPicture(num_rows=3, num_steps=8, arithmetic_classes=(9, 7)),
        latent.ScatterPicture(),
        latent.ManifoldPicture(manifold_size=15),
        latent.FidSamples(num_fid_samples=64),
    ]
    c.eval.update({"pictures": ("reconstructions",), "num_fid_samples": 0})
    assert latent.evaluators(c.eval, one_latent=False) == [
        latent.LikelihoodTable(iwae_k=8, iwae_chunk=4),
        latent.ReconstructionsPicture(num_rows=3, num_steps=8),
    ]
    c.eval.pictures = ("samples", "traversal")
    with pytest.raises(ValueError, match=r"Pictures \['traversal'\] need a model with one latent"):
        latent.evaluators(c.eval, one_latent=False)
    c.eval.pictures = ("samples", "movie")
    with pytest.raises(ValueError, match=r"Unknown pictures \['movie'\]"):
        latent.evaluators(c.eval, one_latent=True)

    # Options that cannot work are rejected before anything is computed or written.
    lm = latent.conv_vae(load_experiment("vae_latent").make_model(c))
    trained = latent.TrainedLatent(lm, None, "digits", data_dir=data_dir)
    c.eval.pictures = ("samples", "arithmetic")
    with pytest.raises(ValueError, match=r"arithmetic_classes \(9, 10\): a class has no"):
        latent.evaluate(trained, {**c.eval, "arithmetic_classes": (9, 10)}, tmp_path)
    with pytest.raises(ValueError, match="iwae_k=10 must be a multiple of iwae_chunk=4"):
        latent.evaluate(trained, {**c.eval, "iwae_k": 10}, tmp_path)
    assert not any(tmp_path.iterdir())


def test_hvae_trains_and_its_iwae_bound_is_above_the_elbo(data_dir):
    experiment, c = tiny_config("hvae", data_dir, z1_dim=4, z2_dim=2, hidden=16)
    c.loss.warmup_steps = 10
    run = Run(experiment, c)
    state, history = run.train(60)
    assert_loss_decreases(history, 0.95)
    assert all(h["kl2"] >= 0 and h["kl1"] >= 0 for h in history)
    images = run.task.sample(state, KEY)
    assert images.shape == (16, 8, 8, 1) and bool(jnp.all(jnp.isfinite(images)))
    lm = latent.hierarchical_vae(experiment.make_model(c))
    check_iwae_against_elbo(lm, state.ema_params, common.load_test_split("digits", data_dir)[0])


# ---------------------------------------------------------------------------------------
# Picture helpers with identity encoders/decoders (exact expected values).


def test_interpolation_rows_start_and_end_at_the_images():
    decode = lambda z: z.reshape(len(z), 1, 1, 2)
    a, b = jnp.zeros((3, 1, 1, 2)), jnp.ones((3, 1, 1, 2))
    mu_a, mu_b = a.reshape(3, 2), b.reshape(3, 2)
    rows = latent.interpolation_rows(decode, mu_a, mu_b, a, b, 5).reshape(3, 7, 2)
    np.testing.assert_allclose(rows[:, 1:6, 0], np.tile(np.linspace(0, 1, 5), (3, 1)))
    np.testing.assert_array_equal(rows[:, 0], 0.0)
    np.testing.assert_array_equal(rows[:, -1], 1.0)


def test_arithmetic_rows_add_the_class_mean_difference():
    decode = lambda z: z.reshape(len(z), 1, 1, 2)
    mu_x = jnp.array([[1.0, 2.0]])
    rows = latent.arithmetic_rows(
        decode,
        mu_x,
        jnp.zeros((1, 1, 1, 2)),
        jnp.array([5.0, 5.0]),
        jnp.array([1.0, 3.0]),
        [0.0, 1.0],
    )
    np.testing.assert_allclose(rows.reshape(3, 2), [[0, 0], [1, 2], [5, 4]])


def test_traversal_rows_vary_one_dimension_at_a_time():
    z0 = jnp.array([1.0, 2.0, 3.0])
    rows = latent.traversal_rows(lambda z: z, z0, [2, 0], [-1.0, 1.0])
    np.testing.assert_array_equal(rows, [[1, 2, -1], [1, 2, 1], [-1, 2, 3], [1, 2, 3]])


def test_latent_plane_and_projection():
    z = latent.latent_plane(np.zeros((5, 2)), 3)
    q = float(jax.scipy.special.ndtri(0.95))
    np.testing.assert_allclose(z[0], [-q, q], rtol=1e-6)  # top left
    np.testing.assert_allclose(z[-1], [q, -q], rtol=1e-6)  # bottom right
    rng = np.random.default_rng(0)
    means = rng.normal(size=(200, 5)) * np.array([3.0, 1.0, 0.1, 0.1, 0.1])
    plane = latent.latent_plane(means, 3)
    assert plane.shape == (9, 5) and np.abs(plane[:, 2:]).max() < 0.2
    assert latent.projection_2d(means).shape == (200, 2)
