"""The benchmark's standard models: one per family, built from jaxgen's public model
functions exactly as the experiments build them, with the matching PyTorch reference.

    conv VAE  experiments/vae.py at 28x28: ConvVAE(latent 32, widths (32, 64), Bernoulli,
              transposed-conv decoder), Adam 1e-3; sampler: decoder means of z ~ N(0, I)
    DCGAN     experiments/dcgan.py at 28x28: Generator/Discriminator(widths (64, 128), batch
              norm), latent 32, minimax D / non-saturating G, k = 1, Adam 2e-4 (beta1 0.5)
    DDPM      experiments/ddpm.py at 28x28: UNet(width 32, mults (1, 2), 2 res blocks,
              attention at H/2 = 14, 8 groups), T = 1000 linear, Adam 1e-3 with warm-up and
              clipping at 1; samplers: ancestral over T = 1000 steps, DDIM 50 steps

`precision` 'bf16' computes every layer in bfloat16 (parameters cast inside the loss, so the
master weights, optimizer state and loss stay float32); flax's normalization layers keep
their statistics in float32.
"""

import dataclasses
import functools
from collections.abc import Callable

import jax
import optax

from jaxgen import train
from jaxgen.diffusion import make_schedule
from jaxgen.models import diffusion, gan, unet, vae
from jaxgen.train import gan as gan_train
from jaxgen.train.precision import PRECISIONS as COMPUTE_DTYPES
from jaxgen.train.precision import cast_floating, mixed_precision

PRECISIONS = tuple(COMPUTE_DTYPES)


def _precision_fn(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}.")
    return functools.partial(mixed_precision, compute_dtype=COMPUTE_DTYPES[precision])


@dataclasses.dataclass(frozen=True)
class JaxModel:
    """task: init/tx/step of `train.Task`; samplers: name -> jitted (params, model_state, key)
    -> images [n, H, W, C] for a fixed n."""

    task: train.Task
    samplers: dict


@dataclasses.dataclass(frozen=True)
class Case:
    """A standard model: `build_jax(image_shape, precision, sample_batch) -> JaxModel` and
    `build_torch(image_shape, precision, device) -> torch_ref.Reference`."""

    name: str
    description: str
    build_jax: Callable
    build_torch: Callable
    samplers: tuple


# --- conv VAE --------------------------------------------------------------------------------

VAE = {"latent_dim": 32, "widths": (32, 64), "likelihood": "bernoulli", "upsample": "transpose"}


def vae_jax(image_shape, precision, sample_batch):
    model = vae.ConvVAE(image_shape, **VAE)
    objective = _precision_fn(precision)(functools.partial(vae.objective, model))
    sample = jax.jit(lambda params, model_state, key: vae.sample(model, params, key, sample_batch))
    return JaxModel(
        train.Task(
            init=lambda key, x: (model.init(key, x, key)["params"], {}),
            tx=optax.adam(1e-3),
            step=train.loss_step(objective),
        ),
        {"prior": sample},
    )


def vae_torch(image_shape, precision, device):
    from jaxgen.bench import torch_ref

    return torch_ref.vae(image_shape, VAE["latent_dim"], VAE["widths"], 1e-3, precision, device)


# --- DCGAN -----------------------------------------------------------------------------------

DCGAN = {"latent_dim": 32, "widths": (64, 128)}


def dcgan_jax(image_shape, precision, sample_batch):
    model = gan_train.GAN(
        generator=gan.Generator(image_shape, DCGAN["widths"], "batch"),
        discriminator=gan.Discriminator(DCGAN["widths"], "batch"),
        latent_dim=DCGAN["latent_dim"],
    )
    cast = _precision_fn(precision)

    def objective(fn):  # the part's and the state's params both in the compute dtype
        def part_objective(p, state, batch, key):
            dtype = jax.tree.leaves(p)[0].dtype
            return fn(
                model, p, state.replace(params=cast_floating(state.params, dtype)), batch, key
            )

        return cast(part_objective)

    step = gan_train.gan_step(
        objective(gan_train.discriminator_objective),
        objective(gan_train.generator_objective),
        k=1,
    )
    sample = jax.jit(
        lambda params, model_state, key: gan_train.sample(
            model, params, model_state, key, sample_batch
        )
    )
    return JaxModel(
        train.Task(
            init=lambda key, x: gan_train.init(model, key, x),
            tx=gan_train.adam(2e-4, 2e-4, b1=0.5),
            step=step,
        ),
        {"prior": sample},
    )


def dcgan_torch(image_shape, precision, device):
    from jaxgen.bench import torch_ref

    return torch_ref.dcgan(
        image_shape, DCGAN["latent_dim"], DCGAN["widths"], 2e-4, precision, device
    )


# --- DDPM U-Net ------------------------------------------------------------------------------

UNET = {
    "width": 32,
    "width_mults": (1, 2),
    "num_res_blocks": 2,
    "attention_heads": 1,
    "norm_groups": 8,
}


def unet_kwargs(image_shape):
    """UNET with self-attention at half the image height (14 for 28x28, 4 for 8x8 digits), as
    experiments/ddpm.py advises."""
    return {**UNET, "attention_resolutions": ((image_shape[0] + 1) // 2,)}


DIFFUSION_STEPS, DDIM_STEPS = 1000, 50


def ddpm_jax(image_shape, precision, sample_batch):
    model = unet.UNet(**unet_kwargs(image_shape))
    schedule = make_schedule("linear", DIFFUSION_STEPS)
    objective = _precision_fn(precision)(functools.partial(diffusion.objective, model, schedule))
    lr = optax.linear_schedule(0.0, 1e-3, 200)
    samplers = {}
    for name, kind in ((f"ddpm_{DIFFUSION_STEPS}", "ddpm"), (f"ddim_{DDIM_STEPS}", "ddim")):
        reverse = diffusion.reverse_process(
            kind, schedule, num_steps=DDIM_STEPS, eta=0.0, variance="beta"
        )
        sample = diffusion.make_sampler(model, reverse, image_shape, sample_batch)
        samplers[name] = jax.jit(
            lambda params, model_state, key, sample=sample: sample(params, key)
        )
    return JaxModel(
        train.Task(
            init=lambda key, x: (diffusion.init_params(model, key, x), {}),
            tx=optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr)),
            step=train.loss_step(objective),
        ),
        samplers,
    )


def ddpm_torch(image_shape, precision, device):
    from jaxgen.bench import torch_ref

    return torch_ref.ddpm(
        image_shape,
        unet_kwargs(image_shape),
        DIFFUSION_STEPS,
        1e-3,
        1.0,
        precision,
        device,
        ddim_steps=DDIM_STEPS,
    )


CASES = {
    c.name: c
    for c in (
        Case("vae", "conv VAE (latent 32, widths 32-64)", vae_jax, vae_torch, ("prior",)),
        Case("dcgan", "DCGAN (widths 64-128, batch norm)", dcgan_jax, dcgan_torch, ("prior",)),
        Case(
            "ddpm",
            "DDPM U-Net (width 32, mults 1-2, attn H/2)",
            ddpm_jax,
            ddpm_torch,
            (f"ddpm_{DIFFUSION_STEPS}", f"ddim_{DDIM_STEPS}"),
        ),
    )
}


def get_case(name):
    if name not in CASES:
        raise ValueError(f"Unknown benchmark model {name!r}; use one of {', '.join(CASES)}.")
    return CASES[name]
