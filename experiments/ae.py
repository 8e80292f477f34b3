"""Convolutional autoencoder with a dense bottleneck, trained on the reconstruction MSE.

Encoder (Conv 3x3 stride 2, ReLU) per width, a Dense to --config.model.bottleneck units;
decoder Dense, (ConvTranspose 3x3 stride 2, ReLU) per width in reverse, or nearest x2 + Conv
with --config.model.upsample=resize.

The sample hook shows rows of test images and their reconstructions (an autoencoder has no
prior to sample from).

Presets (--config.preset=NAME; explicit --config overrides still win):
  quick  digits, 3,000 steps
  cpu    fashion_mnist, bottleneck 32, 12,000 steps (6 min on 2 cores beside two other runs)
  gpu    fashion_mnist, wider conv stack, 50,000 steps

Evaluation: python experiments/ae.py eval WORKDIR [--step N] [--config.eval.KEY=V]
writes WORKDIR/eval/step_N/: eval.json (test-set reconstruction MSE per pixel on the
[-1, 1] scale) and reconstructions.png.
"""

import functools
import sys

import jax
import ml_collections
import optax

from jaxgen import data, train
from jaxgen.evaluation import common, latent
from jaxgen.models import autoencoder

PRESETS = {
    "quick": {},
    "cpu": {
        "data.name": "fashion_mnist",
        "model.bottleneck": 32,
        "train.steps": 12000,
        "train.checkpoint_every": 4000,
        "train.sample_every": 4000,
    },
    "gpu": {
        "data.name": "fashion_mnist",
        "data.batch_size": 128,
        "model.bottleneck": 32,
        "model.widths": (64, 128),
        "train.steps": 50000,
        "train.checkpoint_every": 5000,
        "train.sample_every": 5000,
    },
}


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.preset = "quick"
    c.data = {"name": "digits", "batch_size": 64}
    c.model = {"bottleneck": 16, "widths": (32, 64), "upsample": "transpose"}
    c.loss = {"corruption": "none", "noise_std": 0.5, "mask_prob": 0.5}
    c.train = {
        "steps": 3000,
        "learning_rate": 1e-3,
        "ema_decay": 0.999,
        "log_every": 50,
        "checkpoint_every": 1000,
        "sample_every": 500,
        "num_samples": 64,
    }
    c.eval = {"seed": 0, "num_examples": 0, "batch_size": 250, "num_rows": 8}
    return c


def make_model(c):
    shape = data.dataset_spec(c.data.name).shape
    m = c.model
    return autoencoder.ConvAutoencoder(shape, m.bottleneck, tuple(m.widths), m.upsample)


def make_task(c):
    train.apply_preset(c, PRESETS, get_config())
    model = make_model(c)
    corrupt = autoencoder.make_corruption(**c.loss)
    reconstruct = functools.partial(autoencoder.reconstruct, model)
    hook = functools.cache(
        lambda: autoencoder.comparison_sample_fn(
            reconstruct,
            common.load_test_split(c.data.name, c.data.get("data_dir"))[0],
            c.train.num_samples,
            None if c.loss.corruption == "none" else corrupt,
        )
    )
    return train.Task(
        init=jax.jit(lambda key, x: (model.init(key, x)["params"], {})),
        tx=optax.adam(c.train.learning_rate),
        step=train.loss_step(functools.partial(autoencoder.objective, model, corrupt_fn=corrupt)),
        sample=lambda state, key: hook()(state.ema_params, key),
    )


def evaluate(workdir, step=None, overrides=()):
    """Test-set numbers and pictures of run WORKDIR -> WORKDIR/eval/step_N/ (module doc)."""
    from jaxgen.cli import restore_run

    c, _, state = restore_run(workdir, step, list(overrides))
    corruption = c.loss.corruption
    return latent.evaluate_reconstructions(
        functools.partial(autoencoder.reconstruct, make_model(c)),
        state.ema_params,
        common.eval_dir(workdir, state.step),
        dataset=c.data.name,
        data_dir=c.data.get("data_dir"),
        corrupt_fn=None if corruption == "none" else autoencoder.make_corruption(**c.loss),
        step=int(state.step),
        **c.eval,
    )


if __name__ == "__main__":
    from jaxgen.cli import experiment_main

    experiment_main(__file__, evaluate, sys.argv[1:])
