"""DALL-E 2 / unCLIP (Ramesh et al. 2022) at this CPU's scale: a frozen CLIP, a diffusion
prior from the caption's CLIP text features to a CLIP image embedding, a diffusion decoder
from the image embedding to a 16x16 image, and the upsampler 16 -> 32 of Imagen's cascade
(a run of experiments/upsampler.py; unCLIP's decoder also feeds two diffusion upsamplers).

jaxgen.models.unclip: the prior (a transformer predicting z_0, the paper's choice) and the
decoder (the context U-Net of jaxgen.tasks.text_to_image with the embedding as its one
context place) train in one run on the same batches, each with its own Adam and clipping
(an optimizer per top-level part of the parameters: two trainings in one loop). Their
conditions are dropped to zeros with probability loss.p_uncond (classifier-free guidance:
sample.prior_guidance_w and sample.guidance_w, jaxgen's w, Imagen's minus 1).

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits_captions, prior width 32 depth 1, decoder width 16 at 16x16 and 8x8, 200
         steps, CLIP runs/clip_quick_captions (tests)
  cpu    fashion_captions, prior width 128 depth 4, the decoder of imagen's cpu preset,
         batch 64, 3,000 steps, CLIP results/clip_cpu_s0 (the default)

Run (the same as `jaxgen train unclip`; the run directory defaults to runs/unclip):
    jaxgen train upsampler --config.preset=cpu --workdir runs/upsampler
    jaxgen train unclip --config.preset=cpu --workdir runs/unclip
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/unclip.py eval DIR [--config.eval.upsampler=runs/upsampler]
writes DIR/eval/step_N/: eval.json with the text-to-image scores of jaxgen.tasks.text_to_image
(prior, decoder, upsampler) on test and held-out captions and the prior's cosine similarity
to the CLIP image embeddings of the captions' real images beside the text embeddings' own
(does the prior land in the image-embedding space?); captions.png; variations.png (unCLIP's
image variations: per row a test image, then images decoded from its CLIP image embedding).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxgen_experiments import upsampler

from jaxgen import data, runs, train
from jaxgen.data import captions
from jaxgen.diffusion import guided_eps_fn
from jaxgen.evaluation import common
from jaxgen.models import cascade, diffusion, unclip
from jaxgen.tasks import diffusion as diffusion_task
from jaxgen.tasks import text_to_image

PRESETS = {
    "quick": text_to_image.QUICK_CASCADE | {"prior.width": 32, "prior.depth": 1},
    "cpu": {"train.steps": 3000},  # ~1.0 s a step alone: about 50 minutes
}

VARIATIONS = 8  # test images of variations.png, each with 7 variations


def get_config(preset="cpu"):
    c = text_to_image.cascade_config()  # c.model: the decoder
    c.prior = {"width": 128, "depth": 4, "num_heads": 4}
    c.sample.prior_guidance_w = 1.0
    return train.with_preset(c, preset, PRESETS)


def build(c):
    """(prior, decoder, embed_images: images -> scaled CLIP image embeddings [B, E], text:
    tokens -> CLIP text features [B, L, D], E)."""
    prior = unclip.Prior(c.prior.width, c.prior.depth, c.prior.num_heads)
    decoder = text_to_image.context_unet(c.model)
    text = text_to_image.frozen_text_features(c.clip.workdir, c.data.name)
    clip, clip_params, _ = text_to_image.restore_frozen(c.clip.workdir, "clip", c.data.name)
    embed_images = jax.jit(
        lambda x: unclip.scaled_embedding(
            clip.apply({"params": clip_params}, x, method="encode_image")
        )
    )
    return prior, decoder, embed_images, text, clip.image.embed_dim


def samplers(c, prior, decoder, embed_dim):
    """jit of draw_embeddings(prior params, key, y [N, L, D]) -> z [N, E] and of
    decode(decoder params, key, z [N, E]) -> [N, h, w, C] in [-1, 1] (c.sample's sampler,
    guided; sample.threshold for the decoder only: embeddings are not in [-1, 1])."""
    s, schedule = c.sample, diffusion_task.make_noise_schedule(c)
    reverse_prior = diffusion.reverse_process(
        s.sampler, schedule, num_steps=s.num_steps, eta=s.eta, variance=s.variance
    )
    reverse_decoder = diffusion.configured_reverse(s, schedule)
    h, w, ch = data.dataset_spec(c.data.name).shape
    f = c.model.factor

    @jax.jit
    def draw_embeddings(params, key, y):
        key_T, key_chain = jax.random.split(key)
        z_T = jax.random.normal(key_T, (len(y), embed_dim))
        eps_fn = unclip.prior_eps_fn(prior, params, schedule)
        return reverse_prior(guided_eps_fn(eps_fn, y, 0.0, s.prior_guidance_w), z_T, key_chain)

    @jax.jit
    def decode(params, key, z):
        key_T, key_chain = jax.random.split(key)
        x_T = jax.random.normal(key_T, (len(z), h // f, w // f, ch))
        eps_fn = diffusion.sample_eps_fn(decoder, params, len(z), s.guidance_w, z[:, None])
        return jnp.clip(reverse_decoder(eps_fn, x_T, key_chain), -1.0, 1.0)

    return draw_embeddings, decode


def make_task(c):
    prior, decoder, embed_images, text, embed_dim = build(c)
    schedule, f = diffusion_task.make_noise_schedule(c), c.model.factor
    objective = functools.partial(diffusion.objective, schedule=schedule, p_uncond=c.loss.p_uncond)

    def init(key, images):
        key_prior, key_decoder = jax.random.split(key)
        z = embed_images(jnp.zeros((len(images), *images.shape[1:])))
        y = text(jnp.zeros((len(images), captions.Tokenizer().max_len), int))
        low = jnp.zeros((len(images), images.shape[1] // f, images.shape[2] // f, images.shape[3]))
        return {
            "prior": diffusion.init_params(prior, key_prior, z, y),
            "decoder": diffusion.init_params(decoder, key_decoder, low, z[:, None]),
        }, {}

    def both(params, model_state, batch, key, step):
        """L_prior (x_0 target) + L_decoder (eps target) on one batch."""
        z, y = embed_images(batch["image"]), text(batch["tokens"])
        low = cascade.downsample(batch["image"], f)
        key_prior, key_decoder = jax.random.split(key)
        l_prior, _ = objective(prior, params=params["prior"], model_state={}, key=key_prior,
                               batch={"image": z, "label": y}, step=step, target="x0")  # fmt: skip
        l_decoder, _ = objective(decoder, params=params["decoder"], model_state={},
                                 batch={"image": low, "label": z[:, None]}, key=key_decoder,
                                 step=step)  # fmt: skip
        metrics = {"loss_prior": l_prior, "loss_decoder": l_decoder}
        return l_prior + l_decoder, (metrics, model_state)

    draw_embeddings, decode = samplers(c, prior, decoder, embed_dim)

    y = text(text_to_image.test_captions(c, c.train.num_samples))  # the hook's, encoded once

    def sample(state, key):
        key_prior, key_decoder = jax.random.split(key)
        z = draw_embeddings(state.ema_params["prior"], key_prior, y)
        return decode(state.ema_params["decoder"], key_decoder, z)

    adam = train.adam(c.train.learning_rate, c.train.grad_clip, c.train.warmup_steps)
    tx = {"prior": adam, "decoder": adam}  # each part its own Adam state and clipping
    return train.Task(init=init, tx=tx, step=train.loss_step(both), sample=sample)


def stages(c, params):
    """(generate(tokens [B, L], key) -> [B, H, W, C] in [-1, 1], its stages draw(tokens, key)
    -> image embeddings z [B, E] by the prior and from_embeddings(z, key) -> images by the
    decoder and the upsampler eval.upsampler, and CLIP's embed_images) of EMA `params`."""
    prior, decoder, embed_images, text, embed_dim = build(c)
    draw_embeddings, decode = samplers(c, prior, decoder, embed_dim)
    upsample, up_params = upsampler.restore(c.eval.upsampler, c.data.name)

    def from_embeddings(z, key):
        key_decoder, key_up = jax.random.split(key)
        return upsample(up_params, decode(params["decoder"], key_decoder, z), key_up)

    def draw(tokens, key):
        return draw_embeddings(params["prior"], key, text(tokens))

    def generate(tokens, key):
        key_prior, key_image = jax.random.split(key)
        return from_embeddings(draw(tokens, key_prior), key_image)

    return generate, draw, from_embeddings, embed_images


def caption_generator(c, params):
    """generate(tokens [B, L], key) -> [B, H, W, C] in [-1, 1]: prior, decoder, upsampler."""
    return stages(c, params)[0]


def evaluate(workdir, step=None, overrides=()):
    """Text-to-image scores, the prior's cosines and variations.png -> WORKDIR/eval/step_N/
    (module doc)."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    e = c.eval
    generate, draw, from_embeddings, embed_images = stages(c, state.ema_params)
    out = common.eval_dir(workdir, state.step)
    results = text_to_image.evaluate_text_to_image(generate, c, out, int(state.step))

    test = data.load_captioned(c.data.name, "test", c.data.get("data_dir"))
    n = min(e.num_examples or len(test.captions), len(test.captions))
    tokens = data.caption_tokens(c.data.name, test.captions[:n])
    key = jax.random.PRNGKey(e.seed)
    z_prior = common.batched(draw, tokens, e.batch_size, key)
    z_image = common.batched(embed_images, data.to_float(test.image[:n]), e.batch_size)
    _, text_embed = text_to_image.restore_clip(c.clip.workdir, c.data.name)
    z_text = common.batched(text_embed, tokens, e.batch_size)
    results["prior_cosine_to_image"] = mean_cosine(z_prior, z_image)
    results["text_cosine_to_image"] = mean_cosine(z_text, z_image)

    originals = data.to_float(test.image[:VARIATIONS])
    z = np.repeat(np.asarray(embed_images(originals)), VARIATIONS - 1, axis=0)
    drawn = common.batched(from_embeddings, z, e.batch_size, key)  # at the compiled size
    drawn = drawn.reshape(VARIATIONS, VARIATIONS - 1, *originals.shape[1:])
    rows = np.concatenate([originals[:, None], drawn], axis=1).reshape(-1, *originals.shape[1:])
    common.save_grid(out / "variations.png", rows, ncol=VARIATIONS)
    return common.write_results(out, results)


def mean_cosine(u, v):
    """Mean cosine similarity of matching rows of u and v [N, E]."""
    u, v = (x / np.linalg.norm(x, axis=-1, keepdims=True) for x in (u, v))
    return float(np.mean((u * v).sum(axis=-1)))


if __name__ == "__main__":
    runs.script_main()
