"""Denoising autoencoder (Vincent et al. 2008): noisy or masked images in, clean ones out.

The conv autoencoder of `ae`, fed corrupted images (--config.loss.corruption=gaussian: noise
of std loss.noise_std on the [-1, 1] scale, or masking: each pixel set to 0 with probability
loss.mask_prob) and trained to reconstruct the clean ones (MSE).

The sample hook shows rows noisy / denoised / clean of test images (9 x 9 grid).

Presets (--config.preset=NAME; explicit --config overrides still win):
  quick  digits, Gaussian noise std 0.5 (on the [-1, 1] scale), 3,000 steps
  cpu    fashion_mnist, bottleneck 32, 12,000 steps (6 min on 2 cores beside two other runs)
  gpu    fashion_mnist, wider conv stack, 50,000 steps

Evaluation: python experiments/dae.py eval WORKDIR [--step N] [--config.eval.KEY=V]
writes WORKDIR/eval/step_N/: eval.json (test-set MSE per pixel on the [-1, 1] scale of:
denoised corrupted inputs against the clean ones (denoise_mse), the corrupted inputs
themselves (noisy_mse), reconstructions of clean inputs (recon_mse)), denoising.png (rows
noisy / denoised / clean) and reconstructions.png.
"""

from jaxgen import runs, train
from jaxgen.tasks import autoencoder  # ae's model, task and evaluation; only the config differs

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
