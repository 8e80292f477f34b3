"""Class-conditional DDPM with classifier-free guidance (Ho & Salimans 2021), on `digits`.

The U-Net of `ddpm` with a class embedding; labels dropped to a learned empty class with
probability p_uncond = 0.1 in training; samples guided with weight w (sample.guidance_w),
one class per column. The config, presets (quick, digits: the default, cpu, gpu; see `ddpm`) and
wiring of `ddpm` (jaxgen.tasks.diffusion) otherwise.

Run (the same as `jaxgen train ddpm_cond`; the run directory defaults to runs/ddpm_cond):
  python experiments/ddpm_cond.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/ddpm_cond.py eval DIR [--step N] [--config.eval.KEY=VALUE ...]
writes what `ddpm`'s does (its steps table guided with sample.guidance_w) plus the guidance
table: per weight w of eval.guidance_ws, FID, precision/recall and mode coverage, and the
accuracy of the feature classifier on the samples for the label they were conditioned on
(the sampler of c.sample); guidance.png: rows w, columns the classes, the same x_T per
column. The guided steps table costs twice the network evaluations of ddpm's;
--config.eval.ddim_steps="()" --config.eval.ancestral=False leaves it out.
"""

from jaxgen import runs, train
from jaxgen.tasks import diffusion

PRESETS = diffusion.PRESETS
make_task = diffusion.pixel_task
evaluate = diffusion.evaluate


def get_config(preset="digits"):
    c = diffusion.base_config()
    c.model.class_conditional = True
    c.loss.p_uncond = 0.1
    c.sample.guidance_w = 1.0
    c.train.num_samples = 100  # a 10x10 grid: column j shows class j
    c.eval.guidance_ws = (0.0, 0.5, 1.0, 2.0, 4.0)
    c.eval.pictures = (*c.eval.pictures, "guidance")
    return train.with_preset(c, preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
