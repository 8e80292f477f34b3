"""DDPM (Ho et al. 2020): U-Net noise predictor trained with L_simple on `digits`; the sample
hook draws with EMA params by DDIM, 50 steps. --config.data.name=fashion_mnist for 28x28
(then e.g. --config.model.attention_resolutions="(14,)"), --config.sample.sampler=ddpm for
Algorithm 2 over all T = 1000 steps."""

import functools
import sys

import ml_collections
import optax

from jaxgen import data, train
from jaxgen.diffusion import make_schedule
from jaxgen.models import diffusion, unet


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "digits", "batch_size": 128}
    # T = 1000, linear beta_t from 1e-4 to 0.02 as in the paper; or "cosine".
    c.diffusion = {"schedule": "linear", "num_steps": 1000}
    c.model = {
        "width": 32,
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
    return c


def make_task(c):
    spec = data.dataset_spec(c.data.name)
    m = c.model
    model = unet.UNet(
        width=m.width,
        width_mults=m.width_mults,
        num_res_blocks=m.num_res_blocks,
        attention_resolutions=m.attention_resolutions,
        attention_heads=m.attention_heads,
        norm_groups=m.norm_groups,
        num_classes=spec.num_classes if m.class_conditional else None,
    )
    schedule = make_schedule(c.diffusion.schedule, c.diffusion.num_steps)
    s = c.sample
    reverse = diffusion.reverse_process(
        s.sampler, schedule, num_steps=s.num_steps, eta=s.eta, variance=s.variance
    )
    sample = diffusion.make_sampler(
        model, reverse, spec.shape, c.train.num_samples, guidance_w=s.guidance_w
    )
    lr, warmup = c.train.learning_rate, c.train.warmup_steps
    lr = optax.linear_schedule(0.0, lr, warmup) if warmup > 0 else lr  # linear warmup
    return train.Task(
        init=lambda key, x: (diffusion.init_params(model, key, x), {}),
        tx=optax.chain(optax.clip_by_global_norm(c.train.grad_clip), optax.adam(lr)),
        step=train.loss_step(
            functools.partial(diffusion.objective, model, schedule, p_uncond=c.loss.p_uncond)
        ),
        sample=lambda state, key: sample(state.ema_params, key),
    )


if __name__ == "__main__":
    from jaxgen.cli import main

    main(["train", __file__, *sys.argv[1:]])
