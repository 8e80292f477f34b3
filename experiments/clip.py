"""CLIP (Radford et al. 2021): a ViT and a causal text transformer trained with the
symmetric InfoNCE (losses.clip_loss) on captioned garments (`fashion_captions`).

Every device embeds its share of the batch; the loss is taken over the whole global batch
(embeddings all-gathered, as CLIP's negatives are the whole batch), so N devices train as
one. Learned temperature, exp(t) capped at 100.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits_captions, width 32, depth 1, 200 steps (tests, smoke runs)
  cpu    fashion_captions, ViT 4x4 patches, width 64, depth 4, text width 64, depth 2,
         embeddings 64, batch 128, 6,000 steps (the default)

Run (the same as `jaxgen train clip`; the run directory defaults to runs/clip):
  python experiments/clip.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/clip.py eval DIR [--step N] [--config.eval.num_examples=1000]
writes DIR/eval/step_N/eval.json: zero-shot accuracy of the item class, colour, size and
position from ensembled text prompts (evaluation.clip), on the first eval.num_examples test
images and on as many of the held-out (class, colour) compositions; text-to-image
retrieval R@1 and R@5 over those test pairs.
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax import lax

from jaxgen import data, losses, runs, train
from jaxgen.data import captions
from jaxgen.evaluation import clip as clip_eval
from jaxgen.evaluation import common
from jaxgen.models import clip

PRESETS = {
    "quick": {
        "data.name": "digits_captions",
        "model.width": 32,
        "model.depth": 1,
        "model.text_width": 32,
        "model.text_depth": 1,
        "model.embed_dim": 32,
        "data.batch_size": 32,
        "train.steps": 200,
        "train.checkpoint_every": 100,
    },
    "cpu": {},
}


def get_config(preset="cpu"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "fashion_captions", "batch_size": 128}
    c.model = {
        "patch": 4,
        "width": 64,
        "depth": 4,
        "num_heads": 4,
        "text_width": 64,
        "text_depth": 2,
        "embed_dim": 64,
    }
    c.optimizer = {"learning_rate": 5e-4, "warmup_steps": 500, "weight_decay": 0.1}
    c.train = train.train_config(steps=6_000, log_every=100, sample_every=0, ema_decay=0.999)
    c.eval = train.eval_config(num_examples=1000)
    return train.with_preset(c, preset, PRESETS)


def make_model(c) -> clip.CLIP:
    m = c.model
    vocab = len(captions.Tokenizer(data.CAPTIONED[c.data.name]).vocabulary)
    image = clip.ViT(m.patch, m.width, m.depth, m.num_heads, m.embed_dim)
    text = clip.TextEncoder(vocab, m.text_width, m.text_depth, m.num_heads, m.embed_dim)
    return clip.CLIP(image, text)


def make_task(c):
    if c.data.name not in data.CAPTIONED:
        raise ValueError(
            f"CLIP trains on a captioned dataset ({', '.join(data.CAPTIONED)}), "
            f"not {c.data.name!r}."
        )
    model = make_model(c)
    o = c.optimizer

    def init(key, images):
        tokens = jnp.full((images.shape[0], captions.Tokenizer().max_len), captions.EOS)
        return model.init(key, images, tokens)["params"], {}

    def objective(params, model_state, batch, key, step):
        u, v, t = model.apply({"params": params}, batch["image"], batch["tokens"])
        # every device's rows against the whole global batch: the same loss on each device
        u, v = (lax.all_gather(x, data.DATA_AXIS, tiled=True) for x in (u, v))
        loss, terms = losses.clip_loss(u, v, t)
        metrics = {"accuracy": terms["accuracy"].mean(), "scale": jnp.exp(t)}
        return loss.mean(), (metrics, model_state)

    # linear warm-up, then cosine decay to 0 at the last step; AdamW as in CLIP
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, o.learning_rate, o.warmup_steps, max(c.train.steps, o.warmup_steps + 1)
    )
    tx = optax.adamw(schedule, weight_decay=o.weight_decay)
    return train.Task(init=init, tx=tx, step=train.loss_step(objective))


def evaluate(workdir, step=None, overrides=()):
    """Zero-shot attribute accuracy and retrieval of the EMA weights -> eval/step_N/."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    model, params = make_model(c), state.ema_params
    source = data.CAPTIONED[c.data.name]
    tokenizer = captions.Tokenizer(source)
    embed_images = jax.jit(lambda x: model.apply({"params": params}, x, method="encode_image"))
    embed_text = jax.jit(lambda t: model.apply({"params": params}, t, method="encode_text"))
    texts, table = clip_eval.prompt_table(source)
    prompts = common.batched(embed_text, np.stack([tokenizer.encode(t) for t in texts]), 250)
    results = {"step": int(state.step), "num_prompts": len(texts)}
    for split in ("test", "held_out"):
        s = data.load_captioned(c.data.name, split, c.data.get("data_dir"))
        n = min(c.eval.num_examples or len(s.captions), len(s.captions))
        u = common.batched(embed_images, data.to_float(s.image[:n]), c.eval.batch_size)
        truth = {a: getattr(s, a)[:n] for a in clip_eval.ATTRIBUTES}
        scores = clip_eval.zero_shot(u, prompts, table, truth)
        if split == "test":
            tokens = np.stack([tokenizer.encode(t) for t in s.captions[:n]])
            v = common.batched(embed_text, tokens, c.eval.batch_size)
            scores |= clip_eval.retrieval(u, v)
        results |= {f"{k}_{split}" if split != "test" else k: x for k, x in scores.items()}
        results[f"num_examples_{split}"] = n
    return common.write_results(common.eval_dir(workdir, state.step), results)


if __name__ == "__main__":
    runs.script_main()
