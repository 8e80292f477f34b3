"""Deep image prior (Ulyanov, Vedaldi & Lempitsky 2018, "Deep Image Prior").

A randomly initialised encoder-decoder f_theta maps a fixed random code z to an image and
is fitted to one degraded observation y = A(x) + n of an unknown clean image x:

    theta* = argmin_theta E(f_theta(z); y),  E = ||A(f_theta(z)) - y||^2,  x* = f_theta*(z)

with A the identity (denoising), a pixel mask m (inpainting: ||(f(z) - y) . m||^2) or a
downsampler d (super-resolution: ||d(f(z)) - y||^2). The network's structure fits natural
images faster than noise, so the PSNR of f(z) against x rises, peaks and then falls as
f(z) starts to fit the noise or the missing pixels: the number of steps is the
regulariser (early stopping).

`SkipNet` is the paper's "skip" architecture (supplementary material, Fig. 2): 5 levels of
stride-2 conv -> conv down, bilinear upsampling -> concat(skip) -> norm -> conv -> 1x1 conv
up, a 1x1 conv with n_s channels on each skip, reflection padding, LeakyReLU(0.2) and a
sigmoid output. The paper's batch norm sees one image in training mode, which is instance
normalisation (statistics over H, W per channel); we write it as `nn.InstanceNorm`.

The evaluation of a fit (PSNR against the clean image, the classical baselines, pictures)
is ``jaxgen.evaluation.dip``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import losses
from jaxgen.models.types import Batch, ObjectiveOutput, PyTree, Sampler


class ConvBlock(nn.Module):
    """Reflection-padded conv -> instance norm -> LeakyReLU(0.2)."""

    features: int
    kernel_size: int
    strides: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = (self.kernel_size, self.kernel_size)
        x = nn.Conv(self.features, k, strides=self.strides, padding="REFLECT", name="conv")(x)
        return nn.leaky_relu(nn.InstanceNorm(name="norm")(x), 0.2)


def upsample2x(x: jax.Array) -> jax.Array:
    """[B, H, W, C] -> [B, 2H, 2W, C], bilinear (half-pixel centres)."""
    b, h, w, c = x.shape
    return jax.image.resize(x, (b, 2 * h, 2 * w, c), "bilinear")


class SkipNet(nn.Module):
    """Deep image prior's encoder-decoder: z [B, H, W, C_z] -> images [B, H, W, out] in
    [-1, 1] (2 sigmoid - 1), H and W divisible by 2^len(widths_down).

    widths_down, widths_up, widths_skip: n_d[i], n_u[i], n_s[i] per level (0: no skip).
    """

    out_channels: int
    widths_down: tuple[int, ...] = (128,) * 5
    widths_up: tuple[int, ...] = (128,) * 5
    widths_skip: tuple[int, ...] = (4,) * 5
    kernel_size: int = 3

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        depth = len(self.widths_down)
        if not len(self.widths_up) == len(self.widths_skip) == depth:
            raise ValueError(
                f"SkipNet needs one width per level in widths_down {self.widths_down}, "
                f"widths_up {self.widths_up} and widths_skip {self.widths_skip}."
            )
        if z.shape[1] % 2**depth or z.shape[2] % 2**depth:
            raise ValueError(
                f"SkipNet with {depth} levels needs H and W divisible by {2**depth}; the code "
                f"z has shape {z.shape}. Use an image size that is a multiple of {2**depth}."
            )
        k = self.kernel_size
        x, skips = z, []
        for i, (n_d, n_s) in enumerate(zip(self.widths_down, self.widths_skip, strict=True)):
            skips.append(ConvBlock(n_s, 1, name=f"skip{i}")(x) if n_s else None)
            x = ConvBlock(n_d, k, strides=2, name=f"down{i}_a")(x)  # [B, H / 2^(i+1), ...]
            x = ConvBlock(n_d, k, name=f"down{i}_b")(x)
        for i in reversed(range(depth)):
            x = upsample2x(x)  # [B, H / 2^i, W / 2^i, C]
            if skips[i] is not None:
                x = jnp.concatenate([skips[i], x], axis=-1)
            x = nn.InstanceNorm(name=f"up{i}_norm")(x)
            x = ConvBlock(self.widths_up[i], k, name=f"up{i}_a")(x)
            x = ConvBlock(self.widths_up[i], 1, name=f"up{i}_b")(x)
        x = nn.Conv(self.out_channels, (1, 1), name="out")(x)
        return 2.0 * nn.sigmoid(x) - 1.0


def input_code(
    key: jax.Array, shape: Sequence[int], channels: int, scale: float = 0.1
) -> jax.Array:
    """The fixed input z ~ U(0, scale), [1, H, W, channels] (the paper: 32 channels, 1/10)."""
    return scale * jax.random.uniform(key, (1, *shape[:2], channels))


@dataclasses.dataclass(frozen=True)
class InverseProblem:
    """y = clip(A(x) + sigma * eps, -1, 1): the forward operator A of a restoration task and
    its observation of a clean image, drawn with a fixed `key` (the same y at every step)."""

    name: str
    forward: Callable[[jax.Array], jax.Array]  # A: images [B, H, W, C] -> observation space
    key: jax.Array
    sigma: float = 0.0
    mask: jax.Array | None = None  # [1, H, W, 1] 1 = observed, inpainting only

    def observe(self, x: jax.Array) -> jax.Array:
        y = self.forward(x)
        if self.sigma:
            y = jnp.clip(y + self.sigma * jax.random.normal(self.key, y.shape), -1.0, 1.0)
        return y


def downsample(x: jax.Array, factor: int) -> jax.Array:
    """[B, H, W, C] -> [B, H / factor, W / factor, C], Lanczos-3 with anti-aliasing."""
    b, h, w, c = x.shape
    return jax.image.resize(x, (b, h // factor, w // factor, c), "lanczos3", antialias=True)


def denoising(shape: Sequence[int], key: jax.Array, *, sigma: float, **_: float) -> InverseProblem:
    """A = identity, Gaussian noise of std `sigma` (on the [-1, 1] scale)."""
    return InverseProblem("denoising", lambda x: x, key, sigma)


def inpainting(
    shape: Sequence[int], key: jax.Array, *, drop_prob: float, **_: float
) -> InverseProblem:
    """A = x * m, m ~ Bernoulli(1 - drop_prob) per pixel (all channels alike): the loss is
    ||(f(z) - y) . m||^2 up to a constant factor."""
    mask = jax.random.bernoulli(jax.random.fold_in(key, 1), 1.0 - drop_prob, (1, *shape[:2], 1))
    mask = mask.astype(jnp.float32)
    return InverseProblem("inpainting", lambda x: x * mask, key, mask=mask)


def super_resolution(
    shape: Sequence[int], key: jax.Array, *, factor: int, **_: float
) -> InverseProblem:
    """A = Lanczos downsampling by `factor` (the same operator makes y and enters the loss)."""
    if shape[0] % factor or shape[1] % factor:
        raise ValueError(f"Image size {shape[:2]} is not divisible by the factor {factor}.")
    return InverseProblem("super_resolution", functools.partial(downsample, factor=factor), key)


PROBLEMS = {"denoising": denoising, "inpainting": inpainting, "super_resolution": super_resolution}


def make_problem(
    name: str, shape: Sequence[int], key: jax.Array, **options: float
) -> InverseProblem:
    """The InverseProblem `name` for images of `shape` (H, W, C); options: sigma, drop_prob,
    factor (each constructor takes what it needs)."""
    if name not in PROBLEMS:
        raise ValueError(f"Unknown deep image prior task {name!r}; use one of {list(PROBLEMS)}.")
    return PROBLEMS[name](shape, key, **options)


def init(
    model: SkipNet,
    key: jax.Array,
    images: jax.Array,
    input_channels: int,
    input_scale: float = 0.1,
) -> tuple[PyTree, PyTree]:
    """(params, {'z': fixed code [1, H, W, input_channels]}) for clean `images` [1, H, W, C]."""
    z_key, param_key = jax.random.split(key)
    z = input_code(z_key, images.shape[1:], input_channels, input_scale)
    return model.init(param_key, z)["params"], {"z": z}


def objective(
    model: SkipNet,
    problem: InverseProblem,
    input_noise_std: float,
    params: PyTree,
    model_state: PyTree,
    batch: Batch,
    key: jax.Array,
    step: jax.Array | int,
) -> ObjectiveOutput:
    """E = MSE(A(f(z + sigma_p eps)), y) (the paper's input-noise regulariser sigma_p) with
    y = problem.observe(x); the clean x enters only the metric 'psnr' = PSNR(x, f)."""
    del step
    x = batch["image"]  # [B, H, W, C] clean
    z = model_state["z"]
    z = z + input_noise_std * jax.random.normal(key, z.shape)
    out = model.apply({"params": params}, z)  # [1, H, W, C]
    loss = losses.reconstruction_mse(problem.forward(out), problem.observe(x)).mean()
    return loss, ({"psnr": losses.psnr(x, out).mean()}, model_state)


def output(model: SkipNet, params: PyTree, model_state: PyTree) -> jax.Array:
    """x* = f(z): the restored image [1, H, W, C] (no input noise)."""
    return model.apply({"params": params}, model_state["z"])


def shown_at(images: jax.Array, shape: Sequence[int]) -> jax.Array:
    """images [B, h, w, C] resized (nearest) to shape (H, W), for side-by-side pictures."""
    return jax.image.resize(images, (images.shape[0], *shape[:2], images.shape[-1]), "nearest")


def sample_hook(model: SkipNet, problem: InverseProblem, clean: jax.Array) -> Sampler:
    """sample(state, key) -> [observation y, f(z), clean x], each [H, W, C]."""

    @jax.jit
    def sample(params, model_state):
        y = shown_at(problem.observe(clean), clean.shape[1:])
        return jnp.concatenate([y, output(model, params, model_state), clean])

    return lambda state, key: sample(state.params, state.model_state)
