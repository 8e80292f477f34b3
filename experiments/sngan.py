"""SN-GAN (Miyato et al. 2018): every discriminator weight (convolutions and the output
layer) divided by its largest singular value, estimated by one step of power iteration per
update (u vectors in the model state); no batch norm in D, the hinge loss, Adam 2e-4,
beta1 0.5, one D update per G update (the paper's setting C). The dcgan networks and
wiring otherwise (presets included: --config.preset=gpu for Fashion-MNIST)."""

from jaxgen import runs, train
from jaxgen.tasks import gan

PRESETS = gan.PRESETS
make_task = gan.make_task


def get_config(preset="cpu"):
    c = gan.base_config()
    c.model.update({"d_normalization": "none", "spectral_norm": True})
    c.loss.update({"discriminator": "hinge", "generator": "hinge"})
    return train.with_preset(c, preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
