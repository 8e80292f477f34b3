"""pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial
Networks"): a U-Net generator G(x), a PatchGAN discriminator D(x, y) on the concatenated
input and output, trained with the conditional GAN loss plus lambda * L1. Also the
encoder-decoder shared with CycleGAN, whose ResNet generator differs by two flags."""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import losses
from jaxgen.models import conv
from jaxgen.models import gan as gan_lib
from jaxgen.models.gan import DISCRIMINATOR, GENERATOR, apply_net


class ResidualBlock(nn.Module):
    """x + conv3x3(relu(norm(conv3x3(x)))) followed by norm (Johnson et al. 2016)."""

    normalization: str = "instance"

    @nn.compact
    def __call__(self, x, train=False):
        h = nn.Conv(x.shape[-1], (3, 3))(x)
        h = nn.relu(gan_lib.normalization(self.normalization, train)(h))
        h = nn.Conv(x.shape[-1], (3, 3))(h)
        return x + gan_lib.normalization(self.normalization, train)(h)


class EncoderDecoder(nn.Module):
    """Image-to-image generator x [B, H, W, C_in] -> [B, H, W, out_channels] in [-1, 1].

    Encoder: per width a 4x4 conv with stride 2, normalization (not on the first layer),
    LeakyReLU(0.2): e_1 .. e_n at H/2 .. H/2^n. Bottleneck: `num_res_blocks` residual
    blocks. Decoder: 4x4 fractionally-strided convs back through the widths, normalization,
    dropout at rate `dropout_rate` on the first three (applied at test time too: pix2pix's
    only noise source z), ReLU; a last one to out_channels with tanh.

    skip_connections=True, num_res_blocks=0, "batch": the U-Net of pix2pix (Isola et al.
    2017, Sec. 3.1.1; decoder level i sees [up(h), e_i], so low-level detail such as edge
    positions shuttles across). skip_connections=False, num_res_blocks > 0, "instance": the
    ResNet generator of CycleGAN (Johnson et al. 2016; Zhu et al. 2017, without the 7x7
    stride-1 stem and output layers).
    """

    out_channels: int
    widths: Sequence[int] = (64, 128, 256)
    skip_connections: bool = True
    num_res_blocks: int = 0
    normalization: str = "batch"
    dropout_rate: float = 0.5

    @nn.compact
    def __call__(self, x, train=False):
        gan_lib.base_resolution(x.shape[1:], len(self.widths))  # checks the size divides
        skips, h = [], x
        for i, width in enumerate(self.widths):
            h = nn.Conv(width, (4, 4), strides=2)(h)
            if i > 0:
                h = gan_lib.normalization(self.normalization, train)(h)
            h = nn.leaky_relu(h, 0.2)
            skips.append(h)
        for _ in range(self.num_res_blocks):
            h = ResidualBlock(self.normalization)(h, train)
        for level, width in enumerate(reversed(self.widths[:-1])):
            h = conv.ConvTranspose(width, (4, 4), strides=(2, 2))(h)
            h = gan_lib.normalization(self.normalization, train)(h)
            if level < 3 and self.dropout_rate > 0:
                h = nn.Dropout(self.dropout_rate, deterministic=False)(h)
            h = nn.relu(h)
            if self.skip_connections:
                h = jnp.concatenate([h, skips[-2 - level]], axis=-1)
        return jnp.tanh(conv.ConvTranspose(self.out_channels, (4, 4), strides=(2, 2))(h))


def init(generator, discriminator, key, x_source, x_target):
    """(params, model_state) of G and of D(x, y), initialized on a batch of pairs."""
    k_g, k_d, k_drop = jax.random.split(key, 3)
    g_vars = generator.init({"params": k_g, "dropout": k_drop}, x_source, train=False)
    d_vars = discriminator.init(k_d, jnp.concatenate([x_source, x_target], -1), train=False)
    g_params, d_params = g_vars.pop("params"), d_vars.pop("params")
    return (
        {GENERATOR: g_params, DISCRIMINATOR: d_params},
        {GENERATOR: dict(g_vars), DISCRIMINATOR: dict(d_vars)},
    )


def discriminator_objective(nets, make_source, d_params, state, batch, key):
    """(1/2) [-log D(x, y) - log(1 - D(x, G(x)))] averaged over patches and the batch, the
    halved cGAN discriminator loss of Isola et al. (eq. 1 and Sec. 3.3); x = make_source(y),
    the targets y the batch's images. `nets` = (generator, discriminator)."""
    generator, discriminator = nets
    k_g, k_d = jax.random.split(key)
    y = batch["image"]
    x = make_source(y)
    g_state, d_state = state.model_state[GENERATOR], state.model_state[DISCRIMINATOR]
    y_fake, _ = apply_net(generator, state.params[GENERATOR], g_state, x, key=k_g, train=True)
    y_fake = jax.lax.stop_gradient(y_fake)
    real, d_state = apply_net(
        discriminator, d_params, d_state, jnp.concatenate([x, y], -1), key=k_d, train=True
    )
    fake, d_state = apply_net(
        discriminator, d_params, d_state, jnp.concatenate([x, y_fake], -1), key=k_d, train=True
    )
    loss, _ = losses.discriminator_loss(real, fake, "minimax")  # [B]
    metrics = {"real_logit": jnp.mean(real), "fake_logit": jnp.mean(fake)}
    return 0.5 * jnp.mean(loss), (metrics, d_state)


def generator_objective(nets, make_source, l1_weight, g_params, state, batch, key):
    """-log D(x, G(x)) + lambda ||y - G(x)||_1 (Isola et al. 2017, eq. 4, non-saturating;
    lambda = 100 in the paper), averaged over the batch."""
    generator, discriminator = nets
    k_g, k_d = jax.random.split(key)
    y = batch["image"]
    x = make_source(y)
    g_state, d_state = state.model_state[GENERATOR], state.model_state[DISCRIMINATOR]
    y_fake, g_state = apply_net(generator, g_params, g_state, x, key=k_g, train=True)
    fake, _ = apply_net(
        discriminator,
        state.params[DISCRIMINATOR],
        d_state,
        jnp.concatenate([x, y_fake], -1),
        key=k_d,
        train=True,
    )
    adversarial = losses.generator_loss(fake, "non_saturating")  # [B]
    l1 = losses.pix2pix_l1_loss(y_fake, y)  # [B]
    metrics = {"adversarial": jnp.mean(adversarial), "l1": jnp.mean(l1)}
    return jnp.mean(adversarial + l1_weight * l1), (metrics, g_state)


def make_step(generator, discriminator, make_source, l1_weight):
    """The training step (`gan.gan_step`, k = 1): targets y are the batch's images, inputs
    x = make_source(y) (e.g. their edge maps)."""
    nets = (generator, discriminator)
    return gan_lib.gan_step(
        lambda p, state, batch, key: discriminator_objective(
            nets, make_source, p, state, batch, key
        ),
        lambda p, state, batch, key: generator_objective(
            nets, make_source, l1_weight, p, state, batch, key
        ),
        k=1,
    )


def translate(generator, params, model_state, x, key):
    """G(x) in inference mode (running batch statistics; dropout stays on, as in the paper)."""
    g_params, g_state = params[GENERATOR], model_state[GENERATOR]
    return apply_net(generator, g_params, g_state, x, key=key, train=False)[0]


def translate_standing(generator, params, model_state, x, key):
    """G(x) normalized by the batch statistics of the inputs x themselves
    (`gan.standing_stats`; pix2pix too normalizes test batches by their own statistics),
    dropout on: how the sample grid and the evaluation translate held-out inputs."""
    k_stats, k_g = jax.random.split(key)
    g_state = gan_lib.standing_stats(
        generator, params[GENERATOR], model_state[GENERATOR], x, key=k_stats
    )
    return translate(generator, params, {**model_state, GENERATOR: g_state}, x, k_g)


def triplet_grid(x_source, y_fake, y_target, per_row):
    """(input, output, target) triplets: row r holds pairs r * per_row .. (r + 1) * per_row - 1
    as x, G(x), y side by side. [N / per_row, 3 * per_row, ...] for N pairs."""
    triplets = jnp.stack([x_source, y_fake, y_target], axis=1)  # [N, 3, ...]
    n = x_source.shape[0] // per_row * per_row
    return triplets[:n].reshape(n // per_row, 3 * per_row, *x_source.shape[1:])


def sample_hook(generator, x_source, y_target, n):
    """`sample(state, key)`: a square grid of n cells of triplets (input edge map, output,
    target) of pairs drawn by `key` from the held-out (x_source, y_target) arrays, by the
    EMA params (`translate_standing`)."""
    side = max(3, gan_lib.grid_size(n) // 3 * 3)
    count = side * side // 3
    if count > len(x_source):
        raise ValueError(f"{count} held-out pairs needed for the grid, {len(x_source)} given.")

    @jax.jit
    def draw(params, model_state, key, x_source, y_target):
        k_pick, k_g = jax.random.split(key)
        idx = jax.random.choice(k_pick, x_source.shape[0], (count,), replace=False)
        x_source, y_target = x_source[idx], y_target[idx]
        y_fake = translate_standing(generator, params, model_state, x_source, k_g)
        return gan_lib.square(triplet_grid(x_source, y_fake, y_target, side // 3))

    return lambda state, key: draw(state.ema_params, state.model_state, key, x_source, y_target)
