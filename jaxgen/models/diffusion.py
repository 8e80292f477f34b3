"""DDPM family wiring for a ``UNet`` noise predictor: parameter init, the training objective
(Ho et al. 2020, Algorithm 1; label dropout for classifier-free guidance), the run's
sampler chosen by name (``reverse_process``, ``configured_reverse``) and the jitted sampling
function the sample hooks and the evaluation call with EMA parameters.

`model` is the noise predictor eps_theta(x_t, t, y=None), a flax module with `num_classes`
(None: unconditional) and, when conditional, `null_label` (the empty condition):
``unet.UNet`` (conditioned on labels, or with `context` on vectors [B, M, D] such as text
features), or latent diffusion's ``latent_diffusion.LatentDenoiser``."""

import functools
from collections.abc import Callable
from typing import Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import losses
from jaxgen.diffusion import (
    THRESHOLDS,
    EpsFn,
    NoiseSchedule,
    ddim_sample,
    ddpm_sample,
    dpm_solver_2m_sample,
    guided_eps_fn,
    thresholded_eps_fn,
)
from jaxgen.models.types import Batch, ObjectiveOutput, PyTree

# (eps_fn, x_T, key) -> x_0 [B, ...], or (x_0, x after every step) for a trajectory
Reverse = Callable[[EpsFn, jax.Array, jax.Array], jax.Array | tuple[jax.Array, jax.Array]]


def conditional(model: nn.Module) -> bool:
    """Whether `model` takes a condition y: labels (num_classes) or context vectors."""
    return model.num_classes is not None or getattr(model, "context", False)


def init_params(
    model: nn.Module, key: jax.Array, images: jax.Array, y: jax.Array | None = None
) -> PyTree:
    """The U-Net's parameters for images [B, H, W, C] and, if conditional, conditions y
    (default: labels 0)."""
    t = jnp.zeros(images.shape[:1], jnp.int32)
    if y is None and conditional(model):
        y = t
    return model.init(key, images, t, y)["params"]


def eps_fn_y(model: nn.Module, params: PyTree) -> Callable[..., jax.Array]:
    """(x_t [B, H, W, C], t [B], y [B] | None) -> eps_pred: the network with `params`."""
    return lambda x_t, t, y=None: model.apply({"params": params}, x_t, t, y)


def drop_labels(
    key: jax.Array, y: jax.Array, p_uncond: float, null_label: int | float
) -> jax.Array:
    """y [B, ...] with each example's condition (a label, or a context [M, D]) replaced by
    `null_label` with probability p_uncond (Ho & Salimans 2021, Algorithm 1: joint training
    of the conditional and unconditional model)."""
    drop = jax.random.bernoulli(key, p_uncond, y.shape[:1])
    return jnp.where(drop.reshape(drop.shape + (1,) * (y.ndim - 1)), null_label, y)


def objective(
    model: nn.Module,
    schedule: NoiseSchedule,
    params: PyTree,
    model_state: PyTree,
    batch: Batch,
    key: jax.Array,
    step: jax.Array | int,
    *,
    p_uncond: float = 0.0,
    target: str = "eps",
) -> ObjectiveOutput:
    """Batch mean of L_simple (Ho et al. 2020, Algorithm 1 and eq. 14):

        || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t[, y]) ||^2,
        x_0 ~ data, t ~ Uniform{1..T}, eps ~ N(0, I),

    by ``losses.noise_prediction_loss``. A conditional model sees y = batch['label'] (a
    class, or context vectors), dropped to the empty condition with probability `p_uncond`;
    an unconditional one ignores it. `target`: what the network predicts ("eps", "v", "x0":
    ``losses.noise_prediction_loss``).
    """
    if not 0.0 <= p_uncond <= 1.0:
        raise ValueError(f"p_uncond must be in [0, 1], got {p_uncond}.")
    key_labels, key_loss = jax.random.split(key)
    y = None
    if conditional(model):
        y = drop_labels(key_labels, batch["label"], p_uncond, model.null_label)
    eps_fn = functools.partial(eps_fn_y(model, params), y=y)
    loss, _ = losses.noise_prediction_loss(schedule, eps_fn, batch["image"], key_loss, target)
    return jnp.mean(loss), ({}, model_state)


def reverse_process(
    sampler: str,
    schedule: NoiseSchedule,
    *,
    num_steps: int,
    eta: float,
    variance: str,
    trajectory: bool = False,
    threshold: str = "none",
) -> Reverse:
    """The sampler named `sampler` on `schedule` as (eps_fn, x_T, key) -> x_0: "ddpm" is
    Algorithm 2 over all T steps with sigma_t^2 from `variance`; "ddim" takes `num_steps`
    steps with stochasticity `eta`; "dpm++2m" (DPM-Solver++(2M), deterministic: the key is
    unused) takes `num_steps` steps; with `trajectory` -> (x_0, x after every step).
    `threshold` ("none", "static", "dynamic": diffusion.THRESHOLDS, Imagen's) is applied to
    the data prediction of every step (``thresholded_eps_fn``). The options are checked now,
    by tracing the sampler once with a trivial predictor, rather than at the first sample
    hook."""
    samplers = {
        "ddpm": functools.partial(ddpm_sample, variance=variance, trajectory=trajectory),
        "ddim": functools.partial(ddim_sample, num_steps=num_steps, eta=eta, trajectory=trajectory),
        "dpm++2m": lambda eps_fn, schedule, x_T, key: dpm_solver_2m_sample(
            eps_fn, schedule, x_T, num_steps, trajectory
        ),
    }
    if sampler not in samplers:
        raise ValueError(f"Unknown sampler {sampler!r}; choose one of {sorted(samplers)}.")
    if threshold not in THRESHOLDS:
        raise ValueError(f"Unknown threshold {threshold!r}; choose one of {sorted(THRESHOLDS)}.")

    def reverse(eps_fn, x_T, key):
        if THRESHOLDS[threshold] is not None:
            eps_fn = thresholded_eps_fn(eps_fn, schedule.alpha_bar_t, THRESHOLDS[threshold])
        return samplers[sampler](eps_fn, schedule, x_T, key)

    jax.eval_shape(functools.partial(reverse, lambda x_t, t: x_t), jnp.zeros(1), jax.random.key(0))
    return reverse


class SampleOptions(Protocol):
    """A run's sampler: a config's `sample` block (``reverse_process``'s options, plus the
    guidance weight of class-conditional models)."""

    sampler: str
    num_steps: int
    eta: float
    variance: str
    guidance_w: float
    threshold: str


def configured_reverse(
    sample: SampleOptions, schedule: NoiseSchedule, trajectory: bool = False
) -> Reverse:
    """``reverse_process`` with the sampler options of `sample` (sampler, num_steps, eta,
    variance): the reverse process a run's sample hook and its evaluation draw with."""
    return reverse_process(
        sample.sampler,
        schedule,
        num_steps=sample.num_steps,
        eta=sample.eta,
        variance=sample.variance,
        trajectory=trajectory,
        threshold=getattr(sample, "threshold", "none"),  # configs of runs before the option
    )


def sample_labels(model: nn.Module, num_samples: int) -> jax.Array:
    """The labels a class-conditional model samples: 0, 1, ..., num_classes - 1 cyclically,
    [num_samples] (100 samples of 10 classes: one class per column of a 10x10 grid)."""
    return jnp.arange(num_samples) % model.num_classes


def sample_eps_fn(
    model: nn.Module,
    params: PyTree,
    num_samples: int,
    guidance_w: float | jax.Array = 0.0,
    y: jax.Array | None = None,
) -> EpsFn:
    """The noise predictor a sampler of `num_samples` chains runs: the network itself, or for
    a conditional model the classifier-free guided one of weight `guidance_w` on conditions
    `y` [num_samples, ...] (default: the labels ``sample_labels``)."""
    if not conditional(model):
        return eps_fn_y(model, params)
    y = sample_labels(model, num_samples) if y is None else y
    return guided_eps_fn(eps_fn_y(model, params), y, model.null_label, guidance_w)


def make_sampler(
    model: nn.Module,
    reverse: Reverse,
    image_shape: tuple[int, ...],
    num_samples: int,
    *,
    guidance_w: float = 0.0,
    decode: Callable[[jax.Array], jax.Array] | None = None,
) -> Callable[..., jax.Array]:
    """jit of (params, key[, guidance_w[, y]]) -> `num_samples` images [N, H, W, C] clipped
    to [-1, 1], drawn by `reverse(eps_fn, x_T, key)` (see ``reverse_process``) from
    x_T ~ N(0, I) of shape `image_shape` per sample, then mapped by `decode` (latent
    diffusion's decoder; None: x_0 are the images).

    A conditional model draws for conditions y [N, ...] (default: the labels
    ``sample_labels``) with classifier-free guidance of weight `guidance_w` (an argument of
    the jitted function too: one compilation serves every weight). The chain is a single
    compiled scan.
    """

    def sample(params, key, guidance_w=guidance_w, y=None):
        key_T, key_chain = jax.random.split(key)
        x_T = jax.random.normal(key_T, (num_samples, *image_shape))
        eps_fn = sample_eps_fn(model, params, num_samples, guidance_w, y)
        x_0 = reverse(eps_fn, x_T, key_chain)
        return jnp.clip(x_0 if decode is None else decode(x_0), -1.0, 1.0)

    return jax.jit(sample)
