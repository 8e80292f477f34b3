"""Multi-scale normalizing flows on images: Glow (Kingma & Dhariwal 2018) with RealNVP's
checkerboard or channel coupling masks (Dinh et al. 2017).

A flow is a bijection z = f(x) with log p(x) = log N(z; 0, I) + log |det df/dx|. Every
layer is called as layer(x, reverse=False) -> (y, logdet), logdet [B] = log |det dy/dx| of
the map it applied: f's step forward, its inverse with reverse=True (then -logdet of f).

``Glow``: `levels` times [squeeze, `steps_per_level` x (ActNorm, invertible 1x1 conv,
affine coupling), split], the last level without the split. Each split factors out half
the channels with a learned conditional prior N(mu(h), sigma(h)^2) and passes on the
standardised eps = (z - mu) / sigma, so f maps x to eps ~ N(0, I) of x's dimension, flat:
sampling at temperature T decodes eps ~ N(0, T^2 I), interpolation is linear in eps.

Images with L distinct values are dequantized uniformly over each value's bin
(``losses.uniform_dequantize``), so -log p / (D ln 2) with the data-scale correction
log((L - 1) / 2) of ``metrics.nll_to_bits_per_dim`` upper-bounds the discrete bits/dim.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from jaxgen import losses
from jaxgen.models.types import Batch, ObjectiveOutput, PyTree

COUPLING_MASKS = ("checkerboard", "channel")


def num_pixels(x: jax.Array) -> int:
    """H * W of [B, H, W, C]: the per-pixel layers' log-determinant multiplier."""
    return x.shape[1] * x.shape[2]


class ActNorm(nn.Module):
    """y = (x + b) exp(log_s) per channel, b and log_s initialised from the first batch so
    that y has zero mean and unit variance per channel (Kingma & Dhariwal 2018, Sec. 3.1):
    the data-dependent initialisation needs `init` to run forward on real data.
    logdet = H W sum_c log_s_c."""

    @nn.compact
    def __call__(self, x: jax.Array, reverse: bool = False) -> tuple[jax.Array, jax.Array]:
        axes = tuple(range(x.ndim - 1))
        bias = self.param("bias", lambda _: -jnp.mean(x, axes))
        log_scale = self.param("log_scale", lambda _: -jnp.log(jnp.std(x, axes) + 1e-6))
        logdet = jnp.full(x.shape[:1], num_pixels(x) * jnp.sum(log_scale))
        if reverse:
            return x * jnp.exp(-log_scale) - bias, -logdet
        return (x + bias) * jnp.exp(log_scale), logdet


def lu_rotation(key: jax.Array, num_channels: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(L, U, log_s) with L (unit lower) (U + diag(exp(log_s))) (U strictly upper) a random
    rotation: the LU factors W0 = P L U of a random orthogonal W0 for S P^T W0, S = diag(
    sign(diag U)), which is orthogonal too (L -> S L S, U -> S U make the diagonal > 0).
    Glow's fixed permutation and signs are thus folded into the initial rotation."""
    w0 = jnp.linalg.qr(jax.random.normal(key, (num_channels, num_channels)))[0]
    _, lower, upper = jax.scipy.linalg.lu(w0)
    sign = jnp.sign(jnp.diag(upper))
    lower = sign[:, None] * lower * sign[None, :]
    upper = sign[:, None] * upper
    return jnp.tril(lower, -1), jnp.triu(upper, 1), jnp.log(jnp.abs(jnp.diag(upper)))


class InvConv1x1(nn.Module):
    """Invertible 1x1 convolution y = W x at every pixel, LU-parametrised:
    W = L (U + diag(exp(log_s))), L unit lower-, U strictly upper-triangular, so
    logdet = H W sum log_s costs O(C) (Kingma & Dhariwal 2018, Sec. 3.2). W starts as a
    random rotation (`lu_rotation`)."""

    @nn.compact
    def __call__(self, x: jax.Array, reverse: bool = False) -> tuple[jax.Array, jax.Array]:
        c = x.shape[-1]
        init = lu_rotation(self.make_rng("params"), c) if self.is_initializing() else (None,) * 3
        lower = self.param("lower", lambda _: init[0])
        upper = self.param("upper", lambda _: init[1])
        log_s = self.param("log_s", lambda _: init[2])
        l_mat = jnp.tril(lower, -1) + jnp.eye(c)
        u_mat = jnp.triu(upper, 1) + jnp.diag(jnp.exp(log_s))
        logdet = jnp.full(x.shape[:1], num_pixels(x) * jnp.sum(log_s))
        if reverse:  # W^-1 = U^-1 L^-1 by two triangular solves
            l_inv = solve_triangular(l_mat, jnp.eye(c), lower=True, unit_diagonal=True)
            w_inv = solve_triangular(u_mat, l_inv, lower=False)
            return jnp.einsum("...c,dc->...d", x, w_inv), -logdet
        return jnp.einsum("...c,dc->...d", x, l_mat @ u_mat), logdet


def coupling_mask(kind: str, shape: Sequence[int], parity: int) -> np.ndarray:
    """[H, W, C] 0/1 mask m of the pass-through half: 'checkerboard' m = (i + j + parity)
    even (RealNVP's spatial mask), 'channel' m = first half of the channels (second half
    for parity 1)."""
    h, w, c = shape
    if kind == "checkerboard":
        ij = np.add.outer(np.arange(h), np.arange(w)) + parity
        return np.broadcast_to((ij % 2 == 0)[:, :, None], shape).astype(np.float32)
    if kind == "channel":
        if c < 2:
            raise ValueError(f"A channel mask needs >= 2 channels, got {c}; squeeze first.")
        first = np.arange(c) < c // 2
        return np.broadcast_to(first if parity == 0 else ~first, shape).astype(np.float32)
    raise ValueError(f"Unknown coupling mask {kind!r}; use one of {', '.join(COUPLING_MASKS)}.")


class AffineCoupling(nn.Module):
    """y = m x + (1 - m) (x s + t), (log s, t) = NN(m x, m) (Dinh et al. 2017, Eq. 9), with
    Glow's bounded scale s = sigmoid(a + 2); logdet = sum (1 - m) log s. NN: Conv 3x3, ReLU,
    Conv 1x1, ReLU, Conv 3x3 initialised at zero (so s, t start constant)."""

    hidden: int
    mask: str
    parity: int

    @nn.compact
    def __call__(self, x: jax.Array, reverse: bool = False) -> tuple[jax.Array, jax.Array]:
        m = jnp.asarray(coupling_mask(self.mask, x.shape[1:], self.parity))
        x_id = x * m  # equal to y * m: the network's input is known in both directions
        h = jnp.concatenate([x_id, jnp.broadcast_to(m, x.shape)], axis=-1)
        h = nn.relu(nn.Conv(self.hidden, (3, 3))(h))
        h = nn.relu(nn.Conv(self.hidden, (1, 1))(h))
        zeros = nn.initializers.zeros
        a, t = jnp.split(nn.Conv(2 * x.shape[-1], (3, 3), kernel_init=zeros)(h), 2, axis=-1)
        log_s = jax.nn.log_sigmoid(a + 2.0) * (1.0 - m)
        t = t * (1.0 - m)
        logdet = jnp.sum(log_s, axis=(1, 2, 3))
        if reverse:
            return x_id + (1.0 - m) * (x - t) * jnp.exp(-log_s), -logdet
        return x_id + (1.0 - m) * (x * jnp.exp(log_s) + t), logdet


class FlowStep(nn.Module):
    """One step of Glow: ActNorm -> InvConv1x1 -> AffineCoupling (reversed for the inverse)."""

    hidden: int
    mask: str
    parity: int

    def setup(self):
        self.layers = (ActNorm(), InvConv1x1(), AffineCoupling(self.hidden, self.mask, self.parity))

    def __call__(self, x: jax.Array, reverse: bool = False) -> tuple[jax.Array, jax.Array]:
        logdet = jnp.zeros(x.shape[:1])
        for layer in reversed(self.layers) if reverse else self.layers:
            x, ld = layer(x, reverse)
            logdet = logdet + ld
        return x, logdet


def squeeze(x: jax.Array) -> jax.Array:
    """Space-to-depth [B, H, W, C] -> [B, H/2, W/2, 4C] (each 2x2 block to channels)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h // 2, w // 2, 4 * c)


def unsqueeze(x: jax.Array) -> jax.Array:
    """Depth-to-space, the inverse of `squeeze`."""
    b, h, w, c = x.shape
    x = x.reshape(b, h, w, 2, 2, c // 4).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, 2 * h, 2 * w, c // 4)


class Split(nn.Module):
    """Factor-out of half the channels (Dinh et al. 2017, Sec. 3.6) with Glow's learned
    prior: h = [z, h'], (mu, log_sigma) = Conv 3x3(h') initialised at zero,
    eps = (z - mu) exp(-log_sigma); logdet = -sum log_sigma."""

    channels: int  # of z (and of h'): half of h's

    def setup(self):
        self.prior = nn.Conv(2 * self.channels, (3, 3), kernel_init=nn.initializers.zeros)

    def forward(self, h: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """h [B, H, W, 2C] -> (h' [B, H, W, C], eps [B, H, W, C], logdet [B])."""
        z, h_keep = jnp.split(h, 2, axis=-1)
        mu, log_sigma = jnp.split(self.prior(h_keep), 2, axis=-1)
        return h_keep, (z - mu) * jnp.exp(-log_sigma), -jnp.sum(log_sigma, axis=(1, 2, 3))

    def inverse(self, h_keep: jax.Array, eps: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(h', eps) -> (h = [mu + sigma eps, h'], logdet [B] of this inverse map)."""
        mu, log_sigma = jnp.split(self.prior(h_keep), 2, axis=-1)
        z = mu + jnp.exp(log_sigma) * eps
        return jnp.concatenate([z, h_keep], axis=-1), jnp.sum(log_sigma, axis=(1, 2, 3))


def latent_shapes(image_shape: Sequence[int], levels: int) -> list[tuple[int, int, int]]:
    """Shapes [(h, w, c)] of the eps each level factors out, the top level's last; their
    sizes add up to H W C."""
    h, w, c = image_shape
    if levels < 1 or h % 2**levels or w % 2**levels:
        raise ValueError(
            f"{levels} levels halve {h}x{w} images {levels} times: the size must be "
            f"divisible by 2^levels = {2**levels} (e.g. levels=2 for 28x28 or 8x8)."
        )
    shapes = []
    for level in range(levels):
        h, w, c = h // 2, w // 2, 4 * c
        if level < levels - 1:
            c //= 2
        shapes.append((h, w, c))
    return shapes


class Glow(nn.Module):
    """Multi-scale flow x [B, H, W, C] <-> eps [B, H W C] (module docstring).

    __call__(x) = forward(x) -> (eps, logdet of f); inverse(eps) -> (x, logdet of f^-1).
    `coupling_mask`: 'channel' (Glow) or 'checkerboard' (RealNVP); the mask's parity
    alternates from step to step. `init` must be called forward on real data (ActNorm)."""

    image_shape: Sequence[int]  # (H, W, C)
    levels: int = 2
    steps_per_level: int = 4
    hidden: int = 64
    coupling_mask: str = "channel"

    def setup(self):
        shapes = latent_shapes(self.image_shape, self.levels)
        if self.coupling_mask not in COUPLING_MASKS:
            raise ValueError(
                f"Unknown coupling mask {self.coupling_mask!r}; use one of "
                f"{', '.join(COUPLING_MASKS)}."
            )
        k = self.steps_per_level
        self.steps = [
            FlowStep(self.hidden, self.coupling_mask, parity=i % 2) for i in range(self.levels * k)
        ]
        self.splits = [Split(shape[-1]) for shape in shapes[:-1]]

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.forward(x)

    def forward(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        if tuple(x.shape[1:]) != tuple(self.image_shape):
            raise ValueError(f"Glow for {tuple(self.image_shape)} images got x of shape {x.shape}.")
        k, b = self.steps_per_level, x.shape[0]
        h, logdet, eps = x, jnp.zeros(b), []
        for level in range(self.levels):
            h = squeeze(h)
            for step in self.steps[level * k : (level + 1) * k]:
                h, ld = step(h)
                logdet = logdet + ld
            if level < self.levels - 1:
                h, e, ld = self.splits[level].forward(h)
                eps.append(e.reshape(b, -1))
                logdet = logdet + ld
        return jnp.concatenate([*eps, h.reshape(b, -1)], axis=-1), logdet

    def inverse(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        shapes = latent_shapes(self.image_shape, self.levels)
        sizes = [int(np.prod(s)) for s in shapes]
        if z.ndim != 2 or z.shape[1] != sum(sizes):
            raise ValueError(f"Glow.inverse expects eps of shape [B, {sum(sizes)}], got {z.shape}.")
        k, b = self.steps_per_level, z.shape[0]
        parts = jnp.split(z, np.cumsum(sizes)[:-1], axis=-1)
        h, logdet = parts[-1].reshape(b, *shapes[-1]), jnp.zeros(b)
        for level in reversed(range(self.levels)):
            if level < self.levels - 1:
                h, ld = self.splits[level].inverse(h, parts[level].reshape(b, *shapes[level]))
                logdet = logdet + ld
            for step in reversed(self.steps[level * k : (level + 1) * k]):
                h, ld = step(h, reverse=True)
                logdet = logdet + ld
            h = unsqueeze(h)
        return h, logdet


def init_params(model: Glow, key: jax.Array, x: jax.Array) -> PyTree:
    """Parameters with ActNorm's data-dependent initialisation on images x [B, H, W, C]
    (dequantized with a key derived from `key`, as in training)."""
    params_key, noise_key = jax.random.split(key)
    return model.init(params_key, losses.uniform_dequantize(x, noise_key))["params"]


def log_likelihood(model: Glow, params: PyTree, y: jax.Array) -> jax.Array:
    """log p(y) [B] in nats of continuous (dequantized) images y [B, H, W, C]."""
    z, logdet = model.apply({"params": params}, y)
    return losses.flow_log_likelihood(z, logdet)


def dequantized_log_likelihood(
    model: Glow, params: PyTree, x: jax.Array, key: jax.Array, num_levels: int = 256
) -> jax.Array:
    """log p(x_k + u) [B] in nats of images x in [-1, 1] with `num_levels` distinct values,
    u uniform over each value's bin (one draw per image; ``losses.uniform_dequantize``)."""
    return log_likelihood(model, params, losses.uniform_dequantize(x, key, num_levels))


def objective(
    model: Glow,
    params: PyTree,
    model_state: PyTree,
    batch: Batch,
    key: jax.Array,
    step: jax.Array | int,
    *,
    num_levels: int = 256,
) -> ObjectiveOutput:
    """Batch mean of -log p(x_k + u), u uniform over each value's bin (nats per image)."""
    nll = -dequantized_log_likelihood(model, params, batch["image"], key, num_levels)
    return jnp.mean(nll), ({"nll": jnp.mean(nll)}, model_state)


def encode(model: Glow, params: PyTree, x: jax.Array) -> jax.Array:
    """eps = f(x) [B, D]."""
    return model.apply({"params": params}, x)[0]


def decode(model: Glow, params: PyTree, z: jax.Array) -> jax.Array:
    """f^-1(eps) [B, H, W, C] (not clipped)."""
    return model.apply({"params": params}, z, method=Glow.inverse)[0]


def sample(
    model: Glow, params: PyTree, key: jax.Array, n: int, temperature: float = 1.0
) -> jax.Array:
    """n images f^-1(T eps), eps ~ N(0, I), clipped to [-1, 1]: at temperature T the base
    N(0, T^2 I) is proportional to N(0, I)^(1/T^2), sharpened for T < 1 (Kingma & Dhariwal
    2018, Sec. 5); T = 0 gives the single image f^-1(0)."""
    d = int(np.prod(model.image_shape))
    z = temperature * jax.random.normal(key, (n, d))
    return jnp.clip(decode(model, params, z), -1.0, 1.0)


def interpolate(
    model: Glow, params: PyTree, x_a: jax.Array, x_b: jax.Array, num_steps: int
) -> jax.Array:
    """Rows [x_a, f^-1((1 - t) f(x_a) + t f(x_b)) for num_steps t in [0, 1], x_b] for image
    pairs x_a, x_b [R, H, W, C] -> [R * (num_steps + 2), H, W, C], clipped to [-1, 1]."""
    z_a, z_b = encode(model, params, x_a), encode(model, params, x_b)
    t = jnp.linspace(0.0, 1.0, num_steps)[None, :, None]
    z = (1.0 - t) * z_a[:, None] + t * z_b[:, None]  # [R, S, D]
    mid = decode(model, params, z.reshape(-1, z.shape[-1])).reshape(*z.shape[:2], *x_a.shape[1:])
    rows = jnp.concatenate([x_a[:, None], jnp.clip(mid, -1.0, 1.0), x_b[:, None]], axis=1)
    return rows.reshape(-1, *x_a.shape[1:])
