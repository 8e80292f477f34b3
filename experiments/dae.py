"""Denoising autoencoder (Vincent et al. 2008): noisy or masked images in, clean ones out.

The conv autoencoder of `ae` (jaxgen.tasks.autoencoder), fed corrupted images
(--config.loss.corruption=gaussian: noise of std loss.noise_std on the [-1, 1] scale, or
masking: each pixel set to 0 with probability loss.mask_prob) and trained to reconstruct the
clean ones (MSE). The sample hook shows rows noisy / denoised / clean of test images.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win), all
with Gaussian noise of std 0.5:
  quick  digits, bottleneck 16, 3,000 steps (the default)
  cpu    fashion_mnist, bottleneck 32, 12,000 steps
  gpu    fashion_mnist, bottleneck 32, wider conv stack, batch 128, 50,000 steps

Run (the same as `jaxgen train dae`; the run directory defaults to runs/dae):
  python experiments/dae.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/dae.py eval DIR [--step N] [--config.eval.KEY=VALUE ...]
writes DIR/eval/step_N/: eval.json (test-set MSE per pixel on the [-1, 1] scale of the
denoised corrupted inputs against the clean ones (denoise_mse), of the corrupted inputs
themselves (noisy_mse) and of reconstructions of clean inputs (recon_mse)), denoising.png
(rows noisy / denoised / clean) and reconstructions.png.
"""

from jaxgen import runs, train
from jaxgen.tasks import autoencoder  # ae's model, task and evaluation; only the config differs

SAMPLE_HOOK_SHOWS = "test images and their reconstructions"  # no prior to sample from
PRESETS = autoencoder.PRESETS
make_model = autoencoder.make_model
make_task = autoencoder.make_task
evaluate = autoencoder.evaluate


def get_config(preset="quick"):
    c = autoencoder.base_config()
    c.loss.corruption = "gaussian"
    c.train.num_samples = 81  # 9 x 9: three row triples noisy / denoised / clean
    return train.with_preset(c, preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
