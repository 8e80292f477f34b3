"""Evaluation of the diffusion family and latent diffusion, on `digits` with tiny models: the
pure picture, timing and comparison functions against closed forms, the eval entry point of
a trained ddpm_cond run (tables, pictures), latent diffusion on a trained VAE (training,
decoded samples, its evaluation compared with a pixel-space one) and the errors of both."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import losses, train
from jaxgen.diffusion import make_schedule
from jaxgen.evaluation import common
from jaxgen.evaluation import diffusion as diffusion_eval
from jaxgen.metrics import load_feature_net
from jaxgen.models import hvae, latent_diffusion
from jaxgen.runs import load_experiment
from jaxgen.tasks import diffusion as ddpm

from .helpers import tiny_config

T = 100  # diffusion steps of tiny_config
EVAL = [
    "--config.eval.num_samples=20",
    "--config.eval.batch_size=10",
    "--config.eval.ddim_steps=(2,)",
    "--config.eval.num_rows=3",
    "--config.eval.num_frames=4",
]
FID = "fid_digits_classifier"


pytestmark = pytest.mark.usefixtures("fast_cpu_random")


def test_forward_process_rows_are_q_sample_in_closed_form():
    schedule = make_schedule("linear", 1000)
    x_0 = jax.random.uniform(jax.random.key(0), (2, 8, 8, 1), minval=-1.0, maxval=1.0)
    key = jax.random.key(1)
    rows = diffusion_eval.forward_process_rows(schedule, x_0, [0, 499, 999], key)
    assert rows.shape == (8, 8, 8, 1)
    eps = np.asarray(jax.random.normal(key, x_0.shape))
    beta = np.linspace(1e-4, 0.02, 1000)  # float64 reference of the schedule
    alpha_bar = np.cumprod(1.0 - beta)
    for i in range(2):
        np.testing.assert_array_equal(rows[4 * i], x_0[i])
        for j, t in enumerate([0, 499, 999]):
            expected = np.sqrt(alpha_bar[t]) * x_0[i] + np.sqrt(1 - alpha_bar[t]) * eps[i]
            np.testing.assert_allclose(rows[4 * i + 1 + j], expected, rtol=1e-4, atol=1e-5)


def test_frame_indices_and_masks():
    np.testing.assert_array_equal(diffusion_eval.frame_indices(1000, 10), np.arange(1, 10) * 111)
    np.testing.assert_array_equal(diffusion_eval.frame_indices(5, 10), [0, 1, 2, 3, 4])
    right = diffusion_eval.inpainting_mask("right", 8, 6)
    assert right.shape == (8, 6, 1) and right.dtype == np.float32
    np.testing.assert_array_equal(right[..., 0], np.tile([1, 1, 1, 0, 0, 0], (8, 1)))
    bottom = diffusion_eval.inpainting_mask("bottom", 8, 8)[..., 0]
    assert bottom[:4].all() and not bottom[4:].any()
    center = diffusion_eval.inpainting_mask("center", 8, 8)[..., 0]
    assert not center[2:6, 2:6].any() and center.sum() == 64 - 16
    with pytest.raises(ValueError, match="Unknown inpainting mask 'left'; choose one of right"):
        diffusion_eval.inpainting_mask("left", 8, 8)


def test_timed_draw_concatenates_the_folded_keys_and_cuts():
    key = jax.random.key(0)
    draw = jax.jit(lambda k: jax.random.normal(k, (4, 2)))
    images, seconds = diffusion_eval.timed_draw(draw, 10, 4, key)
    expected = np.concatenate([draw(jax.random.fold_in(key, i)) for i in range(3)])[:10]
    np.testing.assert_array_equal(images, expected)
    assert seconds > 0


def test_steps_table_also_scores_every_row_on_the_ancestral_rows_sample_count(data_dir):
    """With fewer ancestral samples, each row's FID of its first ancestral_num_samples
    samples equals `score` of those images (the ancestral row's: its own FID)."""
    key = jax.random.key(0)
    images = lambda params, k: params * jax.random.uniform(k, (10, 8, 8, 1), minval=-1.0)  # noqa: E731
    table = diffusion_eval.StepsTable((2,), num_samples=20, ancestral_num_samples=12, batch_size=10)
    score = functools.partial(diffusion_eval.score, dataset="digits", data_dir=data_dir)
    rows, labels, _ = table.table(
        lambda reverse: jax.jit(images), 0.9, make_schedule("linear", T), key, eta=0.0,
        variance="beta", score=score,
    )  # fmt: skip
    drawn, _ = diffusion_eval.timed_draw(lambda k: images(0.9, k), 20, 10, key)
    options = {"data_dir": data_dir, "metrics": ("fid",)}
    fid_12, fid_20 = (
        diffusion_eval.score(drawn[:n], "digits", **options)[0][FID] for n in (12, 20)
    )
    ddim, ancestral = rows
    assert (ddim["nfe"], ancestral["nfe"]) == (2, T)  # network evaluations per sample
    assert ddim[FID] == pytest.approx(fid_20) and ancestral[FID] == pytest.approx(fid_12)
    assert ddim["fid_ancestral_n_" + FID[4:]] == pytest.approx(fid_12) != fid_20
    assert ancestral["fid_ancestral_n_" + FID[4:]] == ancestral[FID]
    assert labels["fid_ancestral_n_" + FID[4:]].endswith(", first 12 samples")


def test_train_seconds_per_step_skips_the_compiling_interval(tmp_path):
    assert diffusion_eval.train_seconds_per_step(tmp_path, 100) is None
    rows = [{"step": 1, "img_per_s": 10.0}, {"step": 2, "loss": 1.0}]
    rows += [{"step": s, "img_per_s": r} for s, r in ((3, 100.0), (4, 200.0), (5, 400.0))]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert diffusion_eval.train_seconds_per_step(tmp_path, 100) == pytest.approx(0.5)


def test_latent_denoiser_shapes_and_latent_scale():
    model = latent_diffusion.LatentDenoiser(width=16, depth=2)
    z, t = jnp.ones((3, 5)), jnp.array([0, 10, 999])
    params = model.init(jax.random.key(0), z, t)["params"]
    eps = model.apply({"params": params}, z, t)
    assert eps.shape == (3, 5) and not bool(jnp.any(eps))  # zero-initialized output layer
    with pytest.raises(ValueError, match=r"expects z \[B, D\], t \[B\] and no labels"):
        model.apply({"params": params}, jnp.ones((3, 4, 4, 1)), t)
    z = 3.0 * np.random.default_rng(0).standard_normal((1000, 4)) + 1.0
    scale = latent_diffusion.latent_scale(z)
    assert scale == pytest.approx(1.0 / np.std(z)) and np.std(scale * z) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Latent diffusion needs one of the autoencoders"):
        latent_diffusion.frozen_autoencoder(hvae.HierarchicalVAE((8, 8, 1)), {})


@pytest.fixture(scope="module")
def cond_eval(ddpm_cond_run):
    """(run directory, results) of the evaluation of the tiny ddpm_cond run (40 steps)."""
    _, _, workdir = ddpm_cond_run
    overrides = [
        *EVAL,
        "--config.eval.guidance_ws=(2.0,)",
        "--config.eval.ancestral_num_samples=12",
        "--config.eval.dpm_steps=(3,)",
        "--config.eval.pictures=('steps','forward','trajectory','inpainting','guidance','sdedit')",
        "--config.eval.sdedit_strengths=(0.0,1.0)",
        "--config.eval.sdedit_num_examples=20",
    ]
    return workdir, load_experiment("ddpm_cond").evaluate(workdir, overrides=overrides)


def test_eval_entry_writes_the_tables_and_pictures(cond_eval):
    workdir, results = cond_eval
    out = workdir / "eval" / "step_000040"
    assert json.loads((out / "eval.json").read_text()) == results
    assert results["step"] == 40 and results["num_samples"] == 20
    assert results["feature_net"].startswith("digits_classifier/v")
    assert results["train_seconds_per_step"] > 0  # 40 logged steps
    steps = [(r["sampler"], r["steps"]) for r in results["steps_table"]]
    assert steps == [("ddim", 2), ("dpm++2m", 3), ("ddpm", T)]
    assert [r["num_samples"] for r in results["steps_table"]] == [20, 20, 12]  # ancestral: 12
    # Guided: the network runs on the conditional and the unconditional input at every step.
    assert [r["nfe"] for r in results["steps_table"]] == [4, 6, 2 * T]
    assert [(r["guidance_w"], r["num_samples"]) for r in results["guidance_table"]] == [(2.0, 20)]
    for row in results["steps_table"] + results["guidance_table"]:
        assert row[FID] > 0 and row["seconds_per_image"] > 0
        assert 0 <= row["precision_digits_classifier"] <= 1
        assert 1 <= row["classes_covered_digits_classifier"] <= 10
    for row in results["guidance_table"]:
        assert 0 <= row["accuracy_digits_classifier"] <= 1
    assert set(results["labels"]) >= {FID, "recall_digits_classifier", "accuracy_digits_classifier"}
    assert results["forward_t"] == [0, 34, 67, 100]  # the paper's t: x_0, then 3 of T = 100
    assert results["trajectory"] == "x_T, then x after steps [2, 4, 5] of ddim"  # 5 steps
    assert results["inpainting"] == "rows: masked (right), inpainted (RePaint, U = 10), original"
    for name in ("steps", "forward", "trajectory", "inpainting", "guidance", "sdedit"):
        assert (out / results["files"][name]).stat().st_size > 500
    faithful, free = results["sdedit"]  # strength 0 keeps the inputs, 1 draws new images
    assert faithful["mse_to_input"] < 0.01 < free["mse_to_input"]
    assert faithful["fid"] > 0 and free["fid"] > 0


def test_bound_table_is_the_variational_bound_and_interpolations_are_drawn(
    ddpm_cond_run, data_dir, tmp_path
):
    """The bits/dim table of the tiny run is ``losses.variational_bound`` of the unconditional
    model (learned empty class) with the run's variance, on the test images, in nats and
    bits/dim, its parts summing to it; the interpolation picture is written."""
    _, state, _ = ddpm_cond_run
    c = tiny_config(load_experiment("ddpm_cond"), data_dir)
    m = diffusion_eval.TrainedDiffusion(
        ddpm.make_model(c), make_schedule("linear", T), state.ema_params, (8, 8, 1), c.sample,
        "digits", data_dir=data_dir,
    )  # fmt: skip
    key = jax.random.key(0)
    r = diffusion_eval.BoundTable(bpd_num_examples=12, batch_size=12)(m, key, tmp_path).results
    eps_fn = diffusion_eval.unconditional_eps_fn(m.model, m.params)
    nats, terms = losses.variational_bound(
        m.schedule, eps_fn, m.test_images(12), jax.random.fold_in(key, 0), c.sample.variance
    )
    assert r["bpd_num_examples"] == 12
    assert r["test_nll_nats"] == pytest.approx(float(nats.mean()), rel=1e-5)
    assert r["test_bpd"] == pytest.approx(float(nats.mean()) / (64 * np.log(2)), rel=1e-5)
    parts = [r[f"bpd_{k}"] for k in ("prior", "diffusion", "decoder")]
    assert sum(parts) == pytest.approx(r["test_bpd"], rel=1e-5) and min(parts) > 0
    assert r["bpd_decoder"] == pytest.approx(float(terms["decoder"].mean()) / (64 * np.log(2)))
    out = diffusion_eval.InterpolationPicture(num_rows=2, num_frames=3)(m, key, tmp_path)
    assert (tmp_path / out.files["interpolation"]).stat().st_size > 500


def test_eval_errors_before_sampling(data_dir, tmp_path):
    c = tiny_config(load_experiment("ddpm_cond"), data_dir)
    model = ddpm.make_model(c)  # with num_classes
    schedule = make_schedule("linear", T)

    def evaluate(model=model, decode=None, compare_with=None, **options):
        # no parameters: nothing may be sampled
        trained = diffusion_eval.TrainedDiffusion(
            model, schedule, None, (8, 8, 1), c.sample, "digits", decode=decode
        )
        options = {**c.eval, **options}
        return diffusion_eval.evaluate(trained, options, tmp_path, compare_with=compare_with)

    with pytest.raises(ValueError, match=r"ddim_steps \[500\] out of range: .* 1..T = 1..100"):
        evaluate(ddim_steps=(2, 500))
    with pytest.raises(ValueError, match=r"dpm_steps \[0\] out of range: DPM-Solver\+\+\(2M\)"):
        evaluate(dpm_steps=(0, 2))
    with pytest.raises(ValueError, match="Unknown pictures \\['movie'\\]"):
        evaluate(pictures=("steps", "movie"))
    with pytest.raises(ValueError, match="'guidance' picture needs a class-conditional model"):
        evaluate(model=model.clone(num_classes=None), pictures=("guidance",))
    with pytest.raises(ValueError, match=r"Pictures \['forward'\] show pixel-space diffusion"):
        evaluate(pictures=("steps", "forward"), decode=lambda z: z)
    with pytest.raises(ValueError, match="ancestral_num_samples=1 must be >= 2"):
        evaluate(ancestral_num_samples=1)
    with pytest.raises(ValueError, match="Unknown inpainting mask 'top'"):
        evaluate(inpaint_mask="top")
    with pytest.raises(ValueError, match="eval.inpaint_resample=0: RePaint's U counts"):
        evaluate(inpaint_resample=0)
    with pytest.raises(ValueError, match=r"eval.sdedit_strengths \[1.5\] must lie in \[0, 1\]"):
        evaluate(pictures=("sdedit",), sdedit_strengths=(0.5, 1.5))
    with pytest.raises(ValueError, match=r"eval.bpd_num_examples=1 must be >= 2"):
        evaluate(pictures=("bpd",), bpd_num_examples=1)
    with pytest.raises(ValueError, match="batch_size=12 must be a multiple of the 10 classes"):
        evaluate(guidance_ws=(1.0,), batch_size=12)
    with pytest.raises(ValueError, match="Nothing to compare: set eval.ddim_steps"):
        evaluate(ddim_steps=(), ancestral=False, compare_with={"dataset": "digits"})
    with pytest.raises(ValueError, match="scored with digits_classifier/v0 on digits"):
        evaluate(compare_with={"dataset": "digits", "feature_net": "digits_classifier/v0"})
    assert not any(tmp_path.iterdir())


def test_evaluators_are_the_listed_tables_and_pictures_with_their_own_keys(data_dir):
    c = tiny_config(load_experiment("ddpm_cond"), data_dir)
    c.eval.update({"num_samples": 30, "batch_size": 20, "num_rows": 3, "inpaint_resample": 2})
    e = diffusion_eval
    assert e.evaluators(c.eval, conditional=True, pixel_space=True) == [
        e.StepsTable((10, 20, 50, 100), ancestral=True, num_samples=30, batch_size=20),
        e.GuidanceTable((0.0, 0.5, 1.0, 2.0, 4.0), num_samples=30, batch_size=20),
        e.ForwardPicture(num_rows=3, num_frames=10),
        e.TrajectoryPicture(num_rows=3, num_frames=10),
        e.InpaintingPicture(num_rows=3, inpaint_mask="right", inpaint_resample=2),
    ]
    c.eval.update(
        {"pictures": ("inpainting",), "guidance_ws": (), "ddim_steps": (5,), "dpm_steps": (3,)}
    )
    assert e.evaluators(c.eval, conditional=True, pixel_space=True) == [
        e.StepsTable((5,), dpm_steps=(3,), num_samples=30, batch_size=20, picture=False),
        e.InpaintingPicture(num_rows=3, inpaint_mask="right", inpaint_resample=2),
    ]
    keys = e.evaluator_keys(0)  # one key per evaluator, each a different stream
    assert len({tuple(np.asarray(jax.random.key_data(k)).ravel()) for k in keys.values()}) == 8


def test_latent_diffusion_trains_decodes_and_compares(data_dir, tmp_path):
    vae = load_experiment("vae")
    c_ae = vae.get_config()
    c_ae.data.update({"batch_size": 32, "data_dir": data_dir})
    c_ae.model.update({"latent_dim": 4, "widths": (8,)})
    c_ae.train.update({"steps": 10, "checkpoint_every": 10, "sample_every": 0})
    train.run_experiment(c_ae, vae.make_task(c_ae), tmp_path / "ae", experiment="vae")

    experiment = load_experiment("latent_diffusion")
    c = experiment.get_config()
    c.autoencoder.workdir = str(tmp_path / "ae")
    c.data.update({"batch_size": 32, "data_dir": data_dir})
    c.diffusion.num_steps = T
    c.mlp.update({"width": 32, "depth": 1})
    c.sample.num_steps = 3
    c.train.update({"steps": 20, "log_every": 5, "checkpoint_every": 20, "sample_every": 0})
    c.train.update({"learning_rate": 3e-3, "warmup_steps": 0, "num_samples": 12})
    task = experiment.make_task(c)
    state = train.run_experiment(c, task, tmp_path / "ldm", experiment="latent_diffusion")
    rows = [json.loads(r) for r in (tmp_path / "ldm" / "metrics.jsonl").read_text().splitlines()]
    assert int(state.step) == 20 and all(np.isfinite(r["loss"]) for r in rows)
    assert abs(rows[0]["loss"] - 1.0) < 0.3  # zero-initialized output: E eps^2 = 1
    images = task.sample(state, jax.random.key(0))
    assert images.shape == (12, 8, 8, 1) and bool(jnp.all(jnp.abs(images) <= 1.0))
    assert float(jnp.std(images)) > 0.01  # decoded, not constant

    # A pixel-space evaluation to compare with: rows for DDIM 2 and 5 steps.
    pixel = {
        "dataset": "digits", "feature_net": load_feature_net("digits").id, "step": 7,
        "num_params": 1234, "num_samples": 50, "train_seconds_per_step": 0.25,
        "steps_table": [
            {"sampler": "ddim", "steps": s, FID: 10.0 * s, "seconds_per_image": 0.1 * s}
            for s in (2, 5)
        ],
    }  # fmt: skip
    common.write_results(tmp_path / "pixel" / "eval" / "step_000007", pixel)
    overrides = [
        "--config.eval.num_samples=20",
        "--config.eval.batch_size=10",
        "--config.eval.ddim_steps=(2,)",
        "--config.eval.ancestral=False",
        f"--config.eval.pixel_run={tmp_path / 'pixel'}",
    ]
    results = experiment.evaluate(tmp_path / "ldm", overrides=overrides)
    [latent] = results["steps_table"]
    assert (latent["sampler"], latent["steps"]) == ("ddim", 2) and latent[FID] > 0
    assert results["train_seconds_per_step"] > 0
    assert (tmp_path / "ldm" / "eval" / "step_000020" / "steps.png").is_file()
    comparison = results["comparison"]
    assert comparison["rows"] == [  # DDIM 5 has no latent row
        {
            "sampler": "ddim",
            "steps": 2,
            FID: {"latent": latent[FID], "pixel": 20.0},
            "seconds_per_image": {"latent": latent["seconds_per_image"], "pixel": 0.2},
        }
    ]
    for key in diffusion_eval.COMPARED:
        assert comparison[key] == {"latent": results[key], "pixel": pixel[key]}

    c.data.name = "fashion_mnist"
    with pytest.raises(ValueError, match="trained on digits.*set --config.data.name=digits"):
        experiment.make_task(c)
    with pytest.raises(ValueError, match="No evaluation in .*ae/eval: evaluate that run first"):
        diffusion_eval.read_eval(tmp_path / "ae")  # as eval.pixel_run
