"""SN-GAN (Miyato et al. 2018): every discriminator weight (convolutions and the output
layer) divided by its largest singular value, estimated by one step of power iteration per
update (u vectors in the model state); no batch norm in D, the hinge loss, Adam 2e-4,
beta1 0.5, one D update per G update (the paper's setting C). The dcgan networks and
wiring otherwise (presets included: --config.preset=gpu for Fashion-MNIST)."""

import functools
import sys

from jaxgen.cli import load_experiment

dcgan = load_experiment("dcgan")
PRESETS = dcgan.PRESETS


def get_config():
    c = dcgan.get_config()
    c.model.update({"d_normalization": "none", "spectral_norm": True})
    c.loss.update({"discriminator": "hinge", "generator": "hinge"})
    return c


make_task = functools.partial(dcgan.make_task, presets=PRESETS, get_config_fn=get_config)


if __name__ == "__main__":
    from jaxgen.cli import main

    main(["train", __file__, *sys.argv[1:]])
