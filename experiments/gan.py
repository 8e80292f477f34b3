"""The original GAN (Goodfellow et al. 2014): MLP G and D on Fashion-MNIST, SGD as in the paper.

MLP generator and discriminator playing min_G max_D E log D(x) + E log(1 - D(G(z))), k
discriminator steps per generator step, SGD with momentum as in the paper, gradients clipped
to optimizer.clip_norm. The generator descends -log D(G(z)) (non_saturating, the default)
or, with --config.loss.generator=saturating, log(1 - D(G(z))) itself: D rejects the first
samples with confidence, the generator's gradient vanishes and the samples stay noise (the
README's GAN results measure it). The stall shows on Fashion-MNIST (on the 8x8 `digits` D
never rejects that confidently and both losses train) and with SGD (Adam rescales small
gradients), hence this config.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  cpu    Fashion-MNIST, hidden (256, 256), latent 32, batch 64, 50,000 steps (the default)
  gpu    batch 128, 100,000 steps (the same networks: the point is the loss, not capacity)

Run (the same as `jaxgen train gan`; the run directory defaults to runs/gan):
  python experiments/gan.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate: `jaxgen eval DIR [--n 10000] [--step N]` writes DIR/eval.json: FID, KID, IS,
precision/recall and mode coverage of EMA samples with the dataset's classifier features.
"""

import ml_collections

from jaxgen import data, runs, train
from jaxgen.evaluation import grids
from jaxgen.models import gan
from jaxgen.train import gan as gan_train

PRESETS = {"cpu": {}, "gpu": {"data.batch_size": 128, "train.steps": 100_000}}


def get_config(preset="cpu"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "fashion_mnist", "batch_size": 64}
    c.model = {"latent_dim": 32, "hidden": (256, 256)}
    # generator: non_saturating | saturating; k: D updates per G update.
    c.loss = {"generator": "non_saturating", "k": 1}
    # name: sgd (with momentum, as in the paper) | adam (b1, b2); gradients clipped to
    # clip_norm (a bound on the step, in place of the paper's max-norm constraints).
    c.optimizer = {
        "name": "sgd",
        "g_learning_rate": 0.1,
        "d_learning_rate": 0.1,
        "momentum": 0.5,
        "b1": 0.5,
        "b2": 0.999,
        "clip_norm": 10.0,
    }
    c.sample = {"grid": "samples"}  # samples | interpolation
    c.train = train.train_config(
        steps=50_000, log_every=100, checkpoint_every=5000, sample_every=2000
    )
    return train.with_preset(c, preset, PRESETS)


def make_task(c):
    shape = data.dataset_spec(c.data.name).shape
    model = gan_train.GAN(
        generator=gan.MLPGenerator(shape, c.model.hidden),
        discriminator=gan.MLPDiscriminator(c.model.hidden),
        latent_dim=c.model.latent_dim,
        d_loss="minimax",
        g_loss=c.loss.generator,
        k=c.loss.k,
    )
    o = c.optimizer
    return train.Task(
        init=lambda key, x: gan_train.init(model, key, x),
        tx=gan_train.optimizers(
            o.name,
            o.g_learning_rate,
            o.d_learning_rate,
            b1=o.b1,
            b2=o.b2,
            momentum=o.momentum,
            clip_norm=o.clip_norm,
        ),
        step=model.step(),
        sample=grids.sample_hook(model, c.sample.grid, c.train.num_samples),
    )


if __name__ == "__main__":
    runs.script_main()
