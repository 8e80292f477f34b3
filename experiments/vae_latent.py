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

from jaxgen import runs, train
from jaxgen.evaluation import latent
from jaxgen.tasks import vae  # the conv VAE, its task and evaluation

PRESETS = vae.STUDY_PRESETS
make_model = vae.make_model
make_task = vae.make_task
evaluate = functools.partial(vae.evaluate_with, make_model, latent.conv_vae)


def get_config(preset="quick"):
    c = vae.base_config()
    c.model.latent_dim = 2
    c.model.likelihood = "discretized_logistic"
    c.eval.pictures = (
        "scatter", "manifold", "interpolation", "arithmetic", "samples", "reconstructions",
    )  # fmt: skip
    c.eval.manifold_size = 15
    return train.with_preset(c, preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
