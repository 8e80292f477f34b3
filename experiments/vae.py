"""Convolutional VAE (Kingma & Welling 2014), the demo: quick on `digits`, presets for more.

Use --config.preset=cpu (or gpu) for fashion_mnist.

Likelihood (--config.model.likelihood): bernoulli (the demo's), gaussian (learned variance),
discretized_logistic or discretized_gaussian (distributions over 8-bit images: the presets
use discretized_logistic so the NLL is also reported in bits/dim).

Presets (--config.preset=NAME; explicit --config overrides still win):
  quick  digits, 3,000 steps, Bernoulli (the defaults below; `make demo`)
  cpu    fashion_mnist, discretized logistic, latent 32, KL warm-up over 1,000 steps,
         12,000 steps and IWAE k = 1,000 on the first 1,000 test images: about 3 + 3 min
         on the idle 2-core CPU, 15-20 min beside two other runs (`hvae` matches it)
  gpu    fashion_mnist, wider conv stack, 50,000 steps

Evaluation of a run (EMA weights, newest checkpoint unless --step):
  python experiments/vae.py eval WORKDIR [--step N] [--config.eval.iwae_k=1000 ...]
writes WORKDIR/eval/step_N/: eval.json (test-set -ELBO and IWAE NLL with k = eval.iwae_k
on the first eval.iwae_num_examples test images, in nats and bits/dim; reconstruction MSE;
per-dimension KL), samples.png, reconstructions.png, interpolation.png (latent interpolation
between test images), arithmetic.png (z(x) + alpha (mean(class A) - mean(class B)), classes
eval.arithmetic_classes) and, with eval.num_fid_samples > 0, samples.npz for FID.
"""

from jaxgen import runs, train
from jaxgen.tasks import vae

PRESETS = vae.PRESETS
make_model = vae.make_model
make_task = vae.make_task
evaluate = vae.evaluate


def get_config(preset="quick"):
    return train.with_preset(vae.base_config(), preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
