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
  cpu    fashion_mnist, 12,000 steps (~12 min of CPU time) + IWAE on 1,000 test images
  gpu    fashion_mnist, wider conv stack, 50,000 steps

Evaluation: python experiments/vae_latent.py eval WORKDIR [--step N] [--config.eval.KEY=V]
writes WORKDIR/eval/step_N/: eval.json (-ELBO, IWAE NLL in nats and bits/dim, recon MSE,
per-dimension KL), scatter.png, manifold.png, interpolation.png, arithmetic.png
(z(x) + alpha (mean(class A) - mean(class B))), samples.png, reconstructions.png.
"""

import functools
import sys

import jax
import ml_collections
import optax

from jaxgen import data, train
from jaxgen.models import vae, vae_eval

PRESETS = {
    "quick": {},
    "cpu": {
        "data.name": "fashion_mnist",
        "train.steps": 12000,
        "train.checkpoint_every": 4000,
        "train.sample_every": 4000,
        "eval.iwae_num_examples": 1000,
    },
    "gpu": {
        "data.name": "fashion_mnist",
        "data.batch_size": 128,
        "model.widths": (64, 128),
        "train.steps": 50000,
        "train.checkpoint_every": 5000,
        "train.sample_every": 5000,
        "eval.iwae_batch_size": 100,
    },
}


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.preset = "quick"
    c.data = {"name": "digits", "batch_size": 64}
    c.model = {
        "latent_dim": 2,
        "widths": (32, 64),
        "likelihood": "discretized_logistic",
        "upsample": "transpose",
    }
    c.loss = {"beta": 1.0, "warmup_steps": 0}
    c.train = {
        "steps": 3000,
        "learning_rate": 1e-3,
        "ema_decay": 0.999,
        "log_every": 50,
        "checkpoint_every": 1000,
        "sample_every": 500,
        "num_samples": 64,
    }
    c.eval = {
        "seed": 0,
        "num_examples": 0,
        "batch_size": 250,
        "iwae_k": 1000,
        "iwae_chunk": 100,
        "iwae_batch_size": 10,
        "iwae_num_examples": 0,
        "num_fid_samples": 0,
        "pictures": (
            "scatter",
            "manifold",
            "interpolation",
            "arithmetic",
            "samples",
            "reconstructions",
        ),
        "num_rows": 8,
        "num_steps": 8,
        "arithmetic_classes": (9, 7),
        "manifold_size": 15,
    }
    return c


def make_model(c):
    shape = data.dataset_spec(c.data.name).shape
    m = c.model
    return vae.ConvVAE(shape, m.latent_dim, tuple(m.widths), m.likelihood, m.upsample)


def make_task(c):
    vae_eval.apply_preset(c, PRESETS, get_config())
    model = make_model(c)
    sample = jax.jit(functools.partial(vae.sample, model), static_argnums=2)
    return train.Task(
        init=jax.jit(lambda key, x: (model.init(key, x, key)["params"], {})),
        tx=optax.adam(c.train.learning_rate),
        step=train.loss_step(functools.partial(vae.objective, model, **c.loss)),
        sample=lambda state, key: sample(state.ema_params, key, c.train.num_samples),
    )


def evaluate(workdir, step=None, overrides=()):
    """Test-set numbers and pictures of run WORKDIR -> WORKDIR/eval/step_N/ (module doc)."""
    from jaxgen.cli import restore_run

    c, _, state = restore_run(workdir, step, list(overrides))
    return vae_eval.evaluate_latent_model(
        vae_eval.conv_vae(make_model(c)),
        state.ema_params,
        vae_eval.eval_dir(workdir, state.step),
        dataset=c.data.name,
        data_dir=c.data.get("data_dir"),
        step=int(state.step),
        **c.eval,
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["eval"]:
        vae_eval.eval_main(evaluate, sys.argv[2:])
    else:
        from jaxgen.cli import main

        main(["train", __file__, *sys.argv[1:]])
