"""The original GAN (Goodfellow et al. 2014): MLP generator and discriminator playing
min_G max_D E log D(x) + E log(1 - D(G(z))), k discriminator steps per generator step, SGD
with momentum as in the paper. --config.loss.generator=saturating descends log(1 - D(G(z)))
itself: D rejects the first samples with confidence and the generator's gradient vanishes.
Checked on Fashion-MNIST for 3,000 steps, seeds 0 and 1: saturating, g_fake_prob = D(G(z))
< 4e-4 and g_grad_norm < 6e-3 from step 500 on (1e-4 by step 2,000), samples stay noise;
the default non_saturating -log D(G(z)): D(G(z)) 0.16-0.45, g_grad_norm 0.9-1.8, garments
by step 3,000. Not on the 8x8 digits (D never rejects that confidently and both losses
train), nor in a 1,500-step check with Adam (2e-4), which rescales small gradients: keep
sgd for the demonstration. Without clip_norm, lr 0.1 diverged within 150 steps (seed 1).

CPU preset (default): Fashion-MNIST, 50,000 steps: 5.3-6.3 min wall (5.5-5.9 CPU-minutes)
on 2 cores shared with one other run. GPU preset: --config.preset=gpu,
i.e. --config.data.batch_size=128 --config.train.steps=100000 (the same networks: the
point here is the loss, not the capacity).
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
        init=gan_train.jit_init(lambda key, x: gan_train.init(model, key, x)),
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
