"""ProGAN (Karras et al. 2018): a GAN grown 4 -> 8 -> 16 -> 32 on Fashion-MNIST padded to
32x32 (with -1, the background), each new level faded in; pixel normalization in G,
minibatch standard deviation in D, the equalized learning rate everywhere; WGAN-GP with
the drift term; Adam 1e-3, b1 0, b2 0.99 (jaxgen.models.progan, jaxgen.train.progan).
Samples are cropped back to the dataset's size, so `jaxgen eval DIR` scores them like the
other GANs'. The sample hook draws at the current level and alpha, upsampled to 32x32.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits 8x8 grown 4 -> 8, widths (16, 16), 100 steps per phase (tests)
  cpu    fashion_mnist padded to 32, widths (64, 64, 32, 16), latent 128, batch 32,
         800 steps per phase: 4x4, then fade-in and stable phases of 8, 16 and 32,
         5,600 steps (the default)

Run (the same as `jaxgen train progan`; the run directory defaults to runs/progan):
  python experiments/progan.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate: `jaxgen eval DIR --n 10000` (FID, KID, precision/recall, classes covered).
"""

import jax
import jax.numpy as jnp
import ml_collections

from jaxgen import data, runs, train
from jaxgen.models import progan
from jaxgen.train import gan as gan_train
from jaxgen.train import progan as progan_train

PRESETS = {
    "quick": {
        "data.name": "digits",
        "model.widths": (16, 16),
        "model.latent_dim": 16,
        "train.phase_steps": 100,
        "train.steps": 300,
    },
    "cpu": {},
}


def get_config(preset="cpu"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "fashion_mnist", "batch_size": 32}
    # widths[l]: feature maps of level l (4x4 first); the last level's size is 4 * 2^(L-1)
    c.model = {"widths": (64, 64, 32, 16), "latent_dim": 128}
    c.optimizer = {"learning_rate": 1e-3, "b1": 0.0, "b2": 0.99}
    c.train = train.train_config(steps=5600, phase_steps=800, sample_every=800)
    return train.with_preset(c, preset, PRESETS)


def make_nets(c):
    channels = data.dataset_spec(c.data.name).shape[-1]
    return progan.Generator(c.model.widths, channels), progan.Discriminator(c.model.widths)


def padding(c) -> int:
    """Pixels of -1 added on each side to reach the last level's size 4 * 2^(L-1)."""
    side, size = data.dataset_spec(c.data.name).shape[0], 4 * 2 ** (len(c.model.widths) - 1)
    if size < side or (size - side) % 2:
        raise ValueError(
            f"model.widths has {len(c.model.widths)} levels: the last makes {size}x{size} "
            f"images, which cannot hold {c.data.name}'s {side}x{side} evenly; add levels."
        )
    return (size - side) // 2


def make_task(c):
    generator, discriminator = make_nets(c)
    pad, side = padding(c), data.dataset_spec(c.data.name).shape[0]
    prepare = lambda x: jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=-1.0)  # noqa: E731
    channels, levels = data.dataset_spec(c.data.name).shape[-1], len(c.model.widths)
    o = c.optimizer

    @jax.jit
    def draw(params, step, key):
        level, alpha = progan_train.schedule(step, c.train.phase_steps, levels)
        z = gan_train.sample_latents(key, c.train.num_samples, c.model.latent_dim)
        images = progan_train.generate(generator, params[gan_train.GENERATOR], z, level, alpha)
        return images[:, pad : pad + side, pad : pad + side]

    return train.Task(
        init=jax.jit(
            lambda key, x: progan_train.init(
                generator, discriminator, key, c.model.latent_dim, channels
            )
        ),
        tx=gan_train.optimizers("adam", o.learning_rate, o.learning_rate, b1=o.b1, b2=o.b2),
        step=progan_train.make_step(
            generator, discriminator, c.model.latent_dim, c.train.phase_steps, prepare
        ),
        sample=lambda state, key: draw(state.ema_params, state.step, key),
    )


if __name__ == "__main__":
    runs.script_main()
