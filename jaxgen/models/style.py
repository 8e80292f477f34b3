"""Neural style transfer and texture synthesis by optimising the image (Gatys, Ecker &
Bethge 2015, 2016): the pixels x are the parameters, fitted so that the Gram matrices of
x's features match the style image's and (style transfer) its features at one layer match
the content image's, with total variation for smoothness.

Two feature networks, one interface (``net.apply(variables, images) -> {layer: [B, H, W,
C]}``, images in [-1, 1]):

- `VGG19`, the network of Gatys et al., with weights from an ``.npz`` file the user
  provides (converted from torchvision's ``vgg19`` by
  ``python -m jaxgen.models.convert_vgg19_to_npz``; nothing is downloaded at run time).
  File format: ``params/conv{b}_{i}/kernel`` [3, 3, C_in, C_out] (HWIO) and
  ``params/conv{b}_{i}/bias`` [C_out] for the 16 conv layers, nothing else. Inputs are
  normalised as torchvision's ImageNet models expect (RGB in [0, 1], per-channel mean/std).
- `RandomMultiScale`, the offline default: one layer of random convolution filters of
  several sizes with a ReLU and no pooling, the shallow random network that Ustyuzhaninov,
  Brendel, Gatys & Bethge (2017, "What does it take to generate natural textures?") show
  to be enough for texture synthesis.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxgen import losses
from jaxgen.models import npz_weights
from jaxgen.models.types import Batch, ObjectiveOutput, PyTree, Sampler

# Output widths of VGG-19's conv layers, block by block (Simonyan & Zisserman 2015).
VGG19_BLOCKS = ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4)
VGG19_CONVS = tuple(
    f"conv{b}_{i}" for b, widths in enumerate(VGG19_BLOCKS, 1) for i in range(1, len(widths) + 1)
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG19_WEIGHTS_OPTION = "--config.features.weights"
# Gatys et al. 2016: style from relu1_1 ... relu5_1, content from relu4_2.
GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
GATYS_CONTENT_LAYER = "relu4_2"


def imagenet_normalize(images: jax.Array) -> jax.Array:
    """[B, H, W, 1 or 3] in [-1, 1] -> RGB in [0, 1] standardised by ImageNet mean / std."""
    rgb = jnp.broadcast_to((images + 1.0) / 2.0, (*images.shape[:3], 3))
    return (rgb - jnp.asarray(IMAGENET_MEAN)) / jnp.asarray(IMAGENET_STD)


class VGG19(nn.Module):
    """VGG-19's conv stack as a feature extractor: {'relu{b}_{i}': [B, H / 2^(b-1), ...]}
    for the names in `layers` (the computation stops after the deepest). `pool`: 'avg'
    (Gatys et al.: "improves the gradient flow") or 'max' (the trained network's)."""

    layers: tuple[str, ...] = GATYS_STYLE_LAYERS
    pool: str = "avg"

    @nn.compact
    def __call__(self, images: jax.Array) -> dict[str, jax.Array]:
        known = {c.replace("conv", "relu") for c in VGG19_CONVS}
        if not set(self.layers) <= known or not self.layers:
            raise ValueError(f"VGG19 layers {self.layers} must be among {sorted(known)}.")
        if self.pool not in ("avg", "max"):
            raise ValueError(f"VGG19 pool must be 'avg' or 'max', got {self.pool!r}.")
        pool = nn.avg_pool if self.pool == "avg" else nn.max_pool
        x, out = imagenet_normalize(images), {}
        for b, widths in enumerate(VGG19_BLOCKS, 1):
            if b > 1:
                x = pool(x, (2, 2), strides=(2, 2))
            for i, width in enumerate(widths, 1):
                x = nn.relu(nn.Conv(width, (3, 3), padding=1, name=f"conv{b}_{i}")(x))
                if f"relu{b}_{i}" in self.layers:
                    out[f"relu{b}_{i}"] = x
                if len(out) == len(set(self.layers)):
                    return out
        return out


def vgg19_variable_shapes() -> dict[str, tuple[int, ...]]:
    """'params/conv{b}_{i}/{kernel,bias}' -> shape for all 16 conv layers."""
    example = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
    return npz_weights.variable_shapes(VGG19(layers=("relu5_4",)), example)


def load_vgg19_variables(
    path: str | os.PathLike, layers: tuple[str, ...] = GATYS_STYLE_LAYERS
) -> dict[str, PyTree]:
    """VGG-19 variables from an ``.npz`` weights file (module docstring), checked against
    all 16 conv layers and trimmed to those `VGG19(layers)` uses."""
    variables = npz_weights.load_variables(
        path,
        vgg19_variable_shapes(),
        network="VGG19",
        fix=f"Set {VGG19_WEIGHTS_OPTION} to an .npz file written by "
        "`python -m jaxgen.models.convert_vgg19_to_npz vgg19.pth vgg19.npz` from "
        "torchvision's vgg19 weights",
    )
    used = npz_weights.variable_shapes(VGG19(layers), jax.ShapeDtypeStruct((1, 32, 32, 3), float))
    keep = {key.split("/")[1] for key in used}
    return {"params": {k: v for k, v in variables["params"].items() if k in keep}}


def save_vgg19_variables(path: str | os.PathLike, variables: Mapping[str, PyTree]) -> None:
    npz_weights.save_variables(path, variables)


class RandomMultiScale(nn.Module):
    """One conv layer of random filters, `features` of each size in `kernel_sizes`, ReLU,
    no pooling (Ustyuzhaninov et al. 2017): {'scale{k}': [B, H - k + 1, W - k + 1,
    features]} (valid convolutions: no border statistics). The weights are the random
    initialisation (LeCun normal) and are never trained."""

    kernel_sizes: tuple[int, ...] = (3, 5, 7, 11, 15, 23)
    features: int = 128

    @nn.compact
    def __call__(self, images: jax.Array) -> dict[str, jax.Array]:
        smallest = min(images.shape[1:3])
        if max(self.kernel_sizes) > smallest:
            raise ValueError(
                f"RandomMultiScale filters up to {max(self.kernel_sizes)} px do not fit "
                f"images of {images.shape[1:3]}; use smaller kernel_sizes or larger images."
            )
        return {
            f"scale{k}": nn.relu(
                nn.Conv(self.features, (k, k), padding="VALID", name=f"conv{k}x{k}")(images)
            )
            for k in self.kernel_sizes
        }


class FeatureNet(NamedTuple):
    """A feature network with its (fixed) variables and the layers the losses use."""

    net: nn.Module  # apply(variables, images) -> {layer: [B, H, W, C]}
    variables: dict
    style_layers: tuple[str, ...]
    content_layer: str


def init(
    fnet: FeatureNet,
    style_image: jax.Array,
    key: jax.Array,
    images: jax.Array,
    *,
    content: bool = True,
    start: str = "noise",
) -> tuple[PyTree, PyTree]:
    """(params {'image': x_0 [1, H, W, C]}, model_state {'net', 'grams', 'content'}).

    grams: Gram matrices of `style_image` [1, H', W', C] at `fnet.style_layers`; content
    (when `content`; texture synthesis has none): the features of `images` (the content
    image) at `fnet.content_layer`. x_0: `images` itself (start='content') or uniform noise
    in [-0.5, 0.5] (start='noise', Gatys et al.'s white-noise start).
    """
    if start not in ("noise", "content"):
        raise ValueError(f"start must be 'noise' or 'content', got {start!r}.")
    style_features = fnet.net.apply(fnet.variables, style_image)
    grams = {k: losses.gram_matrix(style_features[k]) for k in fnet.style_layers}
    state = {"net": fnet.variables, "grams": grams}
    if content:
        state["content"] = fnet.net.apply(fnet.variables, images)[fnet.content_layer]
    noise = jax.random.uniform(key, images.shape, minval=-0.5, maxval=0.5)
    return {"image": (images if start == "content" else noise).astype(jnp.float32)}, state


def objective(
    net: nn.Module,
    params: PyTree,
    model_state: PyTree,
    batch: Batch,
    key: jax.Array,
    step: jax.Array | int,
    *,
    content_layer: str,
    style_weight: float,
    content_weight: float,
    tv_weight: float,
) -> ObjectiveOutput:
    """L(x) = alpha 2 L_content / N_c + beta L_style + gamma TV(x) / N_x: Gatys et al. 2016,
    eq. 7, plus total variation, with the content term and TV as means over their N_c and
    N_x elements so the weights do not depend on the image size. L_style sums E_l over the
    layers of model_state['grams'] with weights 1/L; the content term (at `content_layer`)
    is there when model_state holds 'content' (style transfer, not texture synthesis). The
    batch (the content image) is not used: its features are in model_state['content']."""
    del batch, key, step
    x = params["image"]  # [1, H, W, C]
    features = net.apply(model_state["net"], x)
    grams = model_state["grams"]
    style, terms = losses.style_loss({k: features[k] for k in grams}, grams)
    tv = losses.total_variation(x) / x[0].size
    loss = style_weight * style + tv_weight * tv
    metrics = {"style": style.mean(), "tv": tv.mean()}
    metrics.update({f"style_{k}": e.mean() for k, e in terms.items()})
    if "content" in model_state:
        f = features[content_layer]
        content = 2.0 * losses.content_loss(f, model_state["content"]) / f[0].size  # MSE
        loss = loss + content_weight * content
        metrics["content"] = content.mean()
    return loss.mean(), (metrics, model_state)


def sample_hook(shown: ArrayLike) -> Sampler:
    """sample(state, key) -> [*shown, x clipped to [-1, 1]]: the inputs, then the result."""
    shown = jnp.asarray(shown)
    return lambda state, key: jnp.concatenate([shown, jnp.clip(state.params["image"], -1, 1)])


def feature_net(
    name: str,
    key: jax.Array,
    channels: int,
    *,
    weights: str | os.PathLike = "",
    pool: str = "avg",
    kernel_sizes: Sequence[int] = (3, 5, 7, 11, 15, 23),
    width: int = 128,
    style_layers: Sequence[str] = (),
    content_layer: str = "",
) -> FeatureNet:
    """The FeatureNet `name` for images with `channels` channels: 'vgg19' (weights from the
    `weights` file; `pool`) or 'random' (RandomMultiScale with `kernel_sizes` and `width`,
    initialised from `key`). Empty `style_layers` / `content_layer` take the net's
    defaults: relu1_1 ... relu5_1 / relu4_2 (Gatys et al.) for vgg19, every scale / the
    smallest scale for random."""
    if name == "vgg19":
        if not weights:
            raise ValueError(
                "The vgg19 feature network needs a weights file: set "
                f"{VGG19_WEIGHTS_OPTION}=PATH.npz (written by `python -m "
                "jaxgen.models.convert_vgg19_to_npz`), or use --config.features.net=random."
            )
        style_layers = tuple(style_layers) or GATYS_STYLE_LAYERS
        content_layer = content_layer or GATYS_CONTENT_LAYER
        net = VGG19((*style_layers, content_layer), pool)
        variables = load_vgg19_variables(os.fspath(weights), net.layers)
    elif name == "random":
        net = RandomMultiScale(tuple(kernel_sizes), width)
        side = max(kernel_sizes)
        variables = net.init(key, jnp.zeros((1, side, side, channels)))
        scales = tuple(f"scale{k}" for k in kernel_sizes)
        style_layers = tuple(style_layers) or scales
        content_layer = content_layer or f"scale{min(kernel_sizes)}"
        unknown = set(style_layers) - set(scales) | ({content_layer} - set(scales))
        if unknown:
            raise ValueError(f"Unknown layers {sorted(unknown)}; the random net has {scales}.")
    else:
        raise ValueError(f"Unknown feature network {name!r}; use 'vgg19' or 'random'.")
    return FeatureNet(net, variables, tuple(style_layers), content_layer)
