"""Evaluation of diffusion models (DDPM, DDIM, classifier-free guidance, latent diffusion):
one small evaluator per table or picture, each configured by its own few keys of a config's
eval block (``common.configure``), and ``evaluate``, which runs those the block lists.

Tables (entries of eval.json):

- ``StepsTable``: DDIM (Song et al. 2021) and DPM-Solver++(2M) (Lu et al. 2022) with each
  number of steps and ancestral sampling over all T steps (Ho et al. 2020, Algorithm 2),
  each row scored by ``score``: FID, precision/recall and mode coverage with the dataset's
  classifier features (``metrics.evaluate_samples``), plus the network evaluations and the
  sampling seconds per image;
- ``GuidanceTable`` (class-conditional models): per classifier-free guidance weight w (Ho &
  Salimans 2022) the same scores and the classifier accuracy of the samples for the label
  they were conditioned on.

Sampling time is the wall time of the compiled sampler (one ``lax.scan``), compiled ahead of
time, so compilation is excluded; each call is waited for.

Pictures: the tables' grids (steps.png: one row per sampler, same x_T per column;
guidance.png: rows w, columns classes), and of pixel-space models ``ForwardPicture`` (the
forward process q(x_t | x_0)), ``TrajectoryPicture`` (a reverse chain) and
``InpaintingPicture`` (masked / inpainted / original).

Each evaluator draws from its own PRNG key, fixed by its name (``evaluator_keys``), so
listing or leaving out one changes no other's numbers.
"""

import dataclasses
import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import losses
from jaxgen.diffusion import NoiseSchedule, ddim_invert, ddim_sample, inpaint, q_sample, sdedit
from jaxgen.evaluation import common
from jaxgen.evaluation.common import Output, load_test_split, num_params, save_grid
from jaxgen.evaluation.grids import slerp
from jaxgen.evaluation.likelihood import nll_metrics
from jaxgen.metrics import SCALE_8BIT, evaluate_samples, load_feature_net
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


@dataclasses.dataclass(frozen=True)
class TrainedDiffusion:
    """A trained diffusion model as the evaluators see it.

    model: the noise predictor (``UNet``, or latent diffusion's denoiser); params: its (EMA)
    parameters; image_shape: the shape of one x_0, a latent when `decode` maps samples
    [B, *image_shape] to images (None: x_0 are the images); sample: the run's sampler (the
    steps table uses its eta, variance and guidance_w, the trajectory picture and the
    guidance table the sampler itself); dataset, data_dir: what the samples are scored
    against; seed: of the evaluation's keys and scores.
    """

    model: Any
    schedule: NoiseSchedule
    params: Any
    image_shape: tuple[int, ...]
    sample: diffusion.SampleOptions
    dataset: str
    data_dir: str | None = None
    decode: Callable | None = None
    seed: int = 0

    @property
    def conditional(self) -> bool:
        return self.model.num_classes is not None

    def score(self, images, metrics=DEFAULT_METRICS, labels=None):
        """``score`` of `images` against this model's dataset."""
        options = {"seed": self.seed, "data_dir": self.data_dir, "labels": labels}
        return score(images, self.dataset, metrics=metrics, **options)

    def test_images(self, num_examples: int) -> np.ndarray:
        """The first `num_examples` test images [N, H, W, C] in [-1, 1]."""
        return load_test_split(self.dataset, self.data_dir, num_examples)[0]

    def sampler(self, reverse: Callable, batch_size: int) -> Callable:
        """``diffusion.make_sampler`` of `batch_size` images drawn by `reverse`, guided with
        the run's guidance_w: jit of (params, key[, guidance_w]) -> images."""
        guidance_w, decode = self.sample.guidance_w, self.decode
        return diffusion.make_sampler(
            self.model, reverse, self.image_shape, batch_size, guidance_w=guidance_w, decode=decode
        )


def check_sample_sizes(num_samples: int, batch_size: int, ancestral_num_samples: int = 0):
    """ValueError unless every table row has >= 2 samples and batches >= 1."""
    if min(num_samples, ancestral_num_samples or num_samples) < 2 or batch_size < 1:
        raise ValueError(
            f"eval.num_samples={num_samples} and eval.ancestral_num_samples="
            f"{ancestral_num_samples} must be >= 2 (ancestral_num_samples 0: as many), "
            f"eval.batch_size={batch_size} >= 1."
        )


# ---------------------------------------------------------------------------------------
# Tables


@dataclasses.dataclass(frozen=True)
class StepsTable:
    """The steps table: per (sampler, steps) of ``rows_sampled`` a row {sampler, steps, nfe,
    num_samples, seconds_per_image, scores} of `num_samples` samples (the ancestral row:
    `ancestral_num_samples` unless 0, as its T steps cost most; FID is biased upward at
    fewer samples, so then every row also has the FID of its first ancestral_num_samples
    samples, 'fid_ancestral_n_*'). nfe: network evaluations per sample, the steps, twice
    them for a class-conditional model (its guided predictor evaluates the network on the
    conditional and the unconditional input). With `picture`, steps.png: each row's first
    `num_columns` samples (every sampler starts from the same x_T)."""

    name: ClassVar[str] = "steps"
    ddim_steps: Sequence[int] = (10, 20, 50, 100)
    dpm_steps: Sequence[int] = ()  # DPM-Solver++(2M), sampler "dpm++2m"
    ancestral: bool = True  # also Algorithm 2 over all T steps
    num_samples: int = 10_000
    ancestral_num_samples: int = 0
    batch_size: int = 500
    picture: bool = True
    num_columns: int = 10

    def rows_sampled(self, num_steps: int) -> list[tuple[str, int]]:
        """The (sampler, steps) rows: DDIM with each of ddim_steps, DPM-Solver++(2M) with
        each of dpm_steps, then ancestral sampling over all T = `num_steps` steps when
        `ancestral`."""
        rows = []
        for sampler, key, name in (
            ("ddim", "ddim_steps", "DDIM"),
            ("dpm++2m", "dpm_steps", "DPM-Solver++(2M)"),
        ):
            bad = [s for s in getattr(self, key) if not 1 <= s <= num_steps]
            if bad:
                raise ValueError(
                    f"eval.{key} {bad} out of range: {name} takes 1..T = 1..{num_steps}."
                )
            rows += [(sampler, int(s)) for s in getattr(self, key)]
        ddpm = [("ddpm", num_steps)] if self.ancestral else []
        return rows + ddpm

    def check(self, m: TrainedDiffusion) -> None:
        self.rows_sampled(m.schedule.num_steps)
        check_sample_sizes(self.num_samples, self.batch_size, self.ancestral_num_samples)

    def table(
        self,
        build: Callable,
        params,
        schedule: NoiseSchedule,
        key: jax.Array,
        *,
        eta: float,
        variance: str,
        score: Callable,
        evaluations_per_step: int = 1,
    ):
        """(rows, labels, grid [rows * num_columns, ...] or None without rows).
        build(reverse) -> jitted (params, key) -> [batch_size, ...] images
        (``TrainedDiffusion.sampler``); score(images[, metrics=]) -> (scores, labels);
        evaluations_per_step: network evaluations per sample and sampler step."""
        rows, labels, grid = [], {}, []
        n_ancestral = self.ancestral_num_samples
        m = n_ancestral if self.ancestral and n_ancestral < self.num_samples else 0
        for sampler, steps in self.rows_sampled(schedule.num_steps):
            reverse = diffusion.reverse_process(
                sampler, schedule, num_steps=steps, eta=eta, variance=variance
            )
            compiled = build(reverse).lower(params, key).compile()
            n = (sampler == "ddpm" and n_ancestral) or self.num_samples
            draw = lambda k, c=compiled: c(params, k)
            images, seconds = timed_draw(draw, n, self.batch_size, key)
            scores, labels = score(images)
            if m:  # the ancestral row's own FID is already on m samples: not scored twice
                subset, names = (scores, labels) if n == m else score(images[:m], metrics=("fid",))
                fid = next(k for k in names if k.startswith("fid_"))
                scores["fid_ancestral_n" + fid[3:]] = subset[fid]
                labels["fid_ancestral_n" + fid[3:]] = f"{names[fid]}, first {m} samples"
            nfe = steps * evaluations_per_step
            row = {"sampler": sampler, "steps": steps, "nfe": nfe, "num_samples": n}
            rows.append({**row, "seconds_per_image": seconds, **scores})
            grid.append(images[: self.num_columns])
        return rows, labels, np.concatenate(grid) if grid else None

    def __call__(self, m: TrainedDiffusion, key: jax.Array, out_dir: Path) -> Output:
        build = functools.partial(m.sampler, batch_size=self.batch_size)
        options = {"eta": m.sample.eta, "variance": m.sample.variance, "score": m.score}
        options["evaluations_per_step"] = 2 if m.conditional else 1
        rows, labels, grid = self.table(build, m.params, m.schedule, key, **options)
        files = {}
        if self.picture and rows:
            save_grid(out_dir / "steps.png", grid, len(grid) // len(rows))
            files["steps"] = "steps.png"
        return Output({"steps_table": rows}, labels, files)


@dataclasses.dataclass(frozen=True)
class GuidanceTable:
    """The guidance table of a class-conditional model, drawn by the run's sampler: per
    guidance weight w a row {guidance_w, num_samples, seconds_per_image, accuracy, scores},
    where accuracy is the fraction of samples whose feature classifier argmax is their
    conditioning label. With `picture`, guidance.png: each w's first K samples (classes
    0..K-1, the same x_T per column for every w)."""

    name: ClassVar[str] = "guidance"
    guidance_ws: Sequence[float] = (0.0, 0.5, 1.0, 2.0, 4.0)
    num_samples: int = 10_000
    batch_size: int = 500
    picture: bool = True

    def check(self, m: TrainedDiffusion) -> None:
        check_sample_sizes(self.num_samples, self.batch_size)
        if self.batch_size % m.model.num_classes:
            raise ValueError(
                f"eval.batch_size={self.batch_size} must be a multiple of the "
                f"{m.model.num_classes} classes: each batch of the guidance table cycles "
                "through them."
            )

    def __call__(self, m: TrainedDiffusion, key: jax.Array, out_dir: Path) -> Output:
        k = m.model.num_classes
        reverse = diffusion.configured_reverse(m.sample, m.schedule)
        compiled = m.sampler(reverse, self.batch_size).lower(m.params, key, 0.0).compile()
        y_batch = np.asarray(diffusion.sample_labels(m.model, self.batch_size))  # per batch
        y = np.tile(y_batch, -(-self.num_samples // self.batch_size))[: self.num_samples]
        rows, labels, grid = [], {}, []
        for w in self.guidance_ws:  # one compilation for every w
            draw = lambda key_i, w=float(w): compiled(m.params, key_i, w)
            images, seconds = timed_draw(draw, self.num_samples, self.batch_size, key)
            scores, labels = m.score(images, labels=y)
            row = {"guidance_w": float(w), "num_samples": self.num_samples}
            rows.append({**row, "seconds_per_image": seconds, **scores})
            grid.append(images[:k])
        files = {}
        if self.picture:
            save_grid(out_dir / "guidance.png", np.concatenate(grid), k)
            files["guidance"] = "guidance.png"
        sampler = f"{m.sample.sampler} {m.sample.num_steps} steps"
        return Output({"guidance_table": rows, "guidance_sampler": sampler}, labels, files)


# ---------------------------------------------------------------------------------------
# Pictures of pixel-space models


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
    given the learned empty class (Ho & Salimans 2022: one network, both models)."""
    eps_fn = diffusion.eps_fn_y(model, params)
    if model.num_classes is None:
        return eps_fn
    return lambda x_t, t: eps_fn(x_t, t, jnp.full(t.shape, model.null_label))


@dataclasses.dataclass(frozen=True)
class ForwardPicture:
    """forward.png: `num_rows` test images x_0, each followed by x_t ~ q(x_t | x_0) at the
    indices of ``frame_indices(T, num_frames)`` (one eps per image); eval.json's forward_t:
    the paper's t of each column, 0 for the data x_0."""

    name: ClassVar[str] = "forward"
    num_rows: int = 8
    num_frames: int = 10

    def check(self, m: TrainedDiffusion) -> None:
        pass

    def __call__(self, m: TrainedDiffusion, key: jax.Array, out_dir: Path) -> Output:
        ts = frame_indices(m.schedule.num_steps, self.num_frames)
        images = jnp.asarray(m.test_images(self.num_rows))
        rows = forward_process_rows(m.schedule, images, ts, key)
        save_grid(out_dir / "forward.png", rows, 1 + len(ts))
        return Output({"forward_t": [0, *(ts + 1).tolist()]}, files={"forward": "forward.png"})


@dataclasses.dataclass(frozen=True)
class TrajectoryPicture:
    """trajectory.png: `num_rows` chains of the run's sampler (guided as it samples), each
    x_T and then x after the steps of ``frame_indices(S, num_frames)``."""

    name: ClassVar[str] = "trajectory"
    num_rows: int = 8
    num_frames: int = 10

    def check(self, m: TrainedDiffusion) -> None:
        pass

    def __call__(self, m: TrainedDiffusion, key: jax.Array, out_dir: Path) -> Output:
        shape = m.test_images(self.num_rows).shape  # as many chains as the other pictures' rows
        reverse = diffusion.configured_reverse(m.sample, m.schedule, trajectory=True)
        key_T, key_chain = jax.random.split(key)
        eps_fn = diffusion.sample_eps_fn(m.model, m.params, shape[0], m.sample.guidance_w)
        x_T = jax.random.normal(key_T, shape)
        rows, steps_done = trajectory_rows(reverse, eps_fn, x_T, key_chain, self.num_frames)
        save_grid(out_dir / "trajectory.png", rows, len(steps_done))
        what = f"x_T, then x after steps {steps_done[1:]} of {m.sample.sampler}"
        return Output({"trajectory": what}, files={"trajectory": "trajectory.png"})


@dataclasses.dataclass(frozen=True)
class InpaintingPicture:
    """inpainting.png: rows of `num_rows` test images masked by ``inpainting_mask``
    (`inpaint_mask`: the unknown region), inpainted by RePaint with U = `inpaint_resample`
    passes per step (the unconditional model), and the originals."""

    name: ClassVar[str] = "inpainting"
    num_rows: int = 8
    inpaint_mask: str = "right"
    inpaint_resample: int = 10

    def check(self, m: TrainedDiffusion) -> None:
        inpainting_mask(self.inpaint_mask, 1, 1)
        if self.inpaint_resample < 1:
            raise ValueError(
                f"eval.inpaint_resample={self.inpaint_resample}: RePaint's U counts denoising "
                "passes per step, >= 1."
            )

    def __call__(self, m: TrainedDiffusion, key: jax.Array, out_dir: Path) -> Output:
        images = m.test_images(self.num_rows)
        mask = inpainting_mask(self.inpaint_mask, *images.shape[1:3])
        eps_fn = unconditional_eps_fn(m.model, m.params)
        options = {"variance": m.sample.variance, "resample": self.inpaint_resample}
        rows = inpainting_rows(eps_fn, m.schedule, images, mask, key, **options)
        save_grid(out_dir / "inpainting.png", rows, len(images))
        what = (
            f"rows: masked ({self.inpaint_mask}), inpainted (RePaint, U = "
            f"{self.inpaint_resample}), original"
        )
        return Output({"inpainting": what}, files={"inpainting": "inpainting.png"})


@dataclasses.dataclass(frozen=True)
class SDEditTable:
    """SDEdit (Meng et al. 2022) of the first `sdedit_num_examples` test images at each of
    `sdedit_strengths` (``diffusion.sdedit``, DDIM of the run's num_steps): per strength the
    FID of the edits against the test split (realism) and their mean squared distance to
    the inputs per pixel on the [-1, 1] scale (faithfulness); sdedit.png: `num_rows` inputs
    (first row), then one row of edits per strength."""

    name: ClassVar[str] = "sdedit"
    sdedit_strengths: Sequence[float] = (0.25, 0.5, 0.75, 1.0)
    sdedit_num_examples: int = 1000
    num_rows: int = 8
    batch_size: int = 250

    def check(self, m: TrainedDiffusion) -> None:
        bad = [s for s in self.sdedit_strengths if not 0.0 <= s <= 1.0]
        if bad or self.sdedit_num_examples < 2:
            raise ValueError(
                f"eval.sdedit_strengths {bad} must lie in [0, 1] and eval.sdedit_num_examples="
                f"{self.sdedit_num_examples} be >= 2."
            )

    def __call__(self, m: TrainedDiffusion, key: jax.Array, out_dir: Path) -> Output:
        images = m.test_images(self.sdedit_num_examples)

        @functools.partial(jax.jit, static_argnums=3)  # the weights an argument, not constants
        def edit(params, x, key, strength):
            eps_fn = unconditional_eps_fn(m.model, params)
            return jnp.clip(sdedit(eps_fn, m.schedule, x, key, strength, m.sample.num_steps), -1, 1)

        rows, table = [images[: self.num_rows]], []
        for strength in self.sdedit_strengths:
            edits = common.batched(
                lambda x, k, s=strength: edit(m.params, x, k, s), images, self.batch_size, key
            )
            distance = float(np.mean((edits - images) ** 2))
            scores, _ = m.score(edits, metrics=("fid",))
            fid = next(v for k, v in scores.items() if k.startswith("fid_"))
            table.append({"strength": strength, "fid": fid, "mse_to_input": distance})
            rows.append(edits[: self.num_rows])
        save_grid(out_dir / "sdedit.png", np.concatenate(rows), self.num_rows)
        return Output({"sdedit": table}, files={"sdedit": "sdedit.png"})


@dataclasses.dataclass(frozen=True)
class BoundTable:
    """The DDPM variational bound (``losses.variational_bound``: Ho et al. 2020, eq. 5, the
    discretized Gaussian decoder, the run's sampler variance) on the first
    `bpd_num_examples` test images, one draw of x_t per index and image: the bound on the
    test NLL in nats and bits/dim with standard errors over the images, and its three parts
    in bits/dim (prior L_T, the sum of L_{t-1}, decoder L_0). T network evaluations per
    image; a class-conditional model is scored unconditionally (the learned empty class)."""

    name: ClassVar[str] = "bpd"
    bpd_num_examples: int = 1000
    batch_size: int = 500

    def check(self, m: TrainedDiffusion) -> None:
        if self.bpd_num_examples < 2:
            raise ValueError(f"eval.bpd_num_examples={self.bpd_num_examples} must be >= 2.")

    def __call__(self, m: TrainedDiffusion, key: jax.Array, out_dir: Path) -> Output:
        images = m.test_images(self.bpd_num_examples)

        @jax.jit  # the weights an argument, not constants
        def bound(params, x, key):
            eps_fn = unconditional_eps_fn(m.model, params)
            return losses.variational_bound(m.schedule, eps_fn, x, key, m.sample.variance)

        nats, terms = common.batched(
            lambda x, k: bound(m.params, x, k), images, self.batch_size, key
        )
        dims = int(np.prod(images.shape[1:]))
        results = {"bpd_num_examples": len(images)}
        results |= nll_metrics(-nats, dims, SCALE_8BIT)
        results |= {f"bpd_{k}": float(np.mean(v) / (dims * np.log(2))) for k, v in terms.items()}
        return Output(results, labels={"test_bpd": "test bits/dim (variational bound)"})


@dataclasses.dataclass(frozen=True)
class InterpolationPicture:
    """interpolation.png: `num_rows` pairs of test images (i, num_rows + i), each row the
    first image, ``ddim_sample`` of `num_frames` spherical interpolations (``slerp``, t from
    0 to 1) between the two images' DDIM inversions (``ddim_invert``, the run's num_steps),
    and the second image; the first and last decoded frames are the reconstructions."""

    name: ClassVar[str] = "interpolation"
    num_rows: int = 8
    num_frames: int = 10

    def check(self, m: TrainedDiffusion) -> None:
        pass

    def __call__(self, m: TrainedDiffusion, key: jax.Array, out_dir: Path) -> Output:
        images = jnp.asarray(m.test_images(2 * self.num_rows))
        a, b = images[: self.num_rows], images[self.num_rows :]
        steps, n, frames = m.sample.num_steps, self.num_rows, self.num_frames

        @jax.jit
        def rows(params, a, b):
            eps_fn = unconditional_eps_fn(m.model, params)
            z_a, z_b = (ddim_invert(eps_fn, m.schedule, x, steps).reshape(n, 1, -1) for x in (a, b))
            t = jnp.linspace(0.0, 1.0, frames).reshape(1, frames, 1)
            z = slerp(z_a, z_b, t).reshape(n * frames, *a.shape[1:])
            x = ddim_sample(eps_fn, m.schedule, z, key, steps).reshape(n, frames, *a.shape[1:])
            return jnp.concatenate([a[:, None], jnp.clip(x, -1, 1), b[:, None]], axis=1)

        grid = np.asarray(rows(m.params, a, b)).reshape(-1, *a.shape[1:])
        save_grid(out_dir / "interpolation.png", grid, frames + 2)
        return Output(files={"interpolation": "interpolation.png"})


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


def check_comparable(pixel, steps: StepsTable, num_steps: int, feature_net: str) -> None:
    """ValueError unless this evaluation has a steps table and scores with the same feature
    network as the `pixel` results it is compared with."""
    if not steps.rows_sampled(num_steps):
        raise ValueError(
            "Nothing to compare: set eval.ddim_steps, eval.dpm_steps or eval.ancestral."
        )
    if pixel.get("feature_net") != feature_net:
        raise ValueError(
            f"The run to compare with was scored with {pixel.get('feature_net')} on "
            f"{pixel['dataset']}, this one is {feature_net}: evaluate both alike."
        )


PIXEL_PICTURES = {  # pictures (and SDEdit's table) of pixel-space models only
    "forward": ForwardPicture,
    "trajectory": TrajectoryPicture,
    "inpainting": InpaintingPicture,
    "sdedit": SDEditTable,
    "bpd": BoundTable,
    "interpolation": InterpolationPicture,
}
PICTURES = ("steps", *PIXEL_PICTURES, "guidance")


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


def evaluators(
    options: Mapping[str, Any], *, conditional: bool, pixel_space: bool
) -> list[common.Evaluator]:
    """The evaluators an eval block `options` lists, each configured by its own keys: the
    steps table (empty without ddim_steps and ancestral), a class-conditional model's
    guidance table (unless guidance_ws is empty), and the pixel pictures of
    options['pictures'] ('steps' and 'guidance' there are the two tables' grids)."""
    pictures = options["pictures"]
    check_pictures(pictures, conditional=conditional, pixel_space=pixel_space)
    units = [common.configure(StepsTable, options, picture="steps" in pictures)]
    if conditional:
        guidance = common.configure(GuidanceTable, options, picture="guidance" in pictures)
        units += [guidance] if guidance.guidance_ws else []
    units += [
        common.configure(unit, options) for p, unit in PIXEL_PICTURES.items() if p in pictures
    ]
    return units


def evaluator_keys(seed: int) -> dict[str, jax.Array]:
    """Each evaluator's PRNG key, by name, from the root key of `seed`."""
    steps, guidance, pictures = jax.random.split(jax.random.PRNGKey(seed), 3)
    forward, trajectory, inpainting = jax.random.split(pictures, 3)
    return {
        "steps": steps,
        "guidance": guidance,
        "forward": forward,
        "trajectory": trajectory,
        "inpainting": inpainting,
        # added later, each from its own fold: the others' keys unchanged
        "sdedit": jax.random.fold_in(pictures, 3),
        "bpd": jax.random.fold_in(pictures, 4),
        "interpolation": jax.random.fold_in(pictures, 5),
    }


def evaluate(
    m: TrainedDiffusion,
    options: Mapping[str, Any],
    out_dir: str | Path,
    *,
    step: int | None = None,
    train_seconds: float | None = None,
    compare_with: dict | None = None,
) -> dict:
    """Runs the ``evaluators`` of eval block `options` on `m`, every one checked before any
    samples are drawn, and writes their pictures and eval.json (the run's numbers: `step`,
    parameters, `train_seconds` per training step; each evaluator's entries, labels and
    files; with `compare_with`, the results of a pixel-space evaluation, the ``compare``
    table) to out_dir, eval.json last. Returns the results."""
    units = evaluators(options, conditional=m.conditional, pixel_space=m.decode is None)
    for unit in units:
        unit.check(m)
    steps = units[0]
    feature_net = load_feature_net(m.dataset).id
    if compare_with is not None:
        check_comparable(compare_with, steps, m.schedule.num_steps, feature_net)
    out = common.run_evaluators(units, m, evaluator_keys(m.seed), out_dir)
    results = {
        "dataset": m.dataset,
        "step": step,
        "num_params": num_params(m.params),
        "seed": m.seed,
        "feature_net": feature_net,
        "num_samples": steps.num_samples,
        "train_seconds_per_step": train_seconds,
        **out.results,
        "labels": out.labels,
        "files": out.files,
    }
    if compare_with is not None:
        results["comparison"] = compare(results, compare_with)
    return common.write_results(out_dir, results)
