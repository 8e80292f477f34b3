"""beta-VAE (Higgins et al. 2017): constant or warmed-up KL weight; latent traversal grid.

The conv VAE of `vae` (jaxgen.tasks.vae) with a 10-d latent and the KL weighted by a
constant beta = 4, or by beta warmed up linearly from 0 (--config.loss.warmup_steps=N):
-ELBO_beta = -log p(x|z) + beta(step) KL(q(z|x) || N(0, I)). beta > 1 trades reconstruction
for a posterior closer to the factorised prior (fewer active dimensions, smoother
traversals); the test-set numbers are always the beta = 1 bound. beta is relative to the
reconstruction term's scale, so the decoder is a discretized logistic: with a Bernoulli
decoder on grey levels beta = 4 collapsed every dimension on `digits` (README, Autoencoder
and VAE results).

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits, 3,000 steps (the default)
  cpu    fashion_mnist, 12,000 steps; IWAE on the first 1,000 test images
  gpu    fashion_mnist, wider conv stack, batch 128, 50,000 steps

Run (the same as `jaxgen train beta_vae`; the run directory defaults to runs/beta_vae):
  python experiments/beta_vae.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/beta_vae.py eval DIR [--step N] [--config.eval.KEY=VALUE ...]
writes DIR/eval/step_N/: eval.json (-ELBO, IWAE NLL in nats and bits/dim, recon MSE,
per-dimension KL and the number of active dimensions, KL > 0.01 nats), samples.png,
reconstructions.png, traversal.png: row i varies the i-th most informative latent dimension
(largest mean KL) of the first test image's posterior mean over
[-traversal_range, traversal_range], the others fixed.
"""

import functools

from jaxgen import runs, train
from jaxgen.evaluation import latent
from jaxgen.tasks import vae  # the conv VAE, its task and evaluation

PRESETS = vae.STUDY_PRESETS
make_model = vae.make_model
make_task = vae.make_task
evaluate = functools.partial(vae.evaluate_with, make_model, latent.conv_vae)


def get_config(preset="quick"):
    c = vae.base_config()
    c.model.latent_dim = 10
    c.model.likelihood = "discretized_logistic"
    c.loss.beta = 4.0  # loss.warmup_steps > 0: beta linear from 0
    c.eval.pictures = ("samples", "reconstructions", "traversal")
    c.eval.num_steps = 9
    c.eval.traversal_range = 3.0
    c.eval.traversal_dims = 10
    return train.with_preset(c, preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
