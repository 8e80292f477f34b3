"""pix2pix (Isola et al. 2017) on Fashion-MNIST edge maps -> images: a U-Net generator
(dropout as its noise), a PatchGAN discriminator on (edges, image) pairs, the cGAN loss +
lambda * L1 with lambda = 100, Adam 2e-4, beta1 0.5. The input is the thresholded Sobel edge
map of the target (jaxgen.data.paired explains the choice: the paper's edges2shoes task,
and outlines drop the fill that L1 alone can only blur). The sample hook shows (edges,
output, target) triplets of test images.

CPU preset (default): Fashion-MNIST 28x28, small widths, ~20 min on 2 cores. GPU preset:
--config.preset=gpu, i.e. --config.data.batch_size=64 --config.train.steps=20000
--config.model.widths="(64, 128)" --config.model.d_widths="(64, 128)"
"""

import functools
import sys

import jax.numpy as jnp
import ml_collections

from jaxgen import data, train
from jaxgen.data import paired
from jaxgen.models import gan, pix2pix

GPU = {
    "data.batch_size": 64,
    "train.steps": 20_000,
    "model.widths": (64, 128),
    "model.d_widths": (64, 128),
}


def get_config(preset="cpu"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.preset = preset
    c.data = {"name": "fashion_mnist", "batch_size": 32, "edge_threshold": paired.EDGE_THRESHOLD}
    # widths: U-Net levels (28x28 -> 14 -> 7); d_widths: PatchGAN convs.
    c.model = {"widths": (32, 64), "d_widths": (32, 64), "dropout_rate": 0.5}
    c.loss = {"l1_weight": 100.0}
    c.optimizer = {"g_learning_rate": 2e-4, "d_learning_rate": 2e-4, "b1": 0.5, "b2": 0.999}
    c.train = {
        "steps": 6_000,
        "ema_decay": 0.999,
        "log_every": 50,
        "checkpoint_every": 1000,
        "sample_every": 500,
        "num_samples": 36,  # 6 x 6 cells: 12 triplets
    }
    if preset == "gpu":
        c.update_from_flattened_dict(GPU)
    elif preset != "cpu":
        raise ValueError(f"Unknown preset {preset!r}; use 'cpu' or 'gpu'.")
    return c


def make_task(c):
    channels = data.dataset_spec(c.data.name).shape[-1]
    m = c.model
    generator = pix2pix.EncoderDecoder(channels, m.widths, dropout_rate=m.dropout_rate)
    discriminator = gan.Discriminator(m.d_widths, "batch", patch=True)
    make_source = functools.partial(paired.edge_map, threshold=c.data.edge_threshold, xp=jnp)
    edges, images = paired.edges_to_images(c.data.name, "test", c.data.get("data_dir"))
    o = c.optimizer
    return train.Task(
        init=gan.jit_init(
            lambda key, y: pix2pix.init(generator, discriminator, key, make_source(y), y)
        ),
        tx=gan.optimizers("adam", o.g_learning_rate, o.d_learning_rate, b1=o.b1, b2=o.b2),
        step=pix2pix.make_step(generator, discriminator, make_source, c.loss.l1_weight),
        sample=pix2pix.sample_hook(generator, edges[:1000], images[:1000], c.train.num_samples),
    )


if __name__ == "__main__":
    from jaxgen.cli import main

    main(["train", __file__, *sys.argv[1:]])
