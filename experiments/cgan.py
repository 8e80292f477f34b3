"""Conditional GAN (Mirza & Osindero 2014): the DCGAN networks, the label fed to G and D.

The label is fed to both G (one-hot, concatenated to z) and D (one-hot maps, concatenated to
the image). The sample hook shows one row per class, the same z in every row. The dcgan
config and wiring (jaxgen.tasks.gan) otherwise, presets included (--config.preset=NAME
selects get_config(NAME)): quick (digits, 2,000 steps), digits (8x8, 8,000 steps, the
default), cpu (fashion_mnist 28x28, 12,000 steps), gpu (fashion_mnist, wider networks,
30,000 steps).

Run (the same as `jaxgen train cgan`; the run directory defaults to runs/cgan):
  python experiments/cgan.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/cgan.py eval DIR [--step N] [--config.eval.num_samples=N]
writes DIR/eval/step_N/: eval.json (FID, KID, IS, precision/recall and mode coverage of
eval.num_samples samples with balanced labels, and the feature classifier's accuracy for the
label each was drawn with) and samples.png (the first samples; column j holds class j).
"""

import jax

from jaxgen import data, runs, train
from jaxgen.evaluation import common
from jaxgen.evaluation import gan as gan_eval
from jaxgen.tasks import gan as gan_task
from jaxgen.train import gan as gan_train

PRESETS = gan_task.PRESETS
make_task = gan_task.make_task


def get_config(preset="digits"):
    c = gan_task.base_config()
    c.model.conditional = True
    c.sample.grid = "class_rows"
    c.train.num_samples = 100  # a 10 x 10 grid: row c shows class c
    c.eval = {"seed": 0, "num_samples": 10_000, "batch_size": 1000}
    return train.with_preset(c, preset, PRESETS)


def evaluate(workdir, step=None, overrides=()):
    """Sample scores and label accuracy of class-balanced EMA samples -> eval/step_N/."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    model, params = gan_task.make_gan(c), state.ema_params
    k_stats, k_draw = jax.random.split(jax.random.PRNGKey(c.eval.seed))
    model_state = gan_train.ema_model_state(model, params, state.model_state, k_stats)
    num_classes = data.dataset_spec(c.data.name).num_classes
    sample = jax.jit(lambda p, ms, y, key: gan_train.sample(model, p, ms, key, len(y), y))
    draw = lambda y, key: sample(params, model_state, y, key)  # params as arguments, not constants
    images, results = gan_eval.conditional_scores(
        draw, num_classes, c.eval.num_samples, k_draw, **gan_eval.score_options(c)
    )
    grid = images[: num_classes * min(10, len(images) // num_classes)]  # column j: class j
    out = common.eval_dir(workdir, state.step)
    return gan_eval.write(out, results, "samples", grid, num_classes, state.step)


if __name__ == "__main__":
    runs.script_main()
