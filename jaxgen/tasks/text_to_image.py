"""Shared wiring of the text-to-image experiments: frozen stages restored from their run
directories (a VQ-VAE, a CLIP) and the one evaluation of a model that draws images from
captions (jaxgen.evaluation.text_to_image).

The evaluation, on the first eval.num_examples captions of the `test` split and of the
`held_out` compositions: one image per caption; attribute and full-caption accuracy (the
item by ``read_items``); FID,
KID and precision/recall against that split's images with the features of the classifier
trained on the captioned images (fashion_captions_classifier); the CLIP score with the
CLIP run eval.clip_run ('' to skip). The same scores of the real images of those captions
are written beside them (`real_*`): the ceiling the oracles and CLIP allow.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgen import data, runs, train
from jaxgen.data import captions
from jaxgen.evaluation import common, text_to_image
from jaxgen.metrics import evaluate
from jaxgen.metrics.classifier import load_feature_net, net_outputs
from jaxgen.models import unet

PICTURE_CAPTIONS = 8  # captions of the picture: the first 8 of the test split, 8 images each


@functools.lru_cache(maxsize=4)  # a run's evaluation builds its task, then its own stages
def restore_frozen(workdir: str, experiment: str, dataset: str):
    """(model, EMA params, model_state) of run `workdir` of `experiment` (EMA weights, newest
    checkpoint), as unsharded arrays (constants of any step, whatever its mesh); one clear error
    when it is another experiment or dataset."""
    name, _ = train.read_run(workdir)
    if name != experiment:
        raise ValueError(f"{workdir} is a {name} run; this needs a {experiment} run there.")
    c, _, state = runs.restore_run(workdir)
    if c.data.name != dataset:
        raise ValueError(
            f"The {experiment} run {workdir} was trained on {c.data.name}, this config has "
            f"data.name={dataset}: use a {experiment} run of {dataset}."
        )
    weights = jax.tree.map(jnp.asarray, jax.device_get((state.ema_params, state.model_state)))
    return runs.load_experiment(name).make_model(c), *weights


def restore_clip(workdir: str, dataset: str) -> tuple[Callable, Callable]:
    """(embed_images, embed_text), jitted, of the CLIP run `workdir`."""
    model, params, _ = restore_frozen(workdir, "clip", dataset)
    embed_images = jax.jit(lambda x: model.apply({"params": params}, x, method="encode_image"))
    embed_text = jax.jit(lambda t: model.apply({"params": params}, t, method="encode_text"))
    return embed_images, embed_text


@functools.lru_cache(maxsize=4)
def frozen_text_features(workdir: str, dataset: str) -> Callable:
    """tokens [B, L] -> the CLIP run `workdir`'s text-tower features at every place
    [B, L, D] (jitted): the frozen text encoder of Imagen and of unCLIP's prior."""
    if dataset not in data.CAPTIONED:
        raise ValueError(f"{dataset} has no captions: train on {', '.join(data.CAPTIONED)}.")
    clip, params, _ = restore_frozen(workdir, "clip", dataset)
    return jax.jit(lambda t: clip.apply({"params": params}, t, method="encode_text_tokens"))


def context_unet(m) -> unet.UNet:
    """The U-Net conditioned on a context y [B, M, D] of a config's `model` block."""
    return unet.from_config(m, context=True)


# The quick preset of a cascade (imagen, unclip): digits_captions, a quick CLIP and upsampler.
QUICK_CASCADE = {
    "data.name": "digits_captions",
    "clip.workdir": "runs/clip_quick_captions",
    "model.width": 16,
    "model.width_mults": (1, 2),  # 16x16 and 8x8, self- and cross-attention at 8x8
    "model.attention_resolutions": (8,),
    "train.steps": 200,
    "train.checkpoint_every": 100,
    "train.num_samples": 8,
    "sample.num_steps": 4,
    "eval.upsampler": "runs/upsampler_quick",
    "eval.clip_run": "",
}


def cascade_config() -> ml_collections.ConfigDict:
    """The config shared by the cascades' base models (imagen's text-conditional U-Net,
    unclip's decoder): fashion_captions, the frozen CLIP results/clip_cpu_s0, a 16x16
    context U-Net (width 32, mults (1, 2, 2), attention at 8x8 and 4x4), conditions dropped
    10% of the time, DDIM 25 steps with guidance 2 (Imagen's w = 3) and static
    thresholding, 5,000 steps of batch 64, the evaluation's upsampler
    results/upsampler_cpu_s0."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "fashion_captions", "batch_size": 64}
    c.clip = {"workdir": "results/clip_cpu_s0"}  # the frozen CLIP
    c.diffusion = {"schedule": "linear", "num_steps": 1000}
    c.model = {
        "factor": 2,  # the base model's images: the 2x2 means, 16x16
        "width": 32,
        "width_mults": (1, 2, 2),
        "num_res_blocks": 1,
        "attention_resolutions": (8, 4),
        "attention_heads": 2,
        "norm_groups": 8,
    }
    c.loss = {"p_uncond": 0.1}
    # Static clipping, not Imagen's dynamic thresholding: these images sit at the bounds
    # (black background, full-saturation tints), and dividing x_0 by s > 1 turns the black
    # background grey and noisy; the cpu Imagen run's base model at w = 3 follows size and
    # position for 100% and 100% of 60 images with static clipping, 33% and 18% (chance)
    # with dynamic (results/imagen_thresholding_probe; README, Imagen).
    c.sample = {"sampler": "ddim", "num_steps": 25, "eta": 0.0, "variance": "beta",
                "guidance_w": 2.0, "threshold": "static"}  # fmt: skip
    c.train = train.train_config(
        steps=5000, learning_rate=1e-3, warmup_steps=200, grad_clip=1.0, sample_every=2500
    )
    c.eval = train.eval_config(
        num_examples=1000,
        batch_size=200,
        clip_run="results/clip_cpu_s0",
        upsampler="results/upsampler_cpu_s0",
    )
    return c


def test_captions(c, n: int) -> np.ndarray:
    """Token ids [n, L] of the first n test captions of config c's dataset."""
    test = data.load_captioned(c.data.name, "test", c.data.get("data_dir"))
    return data.caption_tokens(c.data.name, test.captions[:n])


def read_items(images: np.ndarray, dataset: str, batch_size: int) -> np.ndarray:
    """[N] item class of images [N, 32, 32, 3] uint8 of captioned dataset `dataset`: the
    source dataset's classifier on the de-tinted, re-cropped garment (captions.garment_of;
    86.8% on real fashion_captions test images, above the 76.1% of the classifier trained
    on the captioned images); -1 for a blank image."""
    source = data.CAPTIONED[dataset]
    side = data.dataset_spec(source).shape[0]
    blank = images.reshape(len(images), -1).max(axis=1) == 0
    crops = np.stack(
        [np.zeros((side, side, 1), np.uint8) if b else captions.garment_of(x, side)
         for x, b in zip(images, blank, strict=True)]
    )  # fmt: skip
    _, logits = net_outputs(load_feature_net(source).apply, crops, batch_size)
    return np.where(blank, -1, np.argmax(logits, axis=-1))


def split_scores(images: np.ndarray, split, tokens, dataset: str, clip, batch_size: int):
    """Scores of images [n, 32, 32, 3] uint8 drawn for the first n captions of `split`."""
    n = len(images)
    truth = {a: getattr(split, a)[:n] for a in text_to_image.ATTRIBUTES}
    items = read_items(images, dataset, batch_size)
    scores = text_to_image.caption_accuracy(images, truth, items)
    if clip is not None:
        embed_images, embed_text = clip
        u = common.batched(embed_images, data.to_float(images), batch_size)
        v = common.batched(embed_text, tokens, batch_size)
        scores["clip_score"] = text_to_image.clip_score(u, v)
    return scores


def evaluate_text_to_image(
    generate: Callable[[np.ndarray, jax.Array], jax.Array],
    c,
    out_dir,
    step: int,
) -> dict:
    """eval.json (module doc) and captions.png of `generate(tokens [B, L], key) -> images
    [B, 32, 32, 3] in [-1, 1]` -> out_dir. c: the run's config (data.name, eval block)."""
    e, dataset = c.eval, c.data.name
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clip = restore_clip(e.clip_run, dataset) if e.clip_run else None
    key = jax.random.PRNGKey(e.seed)
    results = {"step": step, "clip_run": e.clip_run, "feature_net": f"{dataset}_classifier"}
    for i, split_name in enumerate(("test", "held_out")):
        s = data.load_captioned(dataset, split_name, c.data.get("data_dir"))
        n = min(e.num_examples or len(s.captions), len(s.captions))
        tokens = data.caption_tokens(dataset, s.captions[:n])
        drawn = common.batched(generate, tokens, e.batch_size, jax.random.fold_in(key, i))
        images = common.to_uint8(drawn)
        scores = split_scores(images, s, tokens, dataset, clip, e.batch_size)
        real = split_scores(s.image[:n], s, tokens, dataset, clip, e.batch_size)
        scores |= {f"real_{k}": v for k, v in real.items()}
        quality = evaluate.evaluate_samples(
            images, dataset, ("fid", "kid", "pr"), split_name, seed=e.seed, batch_size=e.batch_size
        )
        scores |= {k.removesuffix(f"_{dataset}_classifier"): v for k, v in quality.items()
                   if k.endswith("_classifier")}  # fmt: skip
        suffix = "" if split_name == "test" else "_held_out"
        results |= {f"{k}{suffix}": v for k, v in scores.items()}
        results[f"num_examples{suffix}"] = n
        if split_name == "test":
            picture = np.repeat(tokens[:PICTURE_CAPTIONS], 8, axis=0)  # at the batch size
            images = common.batched(generate, picture, e.batch_size, key)
            common.save_grid(out_dir / "captions.png", images, ncol=8)
            results["picture_captions"] = list(s.captions[:PICTURE_CAPTIONS])
    return common.write_results(out_dir, results)
