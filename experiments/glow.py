"""Glow (Kingma & Dhariwal 2018), multi-scale flow on dequantized 8-bit images, on `digits`.

ActNorm, invertible 1x1 convolutions and affine coupling per step, squeeze and factor-out
between levels, trained on the exact negative log-likelihood of uniformly dequantized
images. --config.model.coupling_mask=checkerboard for RealNVP's spatial masks (Dinh et al.
2017) instead of Glow's channel halves; samples are drawn at --config.sample.temperature.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits, 2 levels x 4 steps, 64 hidden channels, batch 64, 4,000 steps (the default)
  cpu    fashion_mnist, 2 levels x 4 steps, 64 hidden channels, batch 32, 12,000 steps
  gpu    fashion_mnist, 2 levels x 16 steps, 256 hidden channels, batch 128, 50,000 steps

Run (the same as `jaxgen train glow`; the run directory defaults to runs/glow):
  python experiments/glow.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/glow.py eval DIR [--step N] [--config.eval.temperatures="(0.5,1.0)"]
writes DIR/eval/step_N/: eval.json (test-set NLL of the uniformly dequantized images, one
noise draw per image, in nats and bits/dim: an upper bound on the NLL of the uint8 pixels;
`digits` has 17 distinct levels, 0..16 stored as round(v 255 / 16), and is dequantized over
those; the sampling time), samples.png (at sample.temperature), temperatures.png (one row per
eval.temperatures) and interpolation.png (linear in eps between test images).
"""

import functools

import jax
import ml_collections
import numpy as np

from jaxgen import data, runs, train
from jaxgen.evaluation import common, likelihood
from jaxgen.models import flows

PRESETS = {
    "quick": {},
    "cpu": {
        "data.name": "fashion_mnist",
        "data.batch_size": 32,
        "train.steps": 12000,
        "train.checkpoint_every": 2000,
        "train.sample_every": 4000,
    },
    "gpu": {
        "data.name": "fashion_mnist",
        "data.batch_size": 128,
        "model.steps_per_level": 16,
        "model.hidden": 256,
        "train.steps": 50000,
        "train.checkpoint_every": 5000,
        "train.sample_every": 5000,
    },
}


def get_config(preset="quick"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "digits", "batch_size": 64}
    c.model = {
        "levels": 2,
        "steps_per_level": 4,
        "hidden": 64,
        "coupling_mask": "channel",  # Glow; or "checkerboard" (RealNVP)
    }
    c.sample = {"temperature": 0.7}
    c.train = train.train_config(
        steps=4000,
        learning_rate=1e-3,
        warmup_steps=200,
        grad_clip=50.0,
        checkpoint_every=2000,
        sample_every=2000,
    )
    c.eval = train.eval_config(
        num_samples=64,
        temperatures=(0.0, 0.5, 0.7, 0.85, 1.0),
        num_interpolations=6,  # rows of interpolation.png
        num_steps=8,  # points per interpolation row
    )
    return train.with_preset(c, preset, PRESETS)


def make_model(c):
    m = c.model
    return flows.Glow(
        data.dataset_spec(c.data.name).shape,
        levels=m.levels,
        steps_per_level=m.steps_per_level,
        hidden=m.hidden,
        coupling_mask=m.coupling_mask,
    )


def init_batch(c, n):
    """The first n training images (float32 in [-1, 1]): ActNorm's data-dependent init."""
    images, _ = data.load_split(c.data.name, "train", c.data.get("data_dir"))
    return data.to_float(images[:n])


def make_task(c):
    model = make_model(c)
    flows.latent_shapes(model.image_shape, model.levels)  # bad sizes fail before training
    pixel_levels = data.dataset_spec(c.data.name).levels
    sample = jax.jit(functools.partial(flows.sample, model), static_argnums=2)
    init = functools.partial(flows.init_params, model)
    return train.Task(
        init=lambda key, x: (init(key, init_batch(c, x.shape[0])), {}),
        tx=train.adam(c.train.learning_rate, c.train.grad_clip, c.train.warmup_steps),
        step=train.loss_step(functools.partial(flows.objective, model, num_levels=pixel_levels)),
        sample=lambda state, key: sample(
            state.ema_params, key, c.train.num_samples, c.sample.temperature
        ),
    )


def evaluate(workdir, step=None, overrides=()):
    """Test-set bits/dim, sampling time and pictures of run WORKDIR -> WORKDIR/eval/step_N/."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    model, params, e = make_model(c), state.ema_params, c.eval
    pixel_levels = data.dataset_spec(c.data.name).levels
    sample = jax.jit(functools.partial(flows.sample, model), static_argnums=2)
    images, _ = common.load_test_split(c.data.name, c.data.get("data_dir"), e.num_examples)
    num_cols = e.num_steps + 2

    def temperature_rows(key):
        rows = [sample(params, key, num_cols, t) for t in e.temperatures]
        return np.concatenate(rows), num_cols

    def interpolation(key):
        pairs = np.random.default_rng(e.seed).choice(len(images), (e.num_interpolations, 2))
        x_a, x_b = images[pairs[:, 0]], images[pairs[:, 1]]
        interpolate = jax.jit(functools.partial(flows.interpolate, model), static_argnums=3)
        return interpolate(params, x_a, x_b, e.num_steps), num_cols

    return likelihood.evaluate_likelihood_model(
        lambda x, y, key: flows.dequantized_log_likelihood(model, params, x, key, pixel_levels),
        lambda key: sample(params, key, e.num_samples, c.sample.temperature),
        params,
        common.eval_dir(workdir, state.step),
        dataset=c.data.name,
        data_scale=(pixel_levels - 1) / 2,  # SCALE_MINUS1_1 for 8-bit data
        discretization=(
            f"uniform dequantization over each of the dataset's {pixel_levels} pixel levels, one "
            "draw per image: an upper bound on the NLL of the uint8 pixels"
        ),
        data_dir=c.data.get("data_dir"),
        seed=e.seed,
        num_examples=e.num_examples,
        batch_size=e.batch_size,
        pictures={"temperatures": temperature_rows, "interpolation": interpolation},
        step=int(state.step),
    )


if __name__ == "__main__":
    runs.script_main()
