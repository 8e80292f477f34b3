"""DCGAN (Radford et al. 2016): strided convolutions in D, fractionally-strided in G, batch
norm in both, ReLU + tanh in G, LeakyReLU in D, no hidden fully connected layers; Adam
2e-4, beta1 0.5. Sample grids: "samples", "interpolation" (latent walks), "arithmetic"
(bold c1 - thin c1 + thin c2 = bold c2, classes by nearest training image), e.g.
`jaxgen sample runs/dcgan --config.sample.grid=interpolation --out walk.png`.

The config and wiring (jaxgen.tasks.gan) are shared by cgan, wgan_gp, sngan and msggan,
which change only its values.
CPU preset (default): 8x8 digits, 8,000 steps: 7.9-8.7 min wall on 2 cores shared with one
other run (sngan 8.6-8.8, msggan 6.0-6.2, cgan 8.9-14.0, wgan_gp's 1,200 steps 7.6-8.8).
GPU preset: --config.preset=gpu, i.e.
--config.data.name=fashion_mnist --config.data.batch_size=128 --config.train.steps=30000
--config.model.widths="(128, 256)" --config.model.latent_dim=100. Quick preset:
--config.preset=quick, the CPU preset for 2,000 steps (~2 CPU-minutes; `jaxgen bench --quality`).
"""

from jaxgen import runs, train
from jaxgen.tasks import gan

PRESETS = gan.PRESETS
make_task = gan.make_task


def get_config(preset="cpu"):
    return train.with_preset(gan.base_config(), preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
