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
  cpu    fashion_mnist, 12,000 steps (~10 min of CPU time) + IWAE on 1,000 test images
  gpu    fashion_mnist, wider conv stack, 50,000 steps

Evaluation: python experiments/beta_vae.py eval WORKDIR [--step N] [--config.eval.KEY=V]
writes WORKDIR/eval/step_N/: eval.json (-ELBO, IWAE NLL in nats and bits/dim, recon MSE,
per-dimension KL and the number of active dimensions, KL > 0.01 nats), samples.png,
reconstructions.png, traversal.png: row i varies the i-th most informative latent dimension
(largest mean KL) of the first test image's posterior mean over
[-traversal_range, traversal_range], the others fixed.
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
        "latent_dim": 10,
        "widths": (32, 64),
        "likelihood": "discretized_logistic",
        "upsample": "transpose",
    }
    c.loss = {"beta": 4.0, "warmup_steps": 0}  # warmup_steps > 0: beta linear from 0
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
        "pictures": ("samples", "reconstructions", "traversal"),
        "num_rows": 8,
        "num_steps": 9,
        "traversal_range": 3.0,
        "traversal_dims": 10,
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
