"""DDPM family wiring for a ``UNet`` noise predictor: parameter init, the training objective
(Ho et al. 2020, Algorithm 1; label dropout for classifier-free guidance) and the jitted
sampling function the experiments' sample hooks call with EMA parameters."""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxgen import losses
from jaxgen.diffusion import ddim_sample, ddpm_sample, guided_eps_fn
from jaxgen.models.unet import UNet


def init_params(model: UNet, key: jax.Array, images: jax.Array):
    """The U-Net's parameters for images [B, H, W, C] (labels too if class-conditional)."""
    t = jnp.zeros(images.shape[:1], jnp.int32)
    y = None if model.num_classes is None else t
    return model.init(key, images, t, y)["params"]


def eps_fn_y(model: UNet, params) -> Callable:
    """(x_t [B, H, W, C], t [B], y [B] | None) -> eps_pred: the network with `params`."""
    return lambda x_t, t, y=None: model.apply({"params": params}, x_t, t, y)


def drop_labels(key: jax.Array, y: jax.Array, p_uncond: float, null_label: int) -> jax.Array:
    """y with each label replaced by `null_label` with probability p_uncond (Ho & Salimans
    2021, Algorithm 1: joint training of the conditional and unconditional model)."""
    return jnp.where(jax.random.bernoulli(key, p_uncond, y.shape), null_label, y)


def objective(model, schedule, params, model_state, batch, key, step, *, p_uncond=0.0):
    """Batch mean of L_simple (Ho et al. 2020, Algorithm 1 and eq. 14):

        || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t[, y]) ||^2,
        x_0 ~ data, t ~ Uniform{1..T}, eps ~ N(0, I),

    by ``losses.noise_prediction_loss``. A class-conditional model sees y = batch['label'],
    dropped to the empty class with probability `p_uncond`; an unconditional one ignores it.
    """
    if not 0.0 <= p_uncond <= 1.0:
        raise ValueError(f"p_uncond must be in [0, 1], got {p_uncond}.")
    key_labels, key_loss = jax.random.split(key)
    y = None
    if model.num_classes is not None:
        y = drop_labels(key_labels, batch["label"], p_uncond, model.null_label)
    eps_fn = functools.partial(eps_fn_y(model, params), y=y)
    loss, _ = losses.noise_prediction_loss(schedule, eps_fn, batch["image"], key_loss)
    return jnp.mean(loss), ({}, model_state)


def reverse_process(sampler: str, schedule, *, num_steps: int, eta: float, variance: str):
    """The sampler named `sampler` on `schedule` as (eps_fn, x_T, key) -> x_0: "ddpm" is
    Algorithm 2 over all T steps with sigma_t^2 from `variance`; "ddim" takes `num_steps`
    steps with stochasticity `eta`. The options are checked now, by tracing the sampler once
    with a trivial predictor, rather than at the first sample hook."""
    samplers = {
        "ddpm": functools.partial(ddpm_sample, variance=variance),
        "ddim": functools.partial(ddim_sample, num_steps=num_steps, eta=eta),
    }
    if sampler not in samplers:
        raise ValueError(f"Unknown sampler {sampler!r}; choose one of {sorted(samplers)}.")

    def reverse(eps_fn, x_T, key):
        return samplers[sampler](eps_fn, schedule, x_T, key)

    jax.eval_shape(functools.partial(reverse, lambda x_t, t: x_t), jnp.zeros(1), jax.random.key(0))
    return reverse


def make_sampler(model, reverse, image_shape, num_samples, *, guidance_w=0.0):
    """jit of (params, key) -> `num_samples` images [N, H, W, C] clipped to [-1, 1], drawn by
    `reverse(eps_fn, x_T, key)` (see ``reverse_process``) from x_T ~ N(0, I).

    A class-conditional model draws labels 0, 1, ..., num_classes - 1 cyclically (100 samples
    of 10 classes: one class per column of the 10x10 grid) with classifier-free guidance of
    weight `guidance_w`. The chain is a single compiled scan.
    """

    def sample(params, key):
        key_T, key_chain = jax.random.split(key)
        x_T = jax.random.normal(key_T, (num_samples, *image_shape))
        if model.num_classes is None:
            eps_fn = eps_fn_y(model, params)
        else:
            y = jnp.arange(num_samples) % model.num_classes
            eps_fn = guided_eps_fn(eps_fn_y(model, params), y, model.null_label, guidance_w)
        return jnp.clip(reverse(eps_fn, x_T, key_chain), -1.0, 1.0)

    return jax.jit(sample)
