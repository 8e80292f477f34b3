"""Convolutional autoencoder with a dense bottleneck, trained on the reconstruction MSE.

Encoder (Conv 3x3 stride 2, ReLU) per width, a Dense to --config.model.bottleneck units;
decoder Dense, (ConvTranspose 3x3 stride 2, ReLU) per width in reverse, or nearest x2 + Conv
with --config.model.upsample=resize. The sample hook shows rows of test images and their
reconstructions (an autoencoder has no prior to sample from). Config, wiring and evaluation:
jaxgen.tasks.autoencoder, shared with `dae`.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits, bottleneck 16, 3,000 steps (the default)
  cpu    fashion_mnist, bottleneck 32, 12,000 steps
  gpu    fashion_mnist, bottleneck 32, wider conv stack, batch 128, 50,000 steps

Run (the same as `jaxgen train ae`; the run directory defaults to runs/ae):
  python experiments/ae.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/ae.py eval DIR [--step N] [--config.eval.KEY=VALUE ...]
writes DIR/eval/step_N/: eval.json (test-set reconstruction MSE per pixel on the [-1, 1]
scale) and reconstructions.png.
"""

from jaxgen import runs, train
from jaxgen.tasks import autoencoder

SAMPLE_HOOK_SHOWS = "test images and their reconstructions"  # no prior to sample from
PRESETS = autoencoder.PRESETS
make_model = autoencoder.make_model
make_task = autoencoder.make_task
evaluate = autoencoder.evaluate


def get_config(preset="quick"):
    return train.with_preset(autoencoder.base_config(), preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
