"""StyleGAN-style generator (Karras et al. 2019): mapping network, AdaIN styles, noise inputs.

A mapping network z -> w, a synthesis network from a learned constant with per-layer noise
inputs and AdaIN(x, A(w)) after every convolution, mixing regularization; the DCGAN
discriminator without normalization, the non-saturating loss with the R1 penalty (as in the
paper); Adam 2e-4, beta1 0, beta2 0.99. The sample hook shows the style-mixing grid (coarse
styles from the top row, the rest from the left column); --config.sample.grid=samples
for plain samples.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  digits  8x8 digits (styles at 4x4 and 8x8), widths (64, 128), w 64-d from a 4-layer
          mapping, latent 32, batch 64, 5,000 steps (the default)
  cpu     Fashion-MNIST (styles at 7x7, 14x14, 28x28), widths (32, 64, 128), the digits
          mapping, latent 64, batch 64, 6,000 steps (0.44 s a step on the idle 2-core
          CPU: ~45 min)
  gpu    fashion_mnist (styles at 7x7, 14x14, 28x28), widths (64, 128, 256), w 128-d
         from an 8-layer mapping, latent 128, batch 128, 30,000 steps

Run (the same as `jaxgen train stylegan`; the run directory defaults to runs/stylegan):
  python experiments/stylegan.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate: `jaxgen eval DIR [--n 10000] [--step N]` writes DIR/eval.json: FID, KID, IS,
precision/recall and mode coverage of EMA samples (plain samples, not the style-mixing
grid) with the dataset's classifier features.
"""

import ml_collections

from jaxgen import data, runs, train
from jaxgen.evaluation import grids
from jaxgen.models import gan, stylegan
from jaxgen.train import gan as gan_train

PRESETS = {
    "digits": {},
    "cpu": {
        "data.name": "fashion_mnist",
        "model.widths": (32, 64, 128),  # resolutions 7, 14, 28
        "model.latent_dim": 64,
        "train.steps": 6_000,
        "sample.crossover": 4,  # styles of 7x7 and 14x14 from the top row
    },
    "gpu": {
        "data.name": "fashion_mnist",
        "data.batch_size": 128,
        "train.steps": 30_000,
        "model.widths": (64, 128, 256),  # resolutions 7, 14, 28
        "model.w_dim": 128,
        "model.mapping_depth": 8,
        "model.latent_dim": 128,
        "sample.crossover": 4,  # styles of 7x7 and 14x14 from the top row
    },
}


def get_config(preset="digits"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "digits", "batch_size": 64}
    # widths: one synthesis block per width (coarse to fine in reverse), 2 styles each.
    c.model = {
        "latent_dim": 32,
        "w_dim": 64,
        "mapping_depth": 4,
        "widths": (64, 128),
        "mixing_prob": 0.9,
    }
    c.loss = {"r1_weight": 0.1}
    c.optimizer = {"g_learning_rate": 2e-4, "d_learning_rate": 2e-4, "b1": 0.0, "b2": 0.99}
    # grid: style_mixing | samples; crossover: styles l < crossover come from the top row.
    c.sample = {"grid": "style_mixing", "crossover": 2}
    c.train = train.train_config(
        steps=5_000, log_every=100, checkpoint_every=2000, sample_every=1000
    )
    return train.with_preset(c, preset, PRESETS)


def make_task(c):
    m = c.model
    model = gan_train.GAN(
        generator=stylegan.StyleGenerator(
            data.dataset_spec(c.data.name).shape, m.widths, m.w_dim, m.mapping_depth, m.mixing_prob
        ),
        discriminator=gan.Discriminator(m.widths, normalization="none"),
        latent_dim=m.latent_dim,
        r1_weight=c.loss.r1_weight,
    )
    o = c.optimizer
    return train.Task(
        init=lambda key, x: gan_train.init(model, key, x),
        tx=gan_train.optimizers("adam", o.g_learning_rate, o.d_learning_rate, b1=o.b1, b2=o.b2),
        step=model.step(),
        sample=grids.sample_hook(
            model, c.sample.grid, c.train.num_samples, crossover=c.sample.crossover
        ),
    )


if __name__ == "__main__":
    runs.script_main()
