"""VAE latent space: class scatter and decoded manifold of a 2-D latent (also try 5, 20).

The conv VAE of `vae` (jaxgen.tasks.vae) with a discretized logistic decoder, whose
test-set posterior means are plotted coloured by class and whose decoded latent manifold is
drawn; run with --config.model.latent_dim=2 (the default), 5 and 20. With a 2-D latent the
scatter shows the means themselves and the manifold grid decodes the N(0, I) quantile grid
(Kingma & Welling 2014, Fig. 4); for larger latents both use the plane of the means' first
two principal components. Small latents give the most readable maps but blurry
reconstructions and a worse ELBO; 20 dimensions reconstruct better while the 2-D
projection mixes the classes more.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits, 3,000 steps (the default)
  cpu    fashion_mnist, 12,000 steps; IWAE on the first 1,000 test images
  gpu    fashion_mnist, wider conv stack, batch 128, 50,000 steps

Run (the same as `jaxgen train vae_latent`; the run directory defaults to runs/vae_latent):
  python experiments/vae_latent.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/vae_latent.py eval DIR [--step N] [--config.eval.KEY=VALUE ...]
writes DIR/eval/step_N/: eval.json (-ELBO, IWAE NLL in nats and bits/dim, recon MSE,
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
