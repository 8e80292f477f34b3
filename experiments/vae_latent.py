"""VAE latent space: class scatter and decoded manifold of a 2-D latent (also try 5, 20).

A conv VAE whose test-set posterior means are plotted coloured by class and whose decoded
latent manifold is drawn; run with --config.model.latent_dim=2, 5 and 20.

With --config.model.latent_dim=2 the scatter shows the means themselves and the manifold grid
decodes the N(0, I) quantile grid (Kingma & Welling 2014, Fig. 4); for larger latents both
use the plane of the means' first two principal components. Small latents give the most
readable maps but blurry reconstructions and a worse ELBO; 20 dimensions reconstruct better
while the 2-D projection mixes the classes more.

Presets (--config.preset=NAME; explicit --config overrides still win):
  quick  digits, 3,000 steps
  cpu    fashion_mnist, 12,000 steps + IWAE on 1,000 test images (16 min on 2 cores
         beside two other runs)
  gpu    fashion_mnist, wider conv stack, 50,000 steps

Evaluation: python experiments/vae_latent.py eval WORKDIR [--step N] [--config.eval.KEY=V]
writes WORKDIR/eval/step_N/: eval.json (-ELBO, IWAE NLL in nats and bits/dim, recon MSE,
per-dimension KL), scatter.png, manifold.png, interpolation.png, arithmetic.png
(z(x) + alpha (mean(class A) - mean(class B))), samples.png, reconstructions.png.
"""

import functools
import sys

from jaxgen import train
from jaxgen.cli import load_experiment
from jaxgen.evaluation import latent
from jaxgen.models import vae

vae_experiment = load_experiment("vae")  # the model, task, evaluation and entry point
make_model = vae_experiment.make_model

PRESETS = vae_experiment.STUDY_PRESETS


def get_config():
    c = vae_experiment.get_config()
    c.model.latent_dim = 2
    c.model.likelihood = "discretized_logistic"
    c.eval.pictures = (
        "scatter", "manifold", "interpolation", "arithmetic", "samples", "reconstructions",
    )  # fmt: skip
    c.eval.manifold_size = 15
    return c


def make_task(c):
    train.apply_preset(c, PRESETS, get_config())
    return vae_experiment.latent_task(c, vae, make_model(c))


evaluate = functools.partial(vae_experiment.evaluate_with, make_model, latent.conv_vae)


if __name__ == "__main__":
    from jaxgen.cli import experiment_main

    experiment_main(__file__, evaluate, sys.argv[1:])
