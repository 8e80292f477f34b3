"""Conditional GAN (Mirza & Osindero 2014) with the DCGAN networks: the label is fed to both
G (one-hot, concatenated to z) and D (one-hot maps, concatenated to the image). The sample
hook shows one row per class, the same z in every row. The dcgan config and wiring
otherwise (presets included: --config.preset=gpu for Fashion-MNIST)."""

import sys

from jaxgen.cli import load_experiment

dcgan = load_experiment("dcgan")
make_task = dcgan.make_task


def get_config(preset="cpu"):
    c = dcgan.get_config(preset)
    c.model.conditional = True
    c.sample.grid = "class_rows"
    c.train.num_samples = 100  # a 10 x 10 grid: row c shows class c
    return c


if __name__ == "__main__":
    from jaxgen.cli import main

    main(["train", __file__, *sys.argv[1:]])
