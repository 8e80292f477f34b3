"""MSG-GAN (Karnewar & Wang 2020): multi-scale gradients, the light form of progressive GANs.

The DCGAN generator also emits an image after every block (a 1x1 conv + tanh) and the
discriminator sees all of them, each concatenated to its features of the same size, while
the real images enter as an average-pooled pyramid. Gradients reach every generator scale
at once from the first step, with no growing schedule. The sample hook shows one row per
scale; use --config.sample.grid=samples for plain samples. The dcgan config and wiring
(jaxgen.tasks.gan) otherwise, presets included (--config.preset=NAME selects
get_config(NAME)): quick (digits, 2,000 steps), digits (8x8, scales 2, 4, 8, 8,000 steps,
the default), cpu (fashion_mnist 28x28, scales 7, 14, 28, 12,000 steps), gpu (fashion_mnist,
wider networks, 30,000 steps).

Run (the same as `jaxgen train msggan`; the run directory defaults to runs/msggan):
  python experiments/msggan.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate: `jaxgen eval DIR [--n 10000] [--step N]` writes DIR/eval.json: FID, KID, IS,
precision/recall and mode coverage of EMA samples (plain samples, not the scale grid) with
the dataset's classifier features.
"""

from jaxgen import runs, train
from jaxgen.tasks import gan

PRESETS = gan.PRESETS
make_task = gan.make_task


def get_config(preset="digits"):
    c = gan.base_config()
    c.model.multi_scale = True
    c.sample.grid = "multiscale"
    return train.with_preset(c, preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
