"""Evaluation of diffusion models (DDPM, DDIM, classifier-free guidance, latent diffusion):
the sample-quality tables and the pictures.

Tables (``evaluate_diffusion`` writes them to eval.json):

- steps table: DDIM (Song et al. 2021) with each number of steps and ancestral sampling
  over all T steps (Ho et al. 2020, Algorithm 2), each row scored by ``score``: FID,
  precision/recall and mode coverage with the dataset's classifier features
  (``metrics.evaluate_samples``), plus the sampling seconds per image;
- guidance table (class-conditional models): per classifier-free guidance weight w (Ho &
  Salimans 2021) the same scores and the classifier accuracy of the samples for the label
  they were conditioned on.

Sampling time is the wall time of the compiled sampler (one ``lax.scan``), compiled ahead of
time, so compilation is excluded; each call is waited for.

Pictures: the steps grid (one row per sampler, same x_T per column), the forward process
q(x_t | x_0), a reverse trajectory, inpainting (masked / inpainted / original) and the
guidance grid (rows w, columns classes).
"""

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.diffusion import inpaint, q_sample
from jaxgen.evaluation.common import (
    load_test_split,
    num_params,
    save_grid,
    write_results,
)
from jaxgen.metrics import evaluate_samples, load_feature_net
from jaxgen.models import diffusion

DEFAULT_METRICS = ("fid", "pr", "modes")


def timed_draw(sample_fn: Callable, num_samples: int, batch_size: int, key: jax.Array):
    """(images [num_samples, ...] numpy, seconds per image) from ceil(num_samples /
    batch_size) calls of a compiled sample_fn(key_i) -> [batch_size, ...], key_i =
    fold_in(key, i); the seconds are the calls' wall time over the images drawn."""
    chunks, seconds = [], 0.0
    for i in range(-(-num_samples // batch_size)):
        start = time.perf_counter()
        chunks.append(jax.block_until_ready(sample_fn(jax.random.fold_in(key, i))))
        seconds += time.perf_counter() - start
    images = np.concatenate([np.asarray(c) for c in chunks])
    return images[:num_samples], seconds / len(images)


def score(images, dataset: str, *, seed=0, data_dir=None, metrics=DEFAULT_METRICS, labels=None):
    """({metric key: value}, {metric key: human name}) of images in [-1, 1] by
    ``metrics.evaluate_samples`` (keys such as 'fid_digits_classifier'), with the
    classifier accuracy for `labels` [N] when given."""
    results = evaluate_samples(
        images, dataset, metrics, seed=seed, data_dir=data_dir, classes=labels
    )
    names = results["labels"]
    return {k: results[k] for k in names}, names


def sampler_options(ddim_steps, ancestral: bool, num_steps: int):
    """The (sampler, steps) rows of the steps table: DDIM with each of `ddim_steps`, then
    ancestral sampling over all T = `num_steps` steps when `ancestral`."""
    bad = [s for s in ddim_steps if not 1 <= s <= num_steps]
    if bad:
        raise ValueError(f"eval.ddim_steps {bad} out of range: DDIM takes 1..T = 1..{num_steps}.")
    return [("ddim", int(s)) for s in ddim_steps] + ([("ddpm", num_steps)] if ancestral else [])


def steps_table(
    build: Callable,
    params,
    schedule,
    key,
    *,
    dataset,
    data_dir=None,
    ddim_steps=(10, 20, 50, 100),
    ancestral=True,
    eta=0.0,
    variance="beta",
    num_samples=10_000,
    ancestral_num_samples=0,
    batch_size=500,
    seed=0,
    num_columns=10,
):
    """(rows, labels, grid): per (sampler, steps) of ``sampler_options`` a row {sampler,
    steps, num_samples, seconds_per_image, scores} of num_samples samples (the ancestral
    row: ancestral_num_samples unless 0, as its T steps cost most; FID is biased upward
    at fewer samples, so then every row also has the FID of its first ancestral_num_samples
    samples, 'fid_ancestral_n_*'); `grid` [rows * num_columns, ...] holds each row's first
    `num_columns` samples (every sampler starts from the same x_T), None without rows.
    build(reverse) -> jitted (params, key) -> [batch_size, H, W, C] images
    (``diffusion.make_sampler``)."""
    rows, labels, grid = [], {}, []
    m = ancestral_num_samples if ancestral and ancestral_num_samples < num_samples else 0
    for sampler, steps in sampler_options(ddim_steps, ancestral, schedule.num_steps):
        reverse = diffusion.reverse_process(
            sampler, schedule, num_steps=steps, eta=eta, variance=variance
        )
        compiled = build(reverse).lower(params, key).compile()
        n = (sampler == "ddpm" and ancestral_num_samples) or num_samples
        images, seconds = timed_draw(lambda k, c=compiled: c(params, k), n, batch_size, key)
        scores, labels = score(images, dataset, seed=seed, data_dir=data_dir)
        if m:  # the ancestral row's own FID is already on m samples: not scored twice
            options = {"seed": seed, "data_dir": data_dir, "metrics": ("fid",)}
            subset, names = (scores, labels) if n == m else score(images[:m], dataset, **options)
            fid = next(k for k in names if k.startswith("fid_"))
            scores["fid_ancestral_n" + fid[3:]] = subset[fid]
            labels["fid_ancestral_n" + fid[3:]] = f"{names[fid]}, first {m} samples"
        row = {"sampler": sampler, "steps": steps, "num_samples": n, "seconds_per_image": seconds}
        rows.append({**row, **scores})
        grid.append(images[:num_columns])
    return rows, labels, np.concatenate(grid) if grid else None


def guidance_table(
    model,
    reverse,
    params,
    key,
    image_shape,
    *,
    dataset,
    data_dir=None,
    guidance_ws=(0.0, 0.5, 1.0, 2.0, 4.0),
    num_samples=10_000,
    batch_size=500,
    seed=0,
):
    """(rows, labels, grid) of a class-conditional model: per guidance weight w a row {w,
    num_samples, seconds_per_image, accuracy, scores}, where accuracy is the fraction of
    samples whose feature classifier argmax is their conditioning label; `grid` [len(ws) *
    K, ...] holds each w's first K samples (classes 0..K-1, the same x_T per column for
    every w)."""
    k = model.num_classes
    sample = diffusion.make_sampler(model, reverse, image_shape, batch_size)
    compiled = sample.lower(params, key, 0.0).compile()  # one compilation for every w
    y_batch = np.asarray(diffusion.sample_labels(model, batch_size))  # every batch's labels
    y = np.tile(y_batch, -(-num_samples // batch_size))[:num_samples]
    rows, labels, grid = [], {}, []
    for w in guidance_ws:
        draw = lambda key_i, w=float(w): compiled(params, key_i, w)
        images, seconds = timed_draw(draw, num_samples, batch_size, key)
        scores, labels = score(images, dataset, seed=seed, data_dir=data_dir, labels=y)
        row = {"guidance_w": float(w), "num_samples": num_samples, "seconds_per_image": seconds}
        rows.append({**row, **scores})
        grid.append(images[:k])
    return rows, labels, np.concatenate(grid)


# ---------------------------------------------------------------------------------------
# Pictures


def forward_process_rows(schedule, x_0, ts, key):
    """x_0 and x_t ~ q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) at each index
    of `ts`, for images x_0 [N, ...], one eps per image shared by every t: [N * (1 + len(ts)),
    ...], row i is image i at increasing t."""
    eps = jax.random.normal(key, x_0.shape)
    t = jnp.asarray(ts, jnp.int32)
    x_t = jax.vmap(lambda t_i: q_sample(schedule, x_0, jnp.full(len(x_0), t_i), eps))(t)
    frames = jnp.concatenate([x_0[None], x_t])  # [1 + len(ts), N, ...]
    return np.asarray(jnp.swapaxes(frames, 0, 1).reshape(-1, *x_0.shape[1:]))


def frame_indices(num_steps: int, num_frames: int):
    """`num_frames` - 1 indices of a chain's S = `num_steps` states, evenly spaced, the last
    (x_0) included: with x_T in front, the columns of a trajectory picture."""
    return np.unique(np.round(np.linspace(0, num_steps - 1, num_frames)[1:]).astype(int))


def trajectory_rows(reverse, eps_fn, x_T, key, num_frames):
    """(rows [B * F, ...], steps_done [F]): x_T then x after the steps of ``frame_indices``
    of one chain per row, drawn by `reverse` (``reverse_process(..., trajectory=True)``)."""
    _, xs = jax.jit(lambda x, k: reverse(eps_fn, x, k))(x_T, key)  # [S, B, ...]
    idx = frame_indices(xs.shape[0], num_frames)
    frames = jnp.concatenate([x_T[None], xs[idx]])  # [F, B, ...]
    rows = jnp.swapaxes(frames, 0, 1).reshape(-1, *x_T.shape[1:])
    return np.asarray(rows), [0, *(idx + 1).tolist()]


# mask name -> (H, W) -> bool [H, W], True where the image is known
MASKS = {
    "right": lambda h, w: np.broadcast_to(np.arange(w) < w // 2, (h, w)),
    "bottom": lambda h, w: np.broadcast_to((np.arange(h) < h // 2)[:, None], (h, w)),
    "center": lambda h, w: (
        ~np.outer(
            np.abs(np.arange(h) - (h - 1) / 2) < h / 4, np.abs(np.arange(w) - (w - 1) / 2) < w / 4
        )
    ),
}


def inpainting_mask(name: str, height: int, width: int) -> np.ndarray:
    """The binary mask `name` ('right': right half unknown, 'bottom', 'center': the central
    half-size square unknown) as float32 [H, W, 1], 1 where known."""
    if name not in MASKS:
        raise ValueError(f"Unknown inpainting mask {name!r}; choose one of {', '.join(MASKS)}.")
    return MASKS[name](height, width).astype(np.float32)[..., None]


def inpainting_rows(eps_fn, schedule, x_0, mask, key, variance="beta", resample=1):
    """[3 * N, ...]: the masked images (unknown region grey), their inpainting by ``inpaint``
    (RePaint with U = `resample`) and the originals."""
    key_T, key_chain = jax.random.split(key)
    x_T = jax.random.normal(key_T, x_0.shape)
    sample = jax.jit(functools.partial(inpaint, eps_fn, variance=variance, resample=resample))
    inpainted = jnp.clip(sample(schedule, x_0, mask, x_T, key_chain), -1.0, 1.0)
    return np.concatenate([np.asarray(x_0 * mask), np.asarray(inpainted), np.asarray(x_0)])


def unconditional_eps_fn(model, params):
    """eps_theta(x_t, t) of the unconditional model: the network, or a class-conditional one
    given the learned empty class (Ho & Salimans 2021: one network, both models)."""
    eps_fn = diffusion.eps_fn_y(model, params)
    if model.num_classes is None:
        return eps_fn
    return lambda x_t, t: eps_fn(x_t, t, jnp.full(t.shape, model.null_label))


# ---------------------------------------------------------------------------------------
# Run-level glue used by the experiments


def train_seconds_per_step(workdir, batch_size):
    """Median seconds per training step of run `workdir` from its metrics.jsonl ('img_per_s'
    of each logged interval; the first interval, which includes compilation, left out), or
    None with fewer than two logged intervals."""
    path = Path(workdir) / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    rates = [r["img_per_s"] for r in rows if "img_per_s" in r][1:]
    return float(np.median(batch_size / np.asarray(rates))) if rates else None


def read_eval(workdir):
    """The results of the newest evaluation of run `workdir` (eval/step_N/eval.json)."""
    files = sorted(Path(workdir).glob("eval/step_*/eval.json"))
    if not files:
        raise ValueError(
            f"No evaluation in {workdir}/eval: evaluate that run first "
            f"(python experiments/ddpm.py eval {workdir})."
        )
    return json.loads(files[-1].read_text())


# Run-level numbers set side by side by ``compare``, besides each sampler's.
COMPARED = ("step", "num_params", "num_samples", "train_seconds_per_step")


def compare(results, pixel):
    """Latent vs pixel-space diffusion from the `results` of one evaluation and the `pixel`
    results of another: {key: {'latent': value, 'pixel': value}} for the COMPARED keys, and
    'rows': FID and sampling seconds per image of each (sampler, steps) both tables hold."""
    fid = next(k for k in results["labels"] if k.startswith("fid_"))
    pixel_rows = {(r["sampler"], r["steps"]): r for r in pixel["steps_table"]}
    rows = []
    for r in results["steps_table"]:
        p = pixel_rows.get((r["sampler"], r["steps"]))
        if p is not None:
            side_by_side = {k: {"latent": r[k], "pixel": p[k]} for k in (fid, "seconds_per_image")}
            rows.append({"sampler": r["sampler"], "steps": r["steps"], **side_by_side})
    return {**{k: {"latent": results[k], "pixel": pixel[k]} for k in COMPARED}, "rows": rows}


PICTURES = ("steps", "forward", "trajectory", "inpainting", "guidance")
PIXEL_PICTURES = ("forward", "trajectory", "inpainting")  # of pixel-space models only


def check_pictures(pictures, *, conditional: bool, pixel_space: bool):
    """ValueError naming the pictures that do not exist or do not apply to the model."""
    unknown = sorted(set(pictures) - set(PICTURES))
    if unknown:
        raise ValueError(f"Unknown pictures {unknown}; choose from {', '.join(PICTURES)}.")
    if "guidance" in pictures and not conditional:
        raise ValueError("The 'guidance' picture needs a class-conditional model (ddpm_cond).")
    latent = [p for p in pictures if p in PIXEL_PICTURES]
    if latent and not pixel_space:
        raise ValueError(f"Pictures {latent} show pixel-space diffusion; a latent model has none.")


def evaluate_diffusion(
    model,
    schedule,
    params,
    out_dir,
    *,
    dataset,
    image_shape,
    sample,
    data_dir=None,
    decode=None,
    step=None,
    train_seconds=None,
    compare_with=None,
    seed=0,
    num_samples=10_000,
    ancestral_num_samples=0,
    batch_size=500,
    ddim_steps=(10, 20, 50, 100),
    ancestral=True,
    guidance_ws=(0.0, 0.5, 1.0, 2.0, 4.0),
    pictures=("steps", "forward", "trajectory", "inpainting"),
    num_rows=8,
    num_frames=10,
    inpaint_mask="right",
    inpaint_resample=10,
):
    """A diffusion model's tables and pictures to out_dir, eval.json last; returns the results.

    model: a noise predictor (``UNet``, or latent diffusion's denoiser with `decode` mapping
    its samples [B, *image_shape] to images); sample: the run's sampling options (sampler,
    num_steps, eta, variance, guidance_w): the steps table uses eta, variance and guidance_w,
    the trajectory picture the sampler itself. train_seconds: seconds per training step.
    compare_with: the results of a pixel-space model's evaluation to ``compare`` with.
    """
    conditional = model.num_classes is not None
    check_pictures(pictures, conditional=conditional, pixel_space=decode is None)
    has_steps_table = bool(sampler_options(ddim_steps, ancestral, schedule.num_steps))
    if compare_with is not None and not has_steps_table:
        raise ValueError("Nothing to compare: set eval.ddim_steps or eval.ancestral.")
    inpainting_mask(inpaint_mask, 1, 1)
    if conditional and guidance_ws and batch_size % model.num_classes:
        raise ValueError(
            f"eval.batch_size={batch_size} must be a multiple of the {model.num_classes} "
            "classes: each batch of the guidance table cycles through them."
        )
    if min(num_samples, ancestral_num_samples or num_samples) < 2 or batch_size < 1:
        raise ValueError(
            f"eval.num_samples={num_samples} and eval.ancestral_num_samples="
            f"{ancestral_num_samples} must be >= 2 (ancestral_num_samples 0: as many), "
            f"eval.batch_size={batch_size} >= 1."
        )
    feature_net = load_feature_net(dataset).id
    if compare_with is not None and compare_with.get("feature_net") != feature_net:
        raise ValueError(
            f"The run to compare with was scored with {compare_with.get('feature_net')} on "
            f"{compare_with['dataset']}, this one is {feature_net}: evaluate both alike."
        )
    out_dir = Path(out_dir)
    table_key, guidance_key, picture_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    options = {"dataset": dataset, "data_dir": data_dir, "seed": seed}
    sizes = {"num_samples": num_samples, "batch_size": batch_size}

    def build(reverse):
        return diffusion.make_sampler(
            model, reverse, image_shape, batch_size, guidance_w=sample.guidance_w, decode=decode
        )

    rows, labels, grid = steps_table(
        build,
        params,
        schedule,
        table_key,
        ddim_steps=ddim_steps,
        ancestral=ancestral,
        ancestral_num_samples=ancestral_num_samples,
        eta=sample.eta,
        variance=sample.variance,
        **options,
        **sizes,
    )
    results = {
        "dataset": dataset,
        "step": step,
        "num_params": num_params(params),
        "seed": seed,
        "feature_net": feature_net,
        "num_samples": num_samples,
        "train_seconds_per_step": train_seconds,
        "steps_table": rows,
    }
    files = {}
    if "steps" in pictures and has_steps_table:
        save_grid(out_dir / "steps.png", grid, len(grid) // len(rows))
        files["steps"] = "steps.png"
    if conditional and guidance_ws:
        reverse = diffusion.configured_reverse(sample, schedule)
        g_rows, g_labels, g_grid = guidance_table(
            model, reverse, params, guidance_key, image_shape, guidance_ws=guidance_ws,
            **options, **sizes,
        )  # fmt: skip
        results["guidance_table"] = g_rows
        results["guidance_sampler"] = f"{sample.sampler} {sample.num_steps} steps"
        labels = {**labels, **g_labels}
        if "guidance" in pictures:
            save_grid(out_dir / "guidance.png", g_grid, model.num_classes)
            files["guidance"] = "guidance.png"
    if set(pictures) & set(PIXEL_PICTURES):
        images = load_test_split(dataset, data_dir, num_rows)[0]
        picture_files, columns = pixel_pictures(
            model, schedule, params, out_dir, picture_key, images, sample, pictures,
            num_frames=num_frames, inpaint_mask=inpaint_mask, inpaint_resample=inpaint_resample,
        )  # fmt: skip
        files.update(picture_files)
        results.update(columns)
    results = {**results, "labels": labels, "files": files}
    if compare_with is not None:
        results["comparison"] = compare(results, compare_with)
    return write_results(out_dir, results)


def pixel_pictures(
    model, schedule, params, out_dir, key, images, sample, pictures, *, num_frames,
    inpaint_mask, inpaint_resample,
):  # fmt: skip
    """The forward-process, trajectory and inpainting pictures of `pictures` to out_dir, one
    row per test image of `images` (one chain per row for the trajectory): ({name: file},
    {what the columns show})."""
    files, columns = {}, {}
    key_forward, key_trajectory, key_inpaint = jax.random.split(key, 3)
    if "forward" in pictures:
        ts = frame_indices(schedule.num_steps, num_frames)
        rows = forward_process_rows(schedule, jnp.asarray(images), ts, key_forward)
        save_grid(out_dir / "forward.png", rows, 1 + len(ts))
        files["forward"] = "forward.png"
        columns["forward_t"] = [0, *(ts + 1).tolist()]  # the paper's t; 0: the data x_0
    if "trajectory" in pictures:
        reverse = diffusion.configured_reverse(sample, schedule, trajectory=True)
        key_T, key_chain = jax.random.split(key_trajectory)
        eps_fn = diffusion.sample_eps_fn(model, params, len(images), sample.guidance_w)
        x_T = jax.random.normal(key_T, images.shape)
        rows, steps_done = trajectory_rows(reverse, eps_fn, x_T, key_chain, num_frames)
        save_grid(out_dir / "trajectory.png", rows, len(steps_done))
        files["trajectory"] = "trajectory.png"
        columns["trajectory"] = f"x_T, then x after steps {steps_done[1:]} of {sample.sampler}"
    if "inpainting" in pictures:
        mask = inpainting_mask(inpaint_mask, *images.shape[1:3])
        eps_fn = unconditional_eps_fn(model, params)
        rows = inpainting_rows(
            eps_fn, schedule, images, mask, key_inpaint, sample.variance, inpaint_resample
        )
        save_grid(out_dir / "inpainting.png", rows, len(images))
        files["inpainting"] = "inpainting.png"
        columns["inpainting"] = (
            f"rows: masked ({inpaint_mask}), inpainted (RePaint, U = {inpaint_resample}), original"
        )
    return files, columns
