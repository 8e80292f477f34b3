"""Class-conditional DDPM with classifier-free guidance (Ho & Salimans 2021) on `digits`:
labels dropped to a learned empty class with probability p_uncond in training; samples
guided with weight w, one class per column. The config and wiring of `ddpm` otherwise."""

import sys

from jaxgen.cli import load_experiment

ddpm = load_experiment("ddpm")
make_task = ddpm.make_task


def get_config():
    c = ddpm.get_config()
    c.model.class_conditional = True
    c.loss.p_uncond = 0.1
    c.sample.guidance_w = 1.0
    c.train.num_samples = 100  # a 10x10 grid: column j shows class j
    return c


if __name__ == "__main__":
    from jaxgen.cli import main

    main(["train", __file__, *sys.argv[1:]])
