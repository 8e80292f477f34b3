"""Denoising autoencoder (Vincent et al. 2008): noisy or masked images in, clean ones out.

The conv autoencoder of `ae`, fed corrupted images (--config.loss.corruption=gaussian: noise
of std loss.noise_std on the [-1, 1] scale, or masking: each pixel set to 0 with probability
loss.mask_prob) and trained to reconstruct the clean ones (MSE).

The sample hook shows rows noisy / denoised / clean of test images (9 x 9 grid).

Presets (--config.preset=NAME; explicit --config overrides still win):
  quick  digits, Gaussian noise std 0.5 (on the [-1, 1] scale), 3,000 steps
  cpu    fashion_mnist, bottleneck 32, 12,000 steps (~50 ms of CPU time each: ~10 min)
  gpu    fashion_mnist, wider conv stack, 50,000 steps

Evaluation: python experiments/dae.py eval WORKDIR [--step N] [--config.eval.KEY=V]
writes WORKDIR/eval/step_N/: eval.json (test-set MSE per pixel on the [-1, 1] scale of:
denoised corrupted inputs against the clean ones (denoise_mse), the corrupted inputs
themselves (noisy_mse), reconstructions of clean inputs (recon_mse)), denoising.png (rows
noisy / denoised / clean) and reconstructions.png.
"""

import functools
import sys

import jax
import ml_collections
import optax

from jaxgen import data, train
from jaxgen.models import autoencoder, vae_eval

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
    c.loss = {"corruption": "gaussian", "noise_std": 0.5, "mask_prob": 0.5}
    c.train = {
        "steps": 3000,
        "learning_rate": 1e-3,
        "ema_decay": 0.999,
        "log_every": 50,
        "checkpoint_every": 1000,
        "sample_every": 500,
        "num_samples": 81,  # 9 x 9: three row triples noisy / denoised / clean
    }
    c.eval = {"seed": 0, "num_examples": 0, "batch_size": 250, "num_rows": 8}
    return c


def make_model(c):
    shape = data.dataset_spec(c.data.name).shape
    m = c.model
    return autoencoder.ConvAutoencoder(shape, m.bottleneck, tuple(m.widths), m.upsample)


def make_task(c):
    vae_eval.apply_preset(c, PRESETS, get_config())
    model = make_model(c)
    corrupt = autoencoder.make_corruption(**c.loss)
    reconstruct = functools.partial(autoencoder.reconstruct, model)
    hook = functools.cache(
        lambda: autoencoder.comparison_sample_fn(
            reconstruct,
            vae_eval.load_test_split(c.data.name, c.data.get("data_dir"))[0],
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
    return vae_eval.evaluate_reconstructions(
        functools.partial(autoencoder.reconstruct, make_model(c)),
        state.ema_params,
        vae_eval.eval_dir(workdir, state.step),
        dataset=c.data.name,
        data_dir=c.data.get("data_dir"),
        corrupt_fn=None if corruption == "none" else autoencoder.make_corruption(**c.loss),
        step=int(state.step),
        **c.eval,
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["eval"]:
        vae_eval.eval_main(evaluate, sys.argv[2:])
    else:
        from jaxgen.cli import main

        main(["train", __file__, *sys.argv[1:]])
