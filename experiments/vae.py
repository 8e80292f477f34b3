"""Convolutional VAE (Kingma & Welling 2014), the demo: quick on `digits`, presets for more.

q(z|x) = N(mu, diag exp(logvar)) from a conv encoder, p(x|z) from a conv decoder, p(z) =
N(0, I), trained with Adam on -ELBO = -E_q log p(x|z) + KL(q(z|x) || p(z)).
Likelihood (--config.model.likelihood): bernoulli (the demo's), gaussian (learned variance),
discretized_logistic or discretized_gaussian (distributions over 8-bit images: the cpu and
gpu presets use discretized_logistic so the NLL is also reported in bits/dim). Config,
wiring and evaluation: jaxgen.tasks.vae, shared with beta_vae, vae_latent and hvae.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits, latent 16, Bernoulli, 3,000 steps (the default; `make demo`)
  cpu    fashion_mnist, discretized logistic, latent 32, KL warm-up over 1,000 steps,
         12,000 steps; IWAE k = 1,000 on the first 1,000 test images, samples.npz of
         10,000 samples (`hvae` matches it)
  gpu    fashion_mnist, as cpu with a wider conv stack, batch 128, KL warm-up over 5,000
         steps, 50,000 steps

Run (the same as `jaxgen train vae`; the run directory defaults to runs/vae):
  python experiments/vae.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/vae.py eval DIR [--step N] [--config.eval.iwae_k=1000 ...]
writes DIR/eval/step_N/: eval.json (test-set -ELBO and IWAE NLL with k = eval.iwae_k on the
first eval.iwae_num_examples test images, in nats and bits/dim; reconstruction MSE;
per-dimension KL), samples.png, reconstructions.png, interpolation.png (latent interpolation
between test images), arithmetic.png (z(x) + alpha (mean(class A) - mean(class B)), classes
eval.arithmetic_classes) and, with eval.num_fid_samples > 0, samples.npz for FID.
`jaxgen eval DIR` scores prior samples (FID, KID, IS, precision/recall, mode coverage) and
writes DIR/eval.json.
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
