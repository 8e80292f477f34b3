"""Cascaded diffusion (Ho et al. 2022, "Cascaded Diffusion Models"; Imagen, Saharia et al.
2022, sec. 2.4; unCLIP's upsamplers, Ramesh et al. 2022): a base model draws a small image,
a super-resolution diffusion model draws the large one conditioned on it.

    low = downsample(x, f)                                  (f x f area average)
    f_theta([x_t, up(low_a)], t, a) with low_a ~ q(low_t(a) | low)     (a ~ U{0..A-1})

where f_theta predicts eps, v or x_0 (`target`; the samplers take its eps,
``diffusion.eps_from_prediction``). Predicting eps fails here: at high noise the eps
target hardly depends on x_0, so its implied x_0 is poor exactly where the chain starts
(results/upsampler_eps_cpu_s0: 7 dB PSNR from pure noise; 25.7 dB predicting v, as Imagen
Video's and progressive distillation's upsamplers do).

Noise conditioning augmentation: in training the low-resolution input is itself noised by
the forward process at index t(a) of an augmentation level a drawn uniformly from A levels,
and the model is told a (a learned embedding: the U-Net's class path, ``UNet(num_classes=A)``);
at sampling one fixed level corrupts the base model's output alike, so the upsampler does
not depend on the base model's exact artefacts. up(.) is bilinear, concatenated to x_t
along the channels (the U-Net's ``out_channels`` = C).
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import losses
from jaxgen.diffusion import EpsFn, NoiseSchedule, eps_from_prediction, q_sample
from jaxgen.models.types import Batch, ObjectiveOutput, PyTree


def downsample(images: jax.Array, factor: int) -> jax.Array:
    """[B, H, W, C] -> [B, H / f, W / f, C]: the mean of each f x f block."""
    b, h, w, c = images.shape
    if h % factor or w % factor:
        raise ValueError(f"downsample: {h}x{w} images are not divisible by factor {factor}.")
    return images.reshape(b, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def bilinear(low: jax.Array, size: tuple[int, int]) -> jax.Array:
    """up(low): [B, h, w, C] -> [B, *size, C], bilinear (jax.image.resize)."""
    return jax.image.resize(low, (len(low), *size, low.shape[-1]), "bilinear")


def upsampler_input(x_t: jax.Array, low: jax.Array) -> jax.Array:
    """[x_t, up(low)]: x_t [B, H, W, C] and low [B, h, w, C] upsampled to H x W, along the
    channels -> [B, H, W, 2C]."""
    return jnp.concatenate([x_t, bilinear(low, x_t.shape[1:3])], axis=-1)


def augment(schedule: NoiseSchedule, low: jax.Array, t_aug: jax.Array, key: jax.Array) -> jax.Array:
    """Noise conditioning augmentation: low_a ~ q(x_t | x_0 = low) at indices t_aug [B]."""
    return q_sample(schedule, low, t_aug, jax.random.normal(key, low.shape))


def upsampler_fn(model: nn.Module, params: PyTree, low_a: jax.Array, level: jax.Array) -> EpsFn:
    """f_theta(x_t, t) of the upsampler (its prediction of its target) given the augmented
    low-resolution images low_a and their levels [B]."""
    return lambda x_t, t: model.apply({"params": params}, upsampler_input(x_t, low_a), t, level)


def upsampler_objective(
    model: nn.Module,
    schedule: NoiseSchedule,
    aug_steps: jax.Array,
    factor: int,
    params: PyTree,
    model_state: PyTree,
    batch: Batch,
    key: jax.Array,
    step: jax.Array | int,
    target: str = "eps",
) -> ObjectiveOutput:
    """Batch mean of L_simple with regression target `target` (``losses.
    noise_prediction_loss``) on the large images x_0 = batch['image'] given
    low = downsample(x_0, factor) augmented at a level a ~ U{0..A-1} (index aug_steps[a] of
    `schedule`, aug_steps [A])."""
    x0 = batch["image"]
    key_level, key_aug, key_loss = jax.random.split(key, 3)
    level = jax.random.randint(key_level, x0.shape[:1], 0, len(aug_steps))
    low_a = augment(schedule, downsample(x0, factor), aug_steps[level], key_aug)
    predict = upsampler_fn(model, params, low_a, level)
    loss, _ = losses.noise_prediction_loss(schedule, predict, x0, key_loss, target)
    return jnp.mean(loss), ({}, model_state)


def upsample(
    model: nn.Module,
    params: PyTree,
    reverse: Callable[[EpsFn, jax.Array, jax.Array], jax.Array],
    schedule: NoiseSchedule,
    aug_steps: jax.Array,
    level: int,
    factor: int,
    low: jax.Array,
    key: jax.Array,
    target: str = "eps",
) -> jax.Array:
    """Images [B, f h, f w, C] in [-1, 1] drawn by `reverse(eps_fn, x_T, key)` (a sampler of
    ``diffusion.reverse_process``) for low-resolution images low [B, h, w, C], augmented at
    level `level` (index aug_steps[level]), from an upsampler predicting `target`."""
    key_aug, key_T, key_chain = jax.random.split(key, 3)
    b, h, w, c = low.shape
    levels = jnp.full((b,), level)
    low_a = augment(schedule, low, aug_steps[levels], key_aug)
    x_T = jax.random.normal(key_T, (b, h * factor, w * factor, c))
    predict = upsampler_fn(model, params, low_a, levels)

    def eps_fn(x_t, t):
        return eps_from_prediction(schedule, target, x_t, t, predict(x_t, t))

    x_0 = reverse(eps_fn, x_T, key_chain)
    return jnp.clip(x_0, -1.0, 1.0)
