"""The DDPM family's config and wiring (Ho et al. 2020), shared by the experiments ddpm,
ddpm_cond (classifier-free guidance) and latent_diffusion: the U-Net, the noise schedule,
the training task with its sample hook, the evaluation (steps table and pictures) and the
presets quick (digits, U-Net width 16, 2,000 steps), digits (width 24, 5,000 steps), cpu
(Fashion-MNIST 28x28, width 16, 6,000 steps) and gpu (fashion_mnist, the 6.5M-parameter
U-Net, 100,000 steps). The experiments'
docstrings say how to run and evaluate them.
"""

import functools

import jax.numpy as jnp
import ml_collections

from jaxgen import data, runs, train
from jaxgen.diffusion import make_schedule
from jaxgen.evaluation import common
from jaxgen.evaluation import diffusion as diffusion_eval
from jaxgen.models import diffusion, dit, unet

# The paper's training schedule (Ho et al. 2020: Adam 2e-4, 5,000 warm-up steps, EMA 0.9999),
# shortened to 100,000 steps: the gpu presets of ddpm and latent_diffusion.
PAPER_SCHEDULE = {
    "train.steps": 100000,
    "train.learning_rate": 2e-4,
    "train.warmup_steps": 5000,
    "train.ema_decay": 0.9999,
    "train.checkpoint_every": 10000,
    "train.sample_every": 10000,
    "eval.batch_size": 2000,
}

PRESETS = {
    "quick": {
        "data.batch_size": 64,
        "model.width": 16,
        "train.steps": 2000,
        "train.sample_every": 1000,
    },
    "digits": {},
    # Fashion-MNIST 28x28 on a 2-core CPU: a 0.16M-parameter U-Net (one res block per
    # level, no attention), the reference for latent diffusion; the steps table also
    # gets DPM-Solver++(2M) rows.
    "cpu": {
        "data.name": "fashion_mnist",
        "data.batch_size": 64,
        "model.width": 16,
        "model.num_res_blocks": 1,
        "model.attention_resolutions": (),
        "train.steps": 6000,
        "train.checkpoint_every": 2000,
        "train.sample_every": 2000,
        "eval.dpm_steps": (10, 20, 50, 100),
    },
    # A DiT of about the U-Net's parameters (0.18M: width 48, 4 blocks, 2x2 patches), for
    # DiT against U-Net at matched parameters; 2,000 steps: on a CPU a DiT step costs about
    # three of the U-Net's (196 tokens; median 1.43 against 0.46 s per step, both runs
    # under load), so this is the cpu time budget, not the U-Net's steps.
    "dit_cpu": {
        "data.name": "fashion_mnist",
        "data.batch_size": 64,
        "model.arch": "dit",
        "model.width": 48,
        "train.steps": 2000,
        "train.checkpoint_every": 2000,
        "train.sample_every": 2000,
        "eval.dpm_steps": (10, 20, 50, 100),
    },
    "gpu": {
        "data.name": "fashion_mnist",
        "model.width": 64,
        "model.width_mults": (1, 2, 2),
        "model.attention_resolutions": (14,),
        "model.norm_groups": 32,
        **PAPER_SCHEDULE,
    },
}


def base_config():
    """The DDPM config (the cpu preset) shared by ddpm, ddpm_cond and latent_diffusion."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.preset = "digits"
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
        # "dit": a transformer (Peebles & Xie 2023) of width `width` in place of the U-Net
        "arch": "unet",
        "dit": {"patch_size": 2, "depth": 4, "num_heads": 4},
    }
    c.loss = {"p_uncond": 0.0}  # label dropout of class-conditional models
    # "ddim" (num_steps, eta) is cheap on a CPU; "dpm++2m" (DPM-Solver++(2M), num_steps) is
    # deterministic and second order; "ddpm" runs all T steps (variance: "beta" or
    # "posterior"). guidance_w: classifier-free guidance of conditional models. threshold:
    # "none", "static" or "dynamic" (Imagen's) on each step's prediction of x_0.
    c.sample = {
        "sampler": "ddim",
        "num_steps": 50,
        "eta": 0.0,
        "variance": "beta",
        "guidance_w": 0.0,
        "threshold": "none",
    }
    # Paper: Adam 2e-4, 5000 warmup steps, clip 1, EMA 0.9999 over 800k steps.
    c.train = train.train_config(
        steps=5000, learning_rate=1e-3, warmup_steps=200, grad_clip=1.0, sample_every=1000
    )
    c.eval = {
        "seed": 0,
        "num_samples": 10000,  # per table row, as the protocol says; CPU runs pass fewer
        "ancestral_num_samples": 0,  # of the ancestral row (its T steps cost most); 0: as many
        "batch_size": 500,  # samples per call of the compiled sampler
        "ddim_steps": (10, 20, 50, 100),
        "dpm_steps": (),  # DPM-Solver++(2M) rows "dpm++2m", e.g. (10, 20, 50, 100)
        "ancestral": True,  # also Algorithm 2 over all T steps (the slowest row)
        "pictures": ("steps", "forward", "trajectory", "inpainting"),
        "num_rows": 8,  # test images (and chains) in the pictures
        "num_frames": 10,  # columns of the forward-process and trajectory pictures
        "inpaint_mask": "right",  # the unknown region: right, bottom or center
        "inpaint_resample": 10,  # RePaint's U: denoising passes per step (1: replacement)
        "sdedit_strengths": (0.25, 0.5, 0.75, 1.0),  # picture 'sdedit': SDEdit's table
        "sdedit_num_examples": 1000,
        "bpd_num_examples": 1000,  # picture 'bpd': the variational bound, T passes per image
    }
    return c


def make_model(c):
    """The noise predictor eps_theta(x_t, t[, y]) of config c: the U-Net, or with
    model.arch = "dit" a DiT of width model.width with model.dit's patch size, depth and
    heads. (Configs written before DiT existed have no model.arch: the U-Net.)"""
    spec = data.dataset_spec(c.data.name)
    m = c.model
    num_classes = spec.num_classes if m.class_conditional else None
    arch = m.get("arch", "unet")
    if arch == "dit":
        return dit.DiT(width=m.width, num_classes=num_classes, **m.dit)
    if arch != "unet":
        raise ValueError(f"model.arch={arch!r}: choose unet or dit.")
    return unet.from_config(m, num_classes=num_classes)


def make_noise_schedule(c):
    """beta_t, alpha_bar_t of c.diffusion."""
    return make_schedule(c.diffusion.schedule, c.diffusion.num_steps)


def diffusion_task(c, model, objective, sample_shape, decode=None):
    """A Task training `model` (initialized on zeros [B, *sample_shape]) by objective(params,
    model_state, batch, key, step): Adam with a linear warm-up over train.warmup_steps and
    global-norm clipping; the hook draws train.num_samples samples of `sample_shape` by
    c.sample's sampler with the EMA params, mapped to images by `decode` (see
    ``diffusion.make_sampler``)."""
    s = c.sample
    reverse = diffusion.configured_reverse(s, make_noise_schedule(c))
    sample = diffusion.make_sampler(
        model, reverse, sample_shape, c.train.num_samples, guidance_w=s.guidance_w, decode=decode
    )
    init = functools.partial(diffusion.init_params, model)
    return train.Task(
        init=lambda key, x: (init(key, jnp.zeros((len(x), *sample_shape))), {}),
        tx=train.adam(c.train.learning_rate, c.train.grad_clip, c.train.warmup_steps),
        step=train.loss_step(objective),
        sample=lambda state, key: sample(state.ema_params, key),
    )


def pixel_task(c):
    """The task of config `c`: the U-Net trained by ``diffusion.objective`` on the images."""
    model = make_model(c)
    objective = functools.partial(
        diffusion.objective, model, make_noise_schedule(c), p_uncond=c.loss.p_uncond
    )
    return diffusion_task(c, model, objective, data.dataset_spec(c.data.name).shape)


def evaluate(workdir, step=None, overrides=()):
    """Tables and pictures of a ddpm or ddpm_cond run WORKDIR -> WORKDIR/eval/step_N/."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    trained = diffusion_eval.TrainedDiffusion(
        make_model(c),
        make_noise_schedule(c),
        state.ema_params,
        data.dataset_spec(c.data.name).shape,
        c.sample,
        c.data.name,
        data_dir=c.data.get("data_dir"),
        seed=c.eval.seed,
    )
    return diffusion_eval.evaluate(
        trained,
        c.eval,
        common.eval_dir(workdir, state.step),
        step=int(state.step),
        train_seconds=diffusion_eval.train_seconds_per_step(workdir, c.data.batch_size),
    )
