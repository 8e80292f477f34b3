"""pix2pix (Isola et al. 2017): Fashion-MNIST edge maps -> images, U-Net G, PatchGAN D.

A U-Net generator (dropout as its noise), a PatchGAN discriminator on (edges, image) pairs,
the cGAN loss + lambda * L1 with lambda = 100, Adam 2e-4, beta1 0.5. The input is the
thresholded Sobel edge map of the target (jaxgen.data.paired explains the choice: the
paper's edges2shoes task, and outlines drop the fill that L1 alone can only blur). The
sample hook shows (edges, output, target) triplets of test images.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  cpu    Fashion-MNIST 28x28, widths (32, 64) for G and D, batch 32, 6,000 steps (the
         default)
  gpu    widths (64, 128) for G and D, batch 64, 20,000 steps

Run (the same as `jaxgen train pix2pix`; the run directory defaults to runs/pix2pix):
  python experiments/pix2pix.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/pix2pix.py eval DIR [--step N] [--config.eval.num_examples=N]
writes DIR/eval/step_N/: eval.json (L1 = mean |G(x) - y| on the [0, 1] scale over the
test pairs, and FID, KID, IS, precision/recall and mode coverage of the G(x) against the
test split) and triplets.png (edges, output, target).
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections

from jaxgen import data, runs, train
from jaxgen.data import paired
from jaxgen.evaluation import common, grids
from jaxgen.evaluation import gan as gan_eval
from jaxgen.models import gan, pix2pix
from jaxgen.train import gan as gan_train
from jaxgen.train import pix2pix as pix2pix_train

# What the sample hook shows instead of samples of a model: `jaxgen eval` refuses the run.
SAMPLE_HOOK_SHOWS = "(edges, output, target) triplets of test pairs"
PRESETS = {
    "cpu": {},
    "gpu": {
        "data.batch_size": 64,
        "train.steps": 20_000,
        "model.widths": (64, 128),
        "model.d_widths": (64, 128),
    },
}


def get_config(preset="cpu"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "fashion_mnist", "batch_size": 32, "edge_threshold": paired.EDGE_THRESHOLD}
    # widths: U-Net levels (28x28 -> 14 -> 7); d_widths: PatchGAN convs.
    c.model = {"widths": (32, 64), "d_widths": (32, 64), "dropout_rate": 0.5}
    c.loss = {"l1_weight": 100.0}
    c.optimizer = {"g_learning_rate": 2e-4, "d_learning_rate": 2e-4, "b1": 0.5, "b2": 0.999}
    c.train = train.train_config(
        steps=6_000,
        num_samples=36,  # 6 x 6 cells: 12 triplets
    )
    c.eval = train.eval_config(batch_size=500)
    return train.with_preset(c, preset, PRESETS)


def make_nets(c):
    """(U-Net generator, PatchGAN discriminator) of config c."""
    channels = data.dataset_spec(c.data.name).shape[-1]
    m = c.model
    generator = pix2pix.EncoderDecoder(channels, m.widths, dropout_rate=m.dropout_rate)
    return generator, gan.Discriminator(m.d_widths, "batch", patch=True)


def held_out_pairs(c):
    """(edge maps, images) of the test split, float32 in [-1, 1]."""
    return paired.edges_to_images(
        c.data.name, "test", c.data.get("data_dir"), threshold=c.data.edge_threshold
    )


def make_task(c):
    generator, discriminator = make_nets(c)
    make_source = functools.partial(paired.edge_map, threshold=c.data.edge_threshold, xp=jnp)
    edges, images = held_out_pairs(c)
    o = c.optimizer
    return train.Task(
        init=lambda key, y: pix2pix_train.init(generator, discriminator, key, make_source(y), y),
        tx=gan_train.optimizers("adam", o.g_learning_rate, o.d_learning_rate, b1=o.b1, b2=o.b2),
        step=pix2pix_train.make_step(generator, discriminator, make_source, c.loss.l1_weight),
        sample=grids.pix2pix_hook(generator, edges[:1000], images[:1000], c.train.num_samples),
    )


def evaluate(workdir, step=None, overrides=()):
    """L1 and sample scores of G(edges) on the test pairs -> WORKDIR/eval/step_N/."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    generator, _ = make_nets(c)
    n = c.eval.num_examples or None
    edges, images = (a[:n] for a in held_out_pairs(c))
    translate_fn = jax.jit(functools.partial(pix2pix_train.translate_standing, generator))
    translate = lambda x, key: translate_fn(state.ema_params, state.model_state, x, key)
    outputs, results = gan_eval.translation_scores(
        translate, edges, images, jax.random.PRNGKey(c.eval.seed), **gan_eval.score_options(c)
    )
    k = min(24, len(edges)) // 4 * 4  # rows of 4 (edges, output, target) triplets
    grid = grids.triplet_grid(edges[:k], outputs[:k], images[:k], 4).reshape(-1, *edges.shape[1:])
    return gan_eval.write(
        common.eval_dir(workdir, state.step), results, "triplets", grid, 12, state.step
    )


if __name__ == "__main__":
    runs.script_main()
