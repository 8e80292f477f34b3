"""StyleGAN-style generator (Karras, Laine & Aila 2019, "A Style-Based Generator Architecture
for Generative Adversarial Networks"): a mapping network z -> w, a synthesis network from a
learned constant whose every convolution is followed by per-pixel noise and AdaIN(x, A(w)).
Trained as a `jaxgen.train.gan.GAN` with the DCGAN discriminator; its style-mixing demo is
`jaxgen.evaluation.grids.style_mixing_grid`."""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.models import gan as gan_lib


def adain(
    x: jax.Array, style_scale: jax.Array, style_bias: jax.Array, eps: float = 1e-5
) -> jax.Array:
    """Adaptive instance normalization (Huang & Belongie 2017; Karras et al. 2019, eq. 1):

        AdaIN(x_i, y) = y_s,i (x_i - mu(x_i)) / sigma(x_i) + y_b,i

    per example and channel i, mu and sigma over the spatial axes: the output's per-channel
    mean and standard deviation are the style's (y_b, |y_s|).

    Args:
      x: [B, H, W, C] features.
      style_scale, style_bias: [B, C], sigma(w) and mu(w).
    """
    mu = jnp.mean(x, axis=(1, 2), keepdims=True)
    var = jnp.var(x, axis=(1, 2), keepdims=True)
    x_norm = (x - mu) * jax.lax.rsqrt(var + eps)
    return style_scale[:, None, None, :] * x_norm + style_bias[:, None, None, :]


def pixel_norm(z: jax.Array, eps: float = 1e-8) -> jax.Array:
    """z / sqrt(mean(z^2) + eps) over the last axis (Karras et al. 2018), applied to z."""
    return z * jax.lax.rsqrt(jnp.mean(jnp.square(z), axis=-1, keepdims=True) + eps)


def upsample(x: jax.Array) -> jax.Array:
    """2x nearest-neighbour upsampling of [B, H, W, C]."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class MappingNetwork(nn.Module):
    """f: z [B, D] -> w [B, w_dim]: pixel norm, then `depth` Dense + LeakyReLU(0.2) layers
    (8 layers of 512 in the paper)."""

    w_dim: int = 64
    depth: int = 4

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        h = pixel_norm(z)
        for _ in range(self.depth):
            h = nn.leaky_relu(nn.Dense(self.w_dim)(h), 0.2)
        return h


class AdaIN(nn.Module):
    """AdaIN(x, w) with the style y = (y_s, y_b) = A(w), A a learned affine map; y_s is
    parametrised as 1 + A_s(w) so that the block starts close to instance normalization."""

    @nn.compact
    def __call__(self, x: jax.Array, w: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        style = nn.Dense(2 * channels, kernel_init=nn.initializers.normal(0.01))(w)
        y_s, y_b = jnp.split(style, 2, axis=-1)
        return adain(x, 1.0 + y_s, y_b)


class NoiseInput(nn.Module):
    """x + B * eps: one single-channel Gaussian noise image eps [B, H, W, 1] per layer (from
    the 'noise' rng, or given), B a learned per-channel scale initialised at 0 (Karras
    et al. 2019, Sec. 3.2: stochastic detail such as hair placement)."""

    @nn.compact
    def __call__(self, x: jax.Array, noise: jax.Array | None = None) -> jax.Array:
        scale = self.param("noise_scale", nn.initializers.zeros, (x.shape[-1],))
        if noise is None:
            noise = jax.random.normal(self.make_rng("noise"), (*x.shape[:3], 1), x.dtype)
        return x + scale * noise


class SynthesisNetwork(nn.Module):
    """g: styles ws [B, L, w_dim] -> [B, H, W, C] in [-1, 1].

    From a learned constant at H / 2^(n-1), one block per width (in reverse order, coarse
    to fine), each: [upsample, 3x3 conv] (not in the first block), noise, LeakyReLU,
    AdaIN(., ws[:, 2i]); 3x3 conv, noise, LeakyReLU, AdaIN(., ws[:, 2i + 1]). Then a 1x1 conv
    to C channels and tanh. L = 2 * len(widths) styles: layer l < 2i + 2 controls the
    resolutions up to block i (coarse styles first).
    """

    image_shape: Sequence[int]
    widths: Sequence[int] = (64, 128)

    @nn.compact
    def __call__(self, ws: jax.Array) -> jax.Array:
        bh, bw = gan_lib.base_resolution(self.image_shape, len(self.widths) - 1)
        const = self.param("const", nn.initializers.ones, (1, bh, bw, self.widths[-1]))
        x = jnp.broadcast_to(const, (ws.shape[0], bh, bw, self.widths[-1]))
        for i, width in enumerate(reversed(self.widths)):
            if i > 0:
                x = nn.Conv(width, (3, 3))(upsample(x))
            x = AdaIN()(nn.leaky_relu(NoiseInput()(x), 0.2), ws[:, 2 * i])
            x = nn.Conv(width, (3, 3))(x)
            x = AdaIN()(nn.leaky_relu(NoiseInput()(x), 0.2), ws[:, 2 * i + 1])
        return jnp.tanh(nn.Conv(self.image_shape[-1], (1, 1))(x))


def mix_styles(w1: jax.Array, w2: jax.Array, crossover: jax.Array) -> jax.Array:
    """Styles [B, L, w_dim]: w1 for the layers l < crossover [B], w2 from there on
    (Karras et al. 2019, Sec. 3.1)."""
    num_styles = w1.shape[1]
    take_first = jnp.arange(num_styles)[None, :] < crossover[:, None]  # [B, L]
    return jnp.where(take_first[..., None], w1, w2)


class StyleGenerator(nn.Module):
    """G(z) = g(f(z)): z [B, D] -> [B, H, W, C] in [-1, 1], with the same call signature as
    `gan.Generator` (labels are not supported). In training, with probability
    `mixing_prob` per example, a second z' drives the layers from a random crossover on
    (mixing regularization, Karras et al. 2019, Sec. 3.1: 90% in the paper), which keeps
    neighbouring styles from being correlated and makes the style-mixing demo clean."""

    image_shape: Sequence[int]
    widths: Sequence[int] = (64, 128)
    w_dim: int = 64
    mapping_depth: int = 4
    mixing_prob: float = 0.9

    @property
    def num_styles(self) -> int:
        return 2 * len(self.widths)

    def setup(self):
        self.mapping_network = MappingNetwork(self.w_dim, self.mapping_depth)
        self.synthesis_network = SynthesisNetwork(self.image_shape, self.widths)

    def mapping(self, z: jax.Array, train: bool = False) -> jax.Array:
        """w = f(z): [B, w_dim]."""
        return self.mapping_network(z)

    def synthesis(self, ws: jax.Array, train: bool = False) -> jax.Array:
        """g(ws) for per-layer styles ws [B, L, w_dim]."""
        return self.synthesis_network(ws)

    def __call__(self, z: jax.Array, y: jax.Array | None = None, train: bool = False) -> jax.Array:
        if y is not None:
            raise ValueError("StyleGenerator is unconditional; train it without labels.")
        w = self.mapping(z)
        ws = jnp.repeat(w[:, None], self.num_styles, axis=1)  # [B, L, w_dim]
        if train and self.mixing_prob > 0:
            k_z, k_c, k_p = jax.random.split(self.make_rng("noise"), 3)
            w2 = jnp.repeat(
                self.mapping(jax.random.normal(k_z, z.shape))[:, None], self.num_styles, 1
            )
            crossover = jax.random.randint(k_c, (z.shape[0],), 1, self.num_styles)
            mixed = jax.random.bernoulli(k_p, self.mixing_prob, (z.shape[0],))
            ws = mix_styles(ws, w2, jnp.where(mixed, crossover, self.num_styles))
        return self.synthesis(ws)
