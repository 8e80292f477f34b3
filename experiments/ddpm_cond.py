"""Class-conditional DDPM with classifier-free guidance (Ho & Salimans 2021) on `digits`:
labels dropped to a learned empty class with probability p_uncond in training; samples
guided with weight w, one class per column. The config, presets and wiring of `ddpm`
otherwise.

Evaluation: python experiments/ddpm_cond.py eval WORKDIR [--config.eval.KEY=V] writes what
`ddpm`'s does (its steps table guided with sample.guidance_w) plus the guidance table: per
weight w of eval.guidance_ws, FID, precision/recall and mode coverage, and the accuracy of
the feature classifier on the samples for the label they were conditioned on (the sampler of
c.sample); guidance.png: rows w, columns the classes, the same x_T per column. The guided
steps table costs twice the network evaluations of ddpm's; --config.eval.ddim_steps="()"
--config.eval.ancestral=False leaves it out.
"""

import sys

from jaxgen.cli import load_experiment

ddpm = load_experiment("ddpm")
PRESETS = ddpm.PRESETS
evaluate = ddpm.evaluate


def get_config():
    c = ddpm.get_config()
    c.model.class_conditional = True
    c.loss.p_uncond = 0.1
    c.sample.guidance_w = 1.0
    c.train.num_samples = 100  # a 10x10 grid: column j shows class j
    c.eval.guidance_ws = (0.0, 0.5, 1.0, 2.0, 4.0)
    c.eval.pictures = (*c.eval.pictures, "guidance")
    return c


def make_task(c):
    return ddpm.pixel_task(c, get_config())


if __name__ == "__main__":
    from jaxgen.cli import experiment_main

    experiment_main(__file__, evaluate, sys.argv[1:])
