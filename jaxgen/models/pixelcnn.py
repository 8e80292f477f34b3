"""Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
Decoders") over 8-bit images, optionally class-conditional.

p(x) = prod_i p(x_i | x_<i), pixels i in raster order. Two stacks of masked convolutions
keep every output causal without a blind spot: the vertical stack (k x k kernels over the
rows above) sees every earlier row, the horizontal stack (1 x k kernels) the pixels to the
left in the current row plus the vertical stack's features. The first block uses mask A
(the current row / pixel excluded), later blocks mask B (included: their inputs already
exclude pixel i), so the network's output at pixel i depends on pixels < i only.

Per-pixel outputs (``OUTPUTS``, chosen by name):

- ``softmax``: a 256-way softmax per channel (van den Oord et al. 2016, "Pixel Recurrent
  Neural Networks"); the channels of a pixel are independent given the earlier pixels.
- ``logistic_mixture``: the discretized logistic mixture of PixelCNN++ (Salimans et al.
  2017) with its linear channel coupling, so colour channels are autoregressive too.

Both are distributions over the 256 levels of 8-bit images: -log p / (D ln 2) is the exact
bits/dim. Sampling runs the network once per pixel inside one ``lax.fori_loop``.

``PixelRNN`` (van den Oord et al. 2016, "Pixel Recurrent Neural Networks") has the same
interface with Row LSTM layers in place of the gated blocks, so everything here takes it.
"""

import dataclasses
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgen import losses
from jaxgen.losses.autoregressive import channel_coupling
from jaxgen.models.types import Batch, ObjectiveOutput, PyTree

NUM_BINS = 256  # levels of 8-bit data


def causal_mask(kernel_size: Sequence[int], stack: str, mask_type: str) -> np.ndarray:
    """[kh, kw] 0/1 mask of a gated PixelCNN convolution centred on the output pixel.

    vertical (k x k): the rows above the centre, plus the centre row for mask B;
    horizontal (1 x k): the pixels left of the centre, plus the centre for mask B.
    """
    kh, kw = kernel_size
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"kernel_size {kernel_size} must be odd (a centre pixel).")
    if mask_type not in ("A", "B"):
        raise ValueError(f"Unknown mask_type {mask_type!r}; use 'A' (first layer) or 'B'.")
    include_centre = int(mask_type == "B")
    mask = np.zeros((kh, kw), np.float32)
    if stack == "vertical":
        mask[: kh // 2 + include_centre, :] = 1.0
    elif stack == "horizontal":
        if kh != 1:
            raise ValueError(f"A horizontal-stack kernel is 1 x k, got {kernel_size}.")
        mask[0, : kw // 2 + include_centre] = 1.0
    else:
        raise ValueError(f"Unknown stack {stack!r}; use 'vertical' or 'horizontal'.")
    if not mask.any():
        raise ValueError(f"Mask A of a {kernel_size} {stack} kernel is empty; use a larger kernel.")
    return mask


class MaskedConv(nn.Module):
    """Convolution with its k x k kernel multiplied by `causal_mask` (SAME output size).

    Only the mask's bounding box is stored and convolved (with the matching asymmetric
    padding), which is the same map as the full masked kernel without its zero weights.
    """

    features: int
    kernel_size: Sequence[int]
    stack: str  # "vertical" | "horizontal"
    mask_type: str  # "A" | "B"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        mask = causal_mask(tuple(self.kernel_size), self.stack, self.mask_type)
        rows, cols = np.nonzero(mask)
        r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()
        support = mask[r0 : r1 + 1, c0 : c1 + 1]
        kernel = self.param(
            "kernel",
            nn.initializers.lecun_normal(),
            (*support.shape, x.shape[-1], self.features),
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        ch, cw = mask.shape[0] // 2, mask.shape[1] // 2
        pad = ((0, 0, 0), (ch - r0, r1 - ch, 0), (cw - c0, c1 - cw, 0), (0, 0, 0))
        x = lax.pad(x, jnp.zeros((), x.dtype), pad)  # negative padding crops
        y = lax.conv_general_dilated(
            x,
            kernel * jnp.asarray(support[:, :, None, None], kernel.dtype),  # bf16 stays bf16
            (1, 1),
            "VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        return y + bias


def gate(a: jax.Array) -> jax.Array:
    """tanh(a_1) * sigmoid(a_2) of the two channel halves of `a` (the gated activation)."""
    a1, a2 = jnp.split(a, 2, axis=-1)
    return jnp.tanh(a1) * jax.nn.sigmoid(a2)


class GatedBlock(nn.Module):
    """One gated layer with both stacks (van den Oord et al. 2016b, Fig. 2):

    v' = gate(W_v * v + V_v c),  h' = h + W_1 gate(W_h * h + W_vh (W_v * v) + V_h c),
    * masked convolutions, c the one-hot class (or None); mask A drops the residual."""

    features: int
    kernel_size: int
    mask_type: str

    @nn.compact
    def __call__(
        self, v: jax.Array, h: jax.Array, cond: jax.Array | None
    ) -> tuple[jax.Array, jax.Array]:
        k, f = self.kernel_size, 2 * self.features
        v_feat = MaskedConv(f, (k, k), "vertical", self.mask_type)(v)
        h_feat = MaskedConv(f, (1, k), "horizontal", self.mask_type)(h)
        h_feat = h_feat + nn.Conv(f, (1, 1))(v_feat)
        if cond is not None:
            v_feat = v_feat + nn.Dense(f, use_bias=False)(cond)[:, None, None, :]
            h_feat = h_feat + nn.Dense(f, use_bias=False)(cond)[:, None, None, :]
        h_out = nn.Conv(self.features, (1, 1))(gate(h_feat))
        return gate(v_feat), h_out if self.mask_type == "A" else h + h_out


# ---------------------------------------------------------------------------------------
# Per-pixel output distributions


@dataclasses.dataclass(frozen=True)
class PixelOutput:
    """How the network's last maps define p(x_i | x_<i).

    num_maps(C, K) -> maps per pixel; log_likelihood(x [B, H, W, C], out, K) -> [B] nats;
    sample(key, out [n, maps], C, K) -> [n, C] on the 8-bit grid in [-1, 1].
    """

    name: str
    num_maps: Callable
    log_likelihood: Callable
    sample: Callable


def _softmax_log_likelihood(x, out, num_mixtures):
    return losses.categorical_log_likelihood(x, out.reshape(*x.shape, NUM_BINS))


def _softmax_sample(key, out, num_channels, num_mixtures):
    logits = out.reshape(out.shape[0], num_channels, NUM_BINS)
    return losses.bins_to_pixels(jax.random.categorical(key, logits), NUM_BINS)


def _mixture_params(out, num_channels, num_mixtures):
    """out [..., K (1 + 2C + C(C-1)/2)] -> logit_probs [..., K], means, log_scales
    [..., K, C], coeffs [..., K, C(C-1)/2] (tanh-squashed, as in PixelCNN++)."""
    k, c = num_mixtures, num_channels
    sizes = np.cumsum([k, k * c, k * c])
    logit_probs, means, log_scales, coeffs = jnp.split(out, sizes, axis=-1)
    lead = out.shape[:-1]
    return (
        logit_probs,
        means.reshape(*lead, k, c),
        log_scales.reshape(*lead, k, c),
        jnp.tanh(coeffs.reshape(*lead, k, c * (c - 1) // 2)),
    )


def _mixture_log_likelihood(x, out, num_mixtures):
    params = _mixture_params(out, x.shape[-1], num_mixtures)
    coeffs = params[3] if x.shape[-1] > 1 else None
    return losses.discretized_logistic_mixture_log_likelihood(x, *params[:3], coeffs)


def _mixture_sample(key, out, num_channels, num_mixtures):
    """Component k ~ pi, then channel by channel x_c = bin(mu_kc + sum_{j<c} a_kcj x_j +
    s_kc logit(u)), u ~ U(0, 1): rounding a logistic draw to the nearest level (clipped to
    the edge bins) draws exactly from the discretized logistic."""
    logit_probs, means, log_scales, coeffs = _mixture_params(out, num_channels, num_mixtures)
    key_k, key_u = jax.random.split(key)
    pick = jax.nn.one_hot(jax.random.categorical(key_k, logit_probs), num_mixtures)  # [n, K]
    mu, log_s = jnp.einsum("nk,nkc->nc", pick, means), jnp.einsum("nk,nkc->nc", pick, log_scales)
    a = jnp.einsum("nk,nkcj->ncj", pick, channel_coupling(coeffs, num_channels))
    u = jax.random.uniform(key_u, mu.shape, minval=1e-5, maxval=1.0 - 1e-5)
    x = jnp.zeros_like(mu)
    for c in range(num_channels):
        loc = mu[:, c] + jnp.sum(a[:, c] * x, axis=-1)
        draw = loc + jnp.exp(log_s[:, c]) * (jnp.log(u[:, c]) - jnp.log1p(-u[:, c]))
        x = x.at[:, c].set(losses.bins_to_pixels(losses.pixel_bins(draw, NUM_BINS), NUM_BINS))
    return x


OUTPUTS = {
    o.name: o
    for o in (
        PixelOutput(
            "softmax",
            lambda c, k: c * NUM_BINS,
            _softmax_log_likelihood,
            _softmax_sample,
        ),
        PixelOutput(
            "logistic_mixture",
            lambda c, k: k * (1 + 2 * c + c * (c - 1) // 2),
            _mixture_log_likelihood,
            _mixture_sample,
        ),
    )
}


def get_output(name: str) -> PixelOutput:
    """The PixelOutput named `name`; an unknown name lists the known ones."""
    if name not in OUTPUTS:
        raise ValueError(f"Unknown output {name!r}; use one of {', '.join(OUTPUTS)}.")
    return OUTPUTS[name]


# ---------------------------------------------------------------------------------------
# The network and its functions


class PixelCNN(nn.Module):
    """x [B, H, W, C] in [-1, 1] (labels [B] when num_classes > 0) -> per-pixel parameters
    [B, H, W, maps] of p(x_i | x_<i) (see `output`): one mask-A gated block, num_layers - 1
    mask-B gated blocks, then ReLU, 1x1 conv, ReLU, 1x1 conv on the horizontal stack."""

    image_shape: Sequence[int]  # (H, W, C)
    features: int = 32
    num_layers: int = 5
    kernel_size: int = 3
    output: str = "softmax"
    num_mixtures: int = 5  # components of the logistic mixture
    num_classes: int = 0  # > 0: class-conditional

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        if tuple(x.shape[1:]) != tuple(self.image_shape):
            raise ValueError(
                f"PixelCNN for {tuple(self.image_shape)} images got x of shape {x.shape}."
            )
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}.")
        if self.num_classes and labels is None:
            raise ValueError("A class-conditional PixelCNN (num_classes > 0) needs labels [B].")
        num_maps = get_output(self.output).num_maps(x.shape[-1], self.num_mixtures)
        cond = jax.nn.one_hot(labels, self.num_classes) if self.num_classes else None
        v, h = GatedBlock(self.features, self.kernel_size, "A")(x, x, cond)
        for _ in range(self.num_layers - 1):
            v, h = GatedBlock(self.features, self.kernel_size, "B")(v, h, cond)
        h = nn.Conv(self.features, (1, 1))(nn.relu(h))
        return nn.Conv(num_maps, (1, 1))(nn.relu(h))


def log_likelihood(
    model: "PixelCNN | PixelRNN", params: PyTree, x: jax.Array, labels: jax.Array | None = None
) -> jax.Array:
    """log p(x) [B] in nats of 8-bit images x [B, H, W, C] in [-1, 1]: exact, one pass."""
    out = model.apply({"params": params}, x, labels)
    return get_output(model.output).log_likelihood(x, out, model.num_mixtures)


def objective(
    model: "PixelCNN | PixelRNN",
    params: PyTree,
    model_state: PyTree,
    batch: Batch,
    key: jax.Array,
    step: jax.Array | int,
) -> ObjectiveOutput:
    """Batch mean of -log p(x) = -sum_i log p(x_i | x_<i) (nats per image)."""
    labels = batch["label"] if model.num_classes else None
    nll = -log_likelihood(model, params, batch["image"], labels)
    return jnp.mean(nll), ({"nll": jnp.mean(nll)}, model_state)


def sample_labels(model: "PixelCNN | PixelRNN", n: int) -> jax.Array | None:
    """Labels of n class-conditional samples: 0, 1, ..., num_classes - 1, 0, ... (None for
    an unconditional model)."""
    return jnp.arange(n) % model.num_classes if model.num_classes else None


def sample(model: "PixelCNN | PixelRNN", params: PyTree, key: jax.Array, n: int) -> jax.Array:
    """n images [n, H, W, C] drawn pixel by pixel in raster order: step i runs the network on
    the canvas so far and draws pixel i from p(x_i | x_<i) with key fold_in(key, i); the
    H * W steps are one lax.fori_loop. Class-conditional models cycle through the classes."""
    height, width, channels = model.image_shape
    labels = sample_labels(model, n)
    output = get_output(model.output)

    def draw_pixel(i, x):
        row, col = i // width, i % width
        out = model.apply({"params": params}, x, labels)[:, row, col]  # [n, maps]
        pixel = output.sample(jax.random.fold_in(key, i), out, channels, model.num_mixtures)
        return x.at[:, row, col].set(pixel)

    canvas = jnp.zeros((n, height, width, channels), jnp.float32)
    return lax.fori_loop(0, height * width, draw_pixel, canvas)


# ---------------------------------------------------------------------------------------
# PixelRNN's Row LSTM


class RowLSTM(nn.Module):
    """One Row LSTM layer (van den Oord et al. 2016, "Pixel Recurrent Neural Networks",
    Sec. 3.1), rows processed top to bottom, a whole row per step:

        [o, f, i, g] = K^ss (*) h_{r-1} + K^is (*) x_r,
        c_r = sigmoid(f) c_{r-1} + sigmoid(i) tanh(g),   h_r = sigmoid(o) tanh(c_r),

    K^is a 1 x k input-to-state convolution along the row with mask B (the pixels left of
    each one and itself), K^ss a 1-D convolution of width k over the previous row's state
    (its receptive field above is a triangle); output x + h (residual). x [B, H, W, F] ->
    [B, H, W, F]; `cond` [B, K] (a one-hot class) or None is added to every gate."""

    features: int
    kernel_size: int = 3

    @nn.compact
    def __call__(self, x: jax.Array, cond: jax.Array | None = None) -> jax.Array:
        f, k = self.features, self.kernel_size
        gates_in = MaskedConv(4 * f, (1, k), "horizontal", "B", name="input_to_state")(x)
        if cond is not None:
            gates_in = gates_in + nn.Dense(4 * f, use_bias=False)(cond)[:, None, None, :]
        kernel = self.param("state_to_state", nn.initializers.lecun_normal(), (k, f, 4 * f))

        def row(carry, gates_row):  # gates_row [B, W, 4F]
            h, c = carry
            z = gates_row + lax.conv_general_dilated(
                h, kernel, (1,), "SAME", dimension_numbers=("NWC", "WIO", "NWC")
            )
            o, forget, i, g = jnp.split(z, 4, axis=-1)
            c = jax.nn.sigmoid(forget) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h

        zeros = jnp.zeros_like(x[:, 0, :, :1]) * jnp.zeros(f, x.dtype)  # [B, W, F], x's sharding
        _, hs = lax.scan(row, (zeros, zeros), jnp.moveaxis(gates_in, 1, 0))  # over rows
        return x + jnp.moveaxis(hs, 0, 1)


class PixelRNN(nn.Module):
    """PixelRNN with Row LSTM layers, the interface of ``PixelCNN`` (so ``log_likelihood``,
    ``objective`` and ``sample`` take either): a 7 x 7 mask-A input convolution (the rows
    above and the pixels to the left, as two masked convolutions), `num_layers` residual
    ``RowLSTM`` layers of `features` units, then ReLU, 1x1 conv, ReLU, 1x1 conv to the
    per-pixel distribution's parameters."""

    image_shape: Sequence[int]  # (H, W, C)
    features: int = 32
    num_layers: int = 2
    kernel_size: int = 3
    output: str = "softmax"
    num_mixtures: int = 5
    num_classes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        if tuple(x.shape[1:]) != tuple(self.image_shape):
            raise ValueError(
                f"PixelRNN for {tuple(self.image_shape)} images got x of shape {x.shape}."
            )
        if self.num_classes and labels is None:
            raise ValueError("A class-conditional PixelRNN (num_classes > 0) needs labels [B].")
        cond = jax.nn.one_hot(labels, self.num_classes) if self.num_classes else None
        h = MaskedConv(self.features, (7, 7), "vertical", "A")(x)
        h = h + MaskedConv(self.features, (1, 7), "horizontal", "A")(x)
        for _ in range(self.num_layers):
            h = RowLSTM(self.features, self.kernel_size)(h, cond)
        num_maps = get_output(self.output).num_maps(x.shape[-1], self.num_mixtures)
        h = nn.Conv(self.features, (1, 1))(nn.relu(h))
        return nn.Conv(num_maps, (1, 1))(nn.relu(h))
