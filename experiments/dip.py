"""Deep image prior (Ulyanov et al. 2018): denoising, inpainting, 4x super-resolution.

The "skip" encoder-decoder fitted to one degraded photograph from scikit-image (offline)
from a fixed random code, minimising ||A(f(z)) - y||^2 for the degradation A; the PSNR
against the clean image is logged every train.log_every steps (metrics.jsonl,
plots/psnr.png) to show where early stopping helps.

  --config.task=denoising         Gaussian noise, sigma 25/255 of the [0, 1] range
  --config.task=inpainting        50% of the pixels dropped at random
  --config.task=super_resolution  4x Lanczos downsampling
  --config.data.image=NAME        astronaut (default), camera, ... (jaxgen.data.photos)

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  64x64, widths 64, 1,200 steps (the default)
  cpu    128x128, the paper's widths 128, 2,400 steps
  gpu    512x512, widths 128, 3,000 steps

Run (the same as `jaxgen train dip`; the run directory defaults to runs/dip):
  python experiments/dip.py [--workdir DIR] [--config.preset=P] [--config.task=T ...]
Evaluate (the newest checkpoint unless --step):
  python experiments/dip.py eval DIR [--step N]
writes DIR/eval/step_N/: eval.json (PSNR at the best logged step and at the end, the
classical baseline's PSNR: an oracle-tuned Gaussian filter, biharmonic inpainting or
bicubic upsampling), comparison.png (observation, baseline, deep image prior, clean) and
psnr.png (PSNR against step with the baseline).
"""

import functools

import jax
import ml_collections
import optax

from jaxgen import data, runs, train
from jaxgen.data import photos
from jaxgen.evaluation import common
from jaxgen.evaluation import dip as dip_eval
from jaxgen.models import dip

# What the sample hook shows instead of samples of a model: `jaxgen eval` refuses the run.
SAMPLE_HOOK_SHOWS = "the restored image"
PRESETS = {
    "quick": {},
    "cpu": {
        "data.size": 128,
        "model.widths_down": (128,) * 5,
        "model.widths_up": (128,) * 5,
        "train.steps": 2400,
        "train.log_every": 20,
    },
    "gpu": {
        "data.size": 512,
        "model.widths_down": (128,) * 5,
        "model.widths_up": (128,) * 5,
        "train.steps": 3000,
        "train.log_every": 20,
    },
}


def get_config(preset="quick"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.task = "denoising"
    c.data = {"image": "astronaut", "size": 64}
    # The degradation, drawn with its own seed: every training seed sees the same y.
    c.problem = {"seed": 0, "sigma": 2 * 25 / 255, "drop_prob": 0.5, "factor": 4}
    c.model = {
        "widths_down": (64,) * 5,
        "widths_up": (64,) * 5,
        "widths_skip": (4,) * 5,
        "input_channels": 32,
        "input_scale": 0.1,
        "input_noise_std": 1 / 30,
    }
    c.train = {
        "steps": 1200,
        "learning_rate": 0.01,
        "ema_decay": 0.0,  # the result is f(z) with the current weights
        "log_every": 10,
        "checkpoint_every": 600,
        "sample_every": 300,
        "grad_accum_steps": 1,
        "precision": "fp32",
    }
    return train.with_preset(c, preset, PRESETS)


def make_parts(c):
    """(model, problem, clean image uint8 [1, H, W, C]) of config `c`."""
    image = photos.photo(c.data.image, c.data.size)[None]
    p = c.problem
    problem = dip.make_problem(
        c.task,
        image.shape[1:],
        jax.random.PRNGKey(p.seed),
        sigma=p.sigma,
        drop_prob=p.drop_prob,
        factor=p.factor,
    )
    m = c.model
    model = dip.SkipNet(image.shape[-1], m.widths_down, m.widths_up, m.widths_skip)
    return model, problem, image


def make_task(c):
    model, problem, image = make_parts(c)
    m = c.model
    init = functools.partial(
        dip.init, model, input_channels=m.input_channels, input_scale=m.input_scale
    )
    return train.Task(
        init=init,
        tx=optax.adam(c.train.learning_rate),
        step=train.loss_step(functools.partial(dip.objective, model, problem, m.input_noise_std)),
        sample=dip.sample_hook(model, problem, data.to_float(image)),
        images=image,
    )


def evaluate(workdir, step=None, overrides=()):
    """PSNR (best, final, baseline) and pictures of run WORKDIR -> WORKDIR/eval/step_N/."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    model, problem, image = make_parts(c)
    return dip_eval.evaluate(
        model,
        problem,
        state.params,
        state.model_state,
        data.to_float(image),
        workdir,
        common.eval_dir(workdir, state.step),
        step=int(state.step),
    )


if __name__ == "__main__":
    runs.script_main()
