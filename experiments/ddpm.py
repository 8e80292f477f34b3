"""DDPM (Ho et al. 2020): U-Net noise predictor trained with L_simple on `digits`; the sample
hook draws with EMA params by DDIM, 50 steps. --config.sample.sampler=ddpm for Algorithm 2
over all T = 1000 steps.

Presets (--config.preset=NAME; explicit --config overrides still win). CPU seconds per step
were measured on a shared 2-core CPU:
  quick  digits, the U-Net at width 16 (0.25M parameters), batch 64, 2,000 steps (~4
         CPU-minutes with the 1,000-sample evaluation of `jaxgen bench --quality`)
  cpu    the defaults below: digits, the 0.57M-parameter U-Net (width 24, mults (1, 2), 2 res
         blocks, attention at 4x4), batch 128, 5,000 steps: 0.26-0.28 s per step alone on the
         idle 2-core CPU (a 300-step run), so ~23 min for the run; 24-28 min wall beside
         another job; its evaluation with 10,000 samples per DDIM row and
         --config.eval.ancestral_num_samples=1000 takes 27-29 min (26-31 CPU-minutes).
         Width 32 (1.0M parameters) took 27 min alone for FID 7.54 at DDIM 100 against
         width 24's 7.90 (3 seeds each). Not Fashion-MNIST: at 28x28
         even a 164k-parameter U-Net (width 16, 1 res block) costs ~0.56 CPU-s per step of
         batch 64, so 20 minutes buy ~3 epochs, and ancestral sampling of 1,000 images over
         T = 1000 steps alone takes ~40 CPU-minutes
  gpu    fashion_mnist, the paper's CIFAR-10 U-Net scaled to 28x28 (6.5M parameters): width
         64, mults (1, 2, 2), attention at 14x14, GroupNorm 32; Adam 2e-4 with 5,000 warm-up
         steps, EMA 0.9999, 100,000 steps; evaluation on 10,000 samples (the protocol)

Evaluation of a run (EMA weights, newest checkpoint unless --step):
  python experiments/ddpm.py eval WORKDIR [--step N] [--config.eval.num_samples=1000 ...]
writes WORKDIR/eval/step_N/: eval.json with the steps table (DDIM with each of
eval.ddim_steps steps and, with eval.ancestral, Algorithm 2 over all T steps; per row FID,
precision/recall and mode coverage with the dataset's classifier features on
eval.num_samples samples, the ancestral row on eval.ancestral_num_samples unless 0, and
sampling seconds per image of the compiled sampler) and the
training seconds per step (median over metrics.jsonl); the pictures of eval.pictures:
steps.png (a row per sampler, the same x_T per column), forward.png (test images x_0 and
x_t ~ q(x_t | x_0) at increasing t), trajectory.png (x_T, then x_t along one chain of the
run's sampler per row) and inpainting.png (masked / inpainted / original rows;
eval.inpaint_mask = right, bottom or center is the unknown region; RePaint with
eval.inpaint_resample = U passes per step).
"""

import functools
import sys

import jax
import jax.numpy as jnp
import ml_collections

from jaxgen import data, train
from jaxgen.diffusion import make_schedule
from jaxgen.evaluation import common
from jaxgen.evaluation import diffusion as diffusion_eval
from jaxgen.models import diffusion, unet

PRESETS = {
    "quick": {
        "data.batch_size": 64,
        "model.width": 16,
        "train.steps": 2000,
        "train.sample_every": 1000,
    },
    "cpu": {},
    "gpu": {
        "data.name": "fashion_mnist",
        "model.width": 64,
        "model.width_mults": (1, 2, 2),
        "model.attention_resolutions": (14,),
        "model.norm_groups": 32,
        "train.steps": 100000,
        "train.learning_rate": 2e-4,
        "train.warmup_steps": 5000,
        "train.ema_decay": 0.9999,
        "train.checkpoint_every": 10000,
        "train.sample_every": 10000,
        "eval.batch_size": 2000,
    },
}


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.preset = "cpu"
    c.data = {"name": "digits", "batch_size": 128}
    # T = 1000, linear beta_t from 1e-4 to 0.02 as in the paper; or "cosine".
    c.diffusion = {"schedule": "linear", "num_steps": 1000}
    c.model = {
        "width": 24,
        "width_mults": (1, 2),
        "num_res_blocks": 2,
        "attention_resolutions": (4,),  # feature-map heights; 8x8 digits -> 8, 4
        "attention_heads": 1,
        "norm_groups": 8,
        "class_conditional": False,
    }
    c.loss = {"p_uncond": 0.0}  # label dropout of class-conditional models
    # "ddim" (num_steps, eta) is cheap on a CPU; "ddpm" runs all T steps (variance:
    # "beta" or "posterior"). guidance_w: classifier-free guidance of conditional models.
    c.sample = {
        "sampler": "ddim",
        "num_steps": 50,
        "eta": 0.0,
        "variance": "beta",
        "guidance_w": 0.0,
    }
    # Paper: Adam 2e-4, 5000 warmup steps, clip 1, EMA 0.9999 over 800k steps.
    c.train = {
        "steps": 5000,
        "learning_rate": 1e-3,
        "warmup_steps": 200,
        "grad_clip": 1.0,
        "ema_decay": 0.999,
        "log_every": 50,
        "checkpoint_every": 1000,
        "sample_every": 1000,
        "num_samples": 64,
    }
    c.eval = {
        "seed": 0,
        "num_samples": 10000,  # per table row, as the protocol says; CPU runs pass fewer
        "ancestral_num_samples": 0,  # of the ancestral row (its T steps cost most); 0: as many
        "batch_size": 500,  # samples per call of the compiled sampler
        "ddim_steps": (10, 20, 50, 100),
        "ancestral": True,  # also Algorithm 2 over all T steps (the slowest row)
        "pictures": ("steps", "forward", "trajectory", "inpainting"),
        "num_rows": 8,  # test images (and chains) in the pictures
        "num_frames": 10,  # columns of the forward-process and trajectory pictures
        "inpaint_mask": "right",  # the unknown region: right, bottom or center
        "inpaint_resample": 10,  # RePaint's U: denoising passes per step (1: replacement)
    }
    return c


def make_model(c):
    spec = data.dataset_spec(c.data.name)
    m = c.model
    return unet.UNet(
        width=m.width,
        width_mults=m.width_mults,
        num_res_blocks=m.num_res_blocks,
        attention_resolutions=m.attention_resolutions,
        attention_heads=m.attention_heads,
        norm_groups=m.norm_groups,
        num_classes=spec.num_classes if m.class_conditional else None,
    )


def make_noise_schedule(c):
    return make_schedule(c.diffusion.schedule, c.diffusion.num_steps)


def diffusion_task(c, model, objective, sample_shape, decode=None):
    """A Task training `model` (initialized on zeros [B, *sample_shape]) by objective(params,
    model_state, batch, key, step): Adam with a linear warm-up over train.warmup_steps and
    global-norm clipping; the hook draws train.num_samples samples of `sample_shape` by
    c.sample's sampler with the EMA params, mapped to images by `decode` (see
    ``diffusion.make_sampler``)."""
    s = c.sample
    reverse = diffusion_eval.configured_reverse(s, make_noise_schedule(c))
    sample = diffusion.make_sampler(
        model, reverse, sample_shape, c.train.num_samples, guidance_w=s.guidance_w, decode=decode
    )
    init = jax.jit(lambda key, x: diffusion.init_params(model, key, x))
    return train.Task(
        init=lambda key, x: (init(key, jnp.zeros((len(x), *sample_shape))), {}),
        tx=train.adam(c.train.learning_rate, c.train.grad_clip, c.train.warmup_steps),
        step=train.loss_step(objective),
        sample=lambda state, key: sample(state.ema_params, key),
    )


def pixel_task(c, defaults):
    """The task of config `c` after its preset (relative to `defaults`, the experiment's
    get_config()): the U-Net trained by ``diffusion.objective`` on the images."""
    train.apply_preset(c, PRESETS, defaults)
    model = make_model(c)
    objective = functools.partial(
        diffusion.objective, model, make_noise_schedule(c), p_uncond=c.loss.p_uncond
    )
    return diffusion_task(c, model, objective, data.dataset_spec(c.data.name).shape)


def make_task(c):
    return pixel_task(c, get_config())


def evaluate(workdir, step=None, overrides=()):
    """Tables and pictures of a ddpm or ddpm_cond run WORKDIR -> WORKDIR/eval/step_N/."""
    from jaxgen.cli import restore_run

    c, _, state = restore_run(workdir, step, list(overrides))
    return diffusion_eval.evaluate_diffusion(
        make_model(c),
        make_noise_schedule(c),
        state.ema_params,
        common.eval_dir(workdir, state.step),
        dataset=c.data.name,
        image_shape=data.dataset_spec(c.data.name).shape,
        sample=c.sample,
        data_dir=c.data.get("data_dir"),
        step=int(state.step),
        train_seconds=diffusion_eval.train_seconds_per_step(workdir, c.data.batch_size),
        **c.eval,
    )


if __name__ == "__main__":
    from jaxgen.cli import experiment_main

    experiment_main(__file__, evaluate, sys.argv[1:])
