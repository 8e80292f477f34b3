"""DALL-E (Ramesh et al. 2021): a decoder-only transformer over [caption tokens; image codes]
of a frozen VQ-VAE (jaxgen.models.dalle), trained with DALL-E's weighted cross-entropy
(losses.dalle_loss: 1/8 text, 7/8 image); images drawn code by code with a temperature and
top-k, then decoded. With --config.model.text=false it is the learned prior over the codes
that a VQ-VAE lacks (on any dataset of the VQ-VAE run).

--config.vqvae.workdir is a `vqvae` run of the same dataset (it must stay there: this run's
checkpoints hold only the transformer); its EMA weights encode every training batch to
codes [B, h, w], read in raster order.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick   digits_captions, width 32, depth 1, 200 steps, VQ-VAE runs/vqvae_quick_captions
          (`jaxgen train vqvae --config.data.name=digits_captions --workdir ...`), no CLIP
  cpu     fashion_captions, width 128, depth 4, 4 heads, batch 64, 6,000 steps, VQ-VAE
          runs/vqvae_captions (`jaxgen train vqvae --config.preset=captions`) (the default)
  prior   fashion_mnist without text: the prior of the vqvae cpu run runs/vqvae, 6,000 steps

    jaxgen train vqvae --config.preset=captions --workdir runs/vqvae_captions
    jaxgen train dalle --config.preset=cpu                       # -> runs/dalle

Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/dalle.py eval DIR [--step N] [--config.eval.num_examples=1000]
writes DIR/eval/step_N/eval.json: the text-to-image scores of jaxgen.tasks.text_to_image
(accuracy of every attribute and of the whole caption, FID/KID/precision/recall with the
captioned-data classifier's features, CLIP score with eval.clip_run) on test and held-out
captions, and captions.png (8 test captions, 8 images each). A prior (no text) is scored
by `jaxgen eval DIR` like any unconditional model.
"""

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgen import data, losses, runs, train
from jaxgen.data import captions
from jaxgen.evaluation import common
from jaxgen.models import dalle, vqvae
from jaxgen.tasks import text_to_image

PRESETS = {
    "quick": {
        "data.name": "digits_captions",
        "vqvae.workdir": "runs/vqvae_quick_captions",
        "model.width": 32,
        "model.depth": 1,
        "data.batch_size": 32,
        "train.steps": 200,
        "train.checkpoint_every": 100,
        "eval.clip_run": "",
    },
    "cpu": {},
    "prior": {"data.name": "fashion_mnist", "vqvae.workdir": "runs/vqvae", "model.text": False},
}


def get_config(preset="cpu"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "fashion_captions", "batch_size": 64}
    c.vqvae = {"workdir": "runs/vqvae_captions"}
    c.model = {"text": True, "width": 128, "depth": 4, "num_heads": 4}
    c.loss = {"text_weight": 1 / 8}
    c.sample = {"temperature": 1.0, "top_k": 0}
    c.optimizer = {"learning_rate": 5e-4, "warmup_steps": 500, "weight_decay": 0.01}
    c.train = train.train_config(steps=6_000, log_every=100, sample_every=2000)
    c.eval = train.eval_config(num_examples=1000, clip_run="results/clip_cpu_s0")
    return train.with_preset(c, preset, PRESETS)


def build(c):
    """(transformer, encode: images -> codes [B, M], decode: codes [B, M] -> images)."""
    if c.model.text and c.data.name not in data.CAPTIONED:
        raise ValueError(
            f"{c.data.name} has no captions: train on {', '.join(data.CAPTIONED)}, or set "
            "--config.model.text=false for a prior over the VQ-VAE's codes."
        )
    vq, params, state = text_to_image.restore_frozen(c.vqvae.workdir, "vqvae", c.data.name)
    h, w = vq.image_shape[0] >> len(vq.widths), vq.image_shape[1] >> len(vq.widths)
    text_len = captions.Tokenizer().max_len if c.model.text else 0
    vocab = len(captions.Tokenizer(data.CAPTIONED[c.data.name]).vocabulary) if text_len else 0
    m = c.model
    model = dalle.DALLE(vocab, text_len, vq.num_codes, h * w, m.width, m.depth, m.num_heads)
    encode = lambda x: vqvae.encode_indices(vq, params, state, x).reshape(len(x), -1)  # noqa: E731
    decode = lambda z: vqvae.decode_indices(vq, params, state, z.reshape(-1, h, w))  # noqa: E731
    return model, encode, decode


def image_sampler(model, decode, s):
    """jit of (params, key, tokens [n, L] or None, n) -> n images: codes drawn by
    dalle.sample_codes with s's temperature and top-k, decoded by the VQ-VAE; the weights
    an argument, not constants of the compiled program."""

    def draw(params, key, tokens, n):
        return decode(dalle.sample_codes(model, params, key, tokens, n, s.temperature, s.top_k))

    return jax.jit(draw, static_argnums=3)


def make_task(c):
    model, encode, decode = build(c)
    draw = image_sampler(model, decode, c.sample)
    text = lambda batch: batch["tokens"] if model.text_len else None  # noqa: E731

    def init(key, images):
        tokens = jnp.zeros((len(images), model.text_len), jnp.int32) if model.text_len else None
        return model.init(key, tokens, encode(images))["params"], {}

    def objective(params, model_state, batch, key, step):
        codes = encode(batch["image"])
        text_logits, code_logits = model.apply({"params": params}, text(batch), codes)
        loss, terms = losses.dalle_loss(
            text_logits, text(batch), code_logits, codes, c.loss.text_weight
        )
        return loss.mean(), ({f"nats_{k}": v.mean() for k, v in terms.items()}, model_state)

    def sample(state, key):
        n = c.train.num_samples
        tokens = None
        if model.text_len:
            test = data.load_captioned(c.data.name, "test", c.data.get("data_dir"))
            tokens = data.caption_tokens(c.data.name, test.captions[:n])
        return draw(state.ema_params, key, tokens, n)

    o = c.optimizer
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, o.learning_rate, o.warmup_steps, max(c.train.steps, o.warmup_steps + 1)
    )
    tx = optax.adamw(schedule, weight_decay=o.weight_decay)
    return train.Task(init=init, tx=tx, step=train.loss_step(objective), sample=sample)


def caption_generator(c, params):
    """generate(tokens [B, L], key) -> [B, H, W, C] in [-1, 1]: codes drawn for the captions
    with c.sample's temperature and top-k, decoded by the VQ-VAE."""
    model, _, decode = build(c)
    if not model.text_len:
        raise ValueError(
            "This run is a prior without text: score it with `jaxgen eval RUN`, not by captions."
        )
    draw = image_sampler(model, decode, c.sample)
    return lambda tokens, key: draw(params, key, tokens, len(tokens))


def evaluate(workdir, step=None, overrides=()):
    """Text-to-image scores of the EMA weights -> WORKDIR/eval/step_N/ (module doc)."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    generate = caption_generator(c, state.ema_params)
    out = common.eval_dir(workdir, state.step)
    return text_to_image.evaluate_text_to_image(generate, c, out, int(state.step))


if __name__ == "__main__":
    runs.script_main()
