"""beta-VAE (Higgins et al. 2017): constant or warmed-up KL weight; latent traversal grid.

The conv VAE with the KL weighted by a constant beta, or by beta warmed up linearly from 0
(--config.loss.warmup_steps=N).

-ELBO_beta = -log p(x|z) + beta(step) KL(q(z|x) || N(0, I)); beta > 1 trades reconstruction
for a posterior closer to the factorised prior (fewer active dimensions, smoother
traversals); the test-set numbers are always the beta = 1 bound. The decoder is a
discretized logistic: beta is relative to the reconstruction term's scale, and with a
Bernoulli decoder on grey levels beta = 4 collapses every dimension on `digits` (1,500
steps: 0 active of 10; discretized logistic: 3 clearly active, KL ~0.5-0.7 nats each).

Presets (--config.preset=NAME; explicit --config overrides still win):
  quick  digits, beta 4, 3,000 steps
  cpu    fashion_mnist, 12,000 steps + IWAE on 1,000 test images (16 min on 2 cores
         beside two other runs)
  gpu    fashion_mnist, wider conv stack, 50,000 steps

Evaluation: python experiments/beta_vae.py eval WORKDIR [--step N] [--config.eval.KEY=V]
writes WORKDIR/eval/step_N/: eval.json (-ELBO, IWAE NLL in nats and bits/dim, recon MSE,
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
