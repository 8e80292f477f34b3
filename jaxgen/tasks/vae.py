"""The VAE family's config and wiring (Kingma & Welling 2014), shared by the experiments
vae, beta_vae, vae_latent and hvae: the conv VAE, the task of a latent-variable model, and
the evaluation (test-set likelihood, reconstructions, latent pictures). Presets: quick
(digits, Bernoulli, 3,000 steps), cpu (fashion_mnist, discretized logistic, 12,000 steps),
gpu (wider, 50,000 steps); beta_vae and vae_latent take their data and schedule and keep
their own latent size, likelihood and KL weight. The experiments' docstrings say how to run
and evaluate them.
"""

import functools

import jax
import ml_collections
import optax

from jaxgen import data, runs, train
from jaxgen.evaluation import common, latent
from jaxgen.models import vae
from jaxgen.tasks import presets

PRESETS = presets.fashion_mnist(
    cpu={
        "model.likelihood": "discretized_logistic",
        "model.latent_dim": 32,
        "loss.warmup_steps": 1000,
        "eval.iwae_num_examples": 1000,
        "eval.num_fid_samples": 10000,
    },
    gpu={
        "model.likelihood": "discretized_logistic",
        "model.latent_dim": 32,
        "loss.warmup_steps": 5000,
        "eval.iwae_batch_size": 100,
        "eval.num_fid_samples": 10000,
    },
)


# Presets of the experiments that study one setting of this VAE (beta_vae, vae_latent): the
# data and schedule of PRESETS; their latent size, likelihood and KL weight stay their own.
STUDY_PRESETS = presets.fashion_mnist(
    cpu={"eval.iwae_num_examples": 1000}, gpu={"eval.iwae_batch_size": 100}
)


def base_config():
    """The conv VAE config (the quick preset) shared by vae, beta_vae, vae_latent and hvae."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.preset = "quick"
    c.data = {"name": "digits", "batch_size": 64}
    c.model = {
        "latent_dim": 16,
        "widths": (32, 64),
        "likelihood": "bernoulli",
        "upsample": "transpose",
    }
    c.loss = {"beta": 1.0, "warmup_steps": 0}
    c.train = train.train_config(steps=3000, learning_rate=1e-3)
    c.eval = train.eval_config(
        iwae_k=1000,  # importance samples of the IWAE NLL estimate
        iwae_chunk=100,  # samples decoded at once (memory)
        iwae_batch_size=10,  # test images per IWAE batch
        iwae_num_examples=0,  # first N test images for IWAE (0: all)
        num_fid_samples=0,
        pictures=("samples", "reconstructions", "interpolation", "arithmetic"),
        num_rows=8,
        num_steps=8,
        arithmetic_classes=(9, 7),  # A, B: digits 9 - 7; fashion_mnist ankle boot - sneaker
    )
    return c


def make_model(c):
    """The conv VAE of config c."""
    shape = data.dataset_spec(c.data.name).shape
    m = c.model
    return vae.ConvVAE(shape, m.latent_dim, tuple(m.widths), m.likelihood, m.upsample)


def latent_task(c, lib, model):
    """The task of a latent-variable model of `lib` (`vae` or `hvae`): Adam on lib.objective
    (-ELBO, loss options c.loss); samples from the prior with the EMA weights."""
    sample = jax.jit(functools.partial(lib.sample, model), static_argnums=2)
    return train.Task(
        init=lambda key, x: (model.init(key, x, key)["params"], {}),
        tx=optax.adam(c.train.learning_rate),
        step=train.loss_step(functools.partial(lib.objective, model, **c.loss)),
        sample=lambda state, key: sample(state.ema_params, key, c.train.num_samples),
    )


def make_task(c):
    """The conv VAE's task of config c."""
    return latent_task(c, vae, make_model(c))


def evaluate_with(make_model, wrap, workdir, step=None, overrides=()):
    """Test-set numbers and pictures of run WORKDIR -> WORKDIR/eval/step_N/ for the model
    make_model(config) seen through `wrap` (latent.conv_vae or hierarchical_vae)."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    trained = latent.TrainedLatent(
        wrap(make_model(c)),
        state.ema_params,
        c.data.name,
        data_dir=c.data.get("data_dir"),
        num_examples=c.eval.num_examples,
        batch_size=c.eval.batch_size,
        seed=c.eval.seed,
    )
    return latent.evaluate(
        trained, c.eval, common.eval_dir(workdir, state.step), step=int(state.step)
    )


evaluate = functools.partial(evaluate_with, make_model, latent.conv_vae)
