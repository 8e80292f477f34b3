"""Imagen (Saharia et al. 2022) at this CPU's scale: a frozen text encoder, a text-conditional
diffusion U-Net at 16x16, and a super-resolution diffusion model 16 -> 32 (a run of
experiments/upsampler.py), sampled with classifier-free guidance and thresholding.

Text encoder: the text tower of the project's CLIP run (--config.clip.workdir), frozen,
standing in for Imagen's frozen T5-XXL (the paper's finding: a frozen text model's features
suffice): its features at every caption place, y [B, L, D]. The base U-Net
(jaxgen.models.unet.UNet with `context`) adds Dense(mean_l y_l) to its time embedding (the
pooled embedding) and cross-attends to y after every self-attention (8x8, 4x4 and the
middle). The base model draws the f x f means of the images (16x16); y is dropped to zeros
with probability loss.p_uncond for classifier-free guidance.

Guidance: Imagen writes eps~ = w eps(x_t, y) + (1 - w) eps(x_t, 0) and reports w (1: none);
jaxgen's sample.guidance_w is w - 1 (diffusion.classifier_free_guidance). Thresholding of
each step's x_0 prediction: sample.threshold, "static" (clip to [-1, 1]) by default, or
"dynamic" (Imagen's, percentile 99.5), which greys this data's black background (README).

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits_captions, width 16 at 16x16 and 8x8, 200 steps, CLIP runs/clip_quick_captions
         (tests)
  cpu    fashion_captions, a 1.29M-parameter U-Net (width 32, mults (1, 2, 2), one res block
         per level, attention at 8x8 and 4x4), batch 64, 5,000 steps, CLIP
         results/clip_cpu_s0 (the default)

Run (the same as `jaxgen train imagen`; the run directory defaults to runs/imagen):
    jaxgen train upsampler --config.preset=cpu --workdir runs/upsampler
    jaxgen train imagen --config.preset=cpu --workdir runs/imagen
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/imagen.py eval DIR [--config.eval.upsampler=runs/upsampler]
writes DIR/eval/step_N/: eval.json with the text-to-image scores of jaxgen.tasks.text_to_image
of the cascade (base at sample.guidance_w and sample.threshold, then the upsampler run with
its own sampler) on test and held-out captions, captions.png, and with
eval.thresholding_weights (Imagen's w) the thresholding table: for each w and each of
static and dynamic thresholding, FID, CLIP score, caption and colour accuracy, and the
saturated fraction (pixels at |x| >= 0.98) on eval.thresholding_examples test captions;
thresholding.png (a row per w: static, then dynamic, for the same captions).
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jaxgen_experiments import upsampler

from jaxgen import data, runs, train
from jaxgen.data import captions
from jaxgen.evaluation import common
from jaxgen.metrics import evaluate as quality
from jaxgen.models import cascade, diffusion
from jaxgen.tasks import diffusion as diffusion_task
from jaxgen.tasks import text_to_image

PRESETS = {"quick": text_to_image.QUICK_CASCADE, "cpu": {}}


def get_config(preset="cpu"):
    c = text_to_image.cascade_config()
    c.eval.thresholding_weights = (1.0, 3.0, 5.0, 10.0)  # Imagen's w = 1 + sample.guidance_w
    c.eval.thresholding_examples = 500
    return train.with_preset(c, preset, PRESETS)


def make_model(c):
    return text_to_image.context_unet(c.model)


def text_encoder(c):
    """tokens [B, L] -> the frozen CLIP text tower's features [B, L, D] (jitted)."""
    return text_to_image.frozen_text_features(c.clip.workdir, c.data.name)


def base_shape(c):
    h, w, ch = data.dataset_spec(c.data.name).shape
    return h // c.model.factor, w // c.model.factor, ch


def make_sampler(c, model, num_samples, threshold=None):
    """jit of (params, key, guidance_w, y [N, L, D]) -> N base images, c.sample's sampler
    with `threshold` (default: c.sample.threshold)."""
    s = c.sample.to_dict() | ({} if threshold is None else {"threshold": threshold})
    reverse = diffusion.configured_reverse(
        ml_collections.ConfigDict(s), diffusion_task.make_noise_schedule(c)
    )
    return diffusion.make_sampler(model, reverse, base_shape(c), num_samples)


def make_task(c):
    model, encode = make_model(c), text_encoder(c)
    schedule, f = diffusion_task.make_noise_schedule(c), c.model.factor
    objective = functools.partial(diffusion.objective, model, schedule, p_uncond=c.loss.p_uncond)
    n = c.train.num_samples
    sample = make_sampler(c, model, n)

    def init(key, images):
        y = encode(jnp.zeros((len(images), captions.Tokenizer().max_len), int))
        return diffusion.init_params(model, key, jnp.zeros((len(images), *base_shape(c))), y), {}

    y_hook = encode(text_to_image.test_captions(c, n))  # the hook's captions, encoded once

    def text_objective(params, model_state, batch, key, step):
        batch = {"image": cascade.downsample(batch["image"], f), "label": encode(batch["tokens"])}
        return objective(params, model_state, batch, key, step)

    return train.Task(
        init=init,
        tx=train.adam(c.train.learning_rate, c.train.grad_clip, c.train.warmup_steps),
        step=train.loss_step(text_objective),
        sample=lambda state, key: sample(state.ema_params, key, c.sample.guidance_w, y_hook),
    )


def caption_generator(c, params, threshold=None):
    """generate(tokens [B, L], key, guidance_w=sample.guidance_w) -> [B, H, W, C]: the base
    model's images for the captions (with `threshold`, default sample.threshold), upsampled
    by the eval.upsampler run."""
    model, encode = make_model(c), text_encoder(c)
    upsample, up_params = upsampler.restore(c.eval.upsampler, c.data.name)
    samplers = {}

    def generate(tokens, key, guidance_w=c.sample.guidance_w):
        n = len(tokens)
        if n not in samplers:
            samplers[n] = make_sampler(c, model, n, threshold)
        key_base, key_up = jax.random.split(key)
        low = samplers[n](params, key_base, guidance_w, encode(tokens))
        return upsample(up_params, low, key_up)

    return generate


def thresholding_table(c, params, out_dir) -> dict:
    """Per Imagen w in eval.thresholding_weights and static/dynamic thresholding: FID, CLIP
    score, accuracy and the saturated fraction on eval.thresholding_examples test captions;
    thresholding.png."""
    e, dataset = c.eval, c.data.name
    split = data.load_captioned(dataset, "test", c.data.get("data_dir"))
    n = min(e.thresholding_examples, len(split.captions))
    tokens = data.caption_tokens(dataset, split.captions[:n])
    clip = text_to_image.restore_clip(e.clip_run, dataset) if e.clip_run else None
    rows, pictures = [], {}
    for threshold in ("static", "dynamic"):
        generate = caption_generator(c, params, threshold)
        for w in e.thresholding_weights:
            drawn = common.batched(
                functools.partial(generate, guidance_w=w - 1.0),
                tokens,
                e.batch_size,
                jax.random.PRNGKey(e.seed),
            )
            images = common.to_uint8(drawn)
            scores = text_to_image.split_scores(images, split, tokens, dataset, clip, e.batch_size)
            fid = quality.evaluate_samples(
                images, dataset, ("fid",), "test", batch_size=e.batch_size
            )
            rows.append({"imagen_w": w, "threshold": threshold, "saturated": saturated(drawn),
                         "fid": fid[f"fid_{dataset}_classifier"], **scores})  # fmt: skip
            pictures[w, threshold] = drawn[:8]
    picture = [pictures[w, t] for w in e.thresholding_weights for t in ("static", "dynamic")]
    common.save_grid(out_dir / "thresholding.png", np.concatenate(picture), ncol=8)
    return {"thresholding": rows, "thresholding_examples": n, **flat_rows(rows)}


def flat_rows(rows) -> dict:
    """The thresholding rows as keys METRIC_THRESHOLD_wW (fid_dynamic_w5), for the README's
    results tables."""
    metrics = ("fid", "saturated", "accuracy_caption", "accuracy_size", "accuracy_position",
               "clip_score")  # fmt: skip
    return {f"{m}_{r['threshold']}_w{r['imagen_w']:g}": r[m] for r in rows for m in metrics}


def saturated(images):
    """The fraction of pixel values at |x| >= 0.98 (images in [-1, 1])."""
    return float(np.mean(np.abs(images) >= 0.98))


def evaluate(workdir, step=None, overrides=()):
    """Text-to-image scores of the cascade and the thresholding table -> WORKDIR/eval/step_N/
    (module doc)."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    out = common.eval_dir(workdir, state.step)
    table = thresholding_table(c, state.ema_params, out) if c.eval.thresholding_weights else {}
    results = text_to_image.evaluate_text_to_image(
        caption_generator(c, state.ema_params), c, out, int(state.step)
    )
    return common.write_results(out, results | table)


if __name__ == "__main__":
    runs.script_main()
