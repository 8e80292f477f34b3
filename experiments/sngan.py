"""SN-GAN (Miyato et al. 2018): spectral normalization of every discriminator weight.

Every discriminator weight (convolutions and the output layer) is divided by its largest
singular value, estimated by one step of power iteration per update (u vectors in the model
state); no batch norm in D, the hinge loss, Adam 2e-4, beta1 0.5, one D update per G update
(the paper's setting C). The dcgan networks and wiring (jaxgen.tasks.gan) otherwise,
presets included (--config.preset=NAME selects get_config(NAME)): quick (digits, 2,000
steps), digits (8x8, 8,000 steps, the default), cpu (fashion_mnist 28x28, 12,000 steps), gpu
(fashion_mnist, wider networks, 30,000 steps).

Run (the same as `jaxgen train sngan`; the run directory defaults to runs/sngan):
  python experiments/sngan.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate: `jaxgen eval DIR [--n 10000] [--step N]` writes DIR/eval.json: FID, KID, IS,
precision/recall and mode coverage of EMA samples with the dataset's classifier features.
"""

from jaxgen import runs, train
from jaxgen.tasks import gan

PRESETS = gan.PRESETS
make_task = gan.make_task


def get_config(preset="digits"):
    c = gan.base_config()
    c.model.update({"d_normalization": "none", "spectral_norm": True})
    c.loss.update({"discriminator": "hinge", "generator": "hinge"})
    return train.with_preset(c, preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
