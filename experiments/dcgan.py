"""DCGAN (Radford et al. 2016): all-convolutional G and D with batch norm, on `digits`.

Strided convolutions in D, fractionally-strided in G, batch norm in both, ReLU + tanh in G,
LeakyReLU in D, no hidden fully connected layers; the non-saturating GAN loss; Adam 2e-4,
beta1 0.5. The config and wiring (jaxgen.tasks.gan) are shared by cgan, wgan_gp, sngan and
msggan, which change only its values. Sample grids (--config.sample.grid): samples,
interpolation (latent walks), arithmetic (bold c1 - thin c1 + thin c2 = bold c2, classes by
nearest training image), e.g.
`jaxgen sample runs/dcgan --config.sample.grid=interpolation --out walk.png`.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick   the digits preset for 2,000 steps (`jaxgen bench --quality`'s)
  digits  8x8 digits, widths (64, 128), latent 32, batch 64, 8,000 steps (the default)
  cpu     fashion_mnist 28x28, widths (64, 128), latent 64, batch 64, 12,000 steps
  gpu     fashion_mnist, widths (128, 256), latent 100, batch 128, 30,000 steps

Run (the same as `jaxgen train dcgan`; the run directory defaults to runs/dcgan):
  python experiments/dcgan.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate: `jaxgen eval DIR [--n 10000] [--step N]` writes DIR/eval.json: FID, KID, IS,
precision/recall and mode coverage of EMA samples with the dataset's classifier features.
"""

from jaxgen import runs, train
from jaxgen.tasks import gan

PRESETS = gan.PRESETS
make_task = gan.make_task


def get_config(preset="digits"):
    return train.with_preset(gan.base_config(), preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
