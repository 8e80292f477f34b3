"""Convolutional autoencoder with a dense bottleneck, trained on the reconstruction MSE.

Encoder (Conv 3x3 stride 2, ReLU) per width, a Dense to --config.model.bottleneck units;
decoder Dense, (ConvTranspose 3x3 stride 2, ReLU) per width in reverse, or nearest x2 + Conv
with --config.model.upsample=resize.

The sample hook shows rows of test images and their reconstructions (an autoencoder has no
prior to sample from).

Presets (--config.preset=NAME; explicit --config overrides still win):
  quick  digits, 3,000 steps
  cpu    fashion_mnist, bottleneck 32, 12,000 steps (6 min on 2 cores beside two other runs)
  gpu    fashion_mnist, wider conv stack, 50,000 steps

Evaluation: python experiments/ae.py eval WORKDIR [--step N] [--config.eval.KEY=V]
writes WORKDIR/eval/step_N/: eval.json (test-set reconstruction MSE per pixel on the
[-1, 1] scale) and reconstructions.png.
"""

from jaxgen import runs, train
from jaxgen.tasks import autoencoder

PRESETS = autoencoder.PRESETS
make_model = autoencoder.make_model
make_task = autoencoder.make_task
evaluate = autoencoder.evaluate


def get_config(preset="quick"):
    return train.with_preset(autoencoder.base_config(), preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
