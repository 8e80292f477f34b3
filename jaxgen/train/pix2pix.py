"""Training of pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional
Adversarial Networks"): a U-Net generator G(x) (`jaxgen.models.pix2pix.EncoderDecoder`) and
a PatchGAN discriminator D(x, y) on the concatenated input and output
(`jaxgen.models.gan.Discriminator`), trained with the conditional GAN loss plus lambda * L1
through `jaxgen.train.gan.gan_step`; G's translations of held-out inputs. Pictures:
`jaxgen.evaluation.grids`.

The same step trains SRGAN (Ledig et al. 2017) with conditional=False (D sees the
high-resolution image alone: the input has another size) and its content loss as the
reconstruction term."""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import losses
from jaxgen.models.types import Batch, Metrics, PyTree
from jaxgen.train.gan import (
    DISCRIMINATOR,
    GENERATOR,
    apply_net,
    gan_step,
    standing_stats,
)
from jaxgen.train.state import TrainState
from jaxgen.train.step import Step


def init(
    generator: nn.Module,
    discriminator: nn.Module,
    key: jax.Array,
    x_source: jax.Array,
    x_target: jax.Array,
    conditional: bool = True,
) -> tuple[PyTree, PyTree]:
    """(params, model_state) of G and of D(x, y) (D(y) unless `conditional`), initialized on
    a batch of pairs."""
    k_g, k_d, k_drop = jax.random.split(key, 3)
    g_vars = generator.init({"params": k_g, "dropout": k_drop}, x_source, train=False)
    d_vars = discriminator.init(k_d, d_input(x_source, x_target, conditional), train=False)
    g_params, d_params = g_vars.pop("params"), d_vars.pop("params")
    return (
        {GENERATOR: g_params, DISCRIMINATOR: d_params},
        {GENERATOR: dict(g_vars), DISCRIMINATOR: dict(d_vars)},
    )


def d_input(x: jax.Array, y: jax.Array, conditional: bool) -> jax.Array:
    """What D sees of a pair: [x, y] along the channels (pix2pix), or y alone."""
    return jnp.concatenate([x, y], -1) if conditional else y


def discriminator_objective(
    nets: tuple[nn.Module, nn.Module],
    make_source: Callable[[jax.Array], jax.Array],
    d_params: PyTree,
    state: TrainState,
    batch: Batch,
    key: jax.Array,
    conditional: bool = True,
) -> tuple[jax.Array, tuple[Metrics, PyTree]]:
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
        discriminator, d_params, d_state, d_input(x, y, conditional), key=k_d, train=True
    )
    fake, d_state = apply_net(
        discriminator, d_params, d_state, d_input(x, y_fake, conditional), key=k_d, train=True
    )
    loss, _ = losses.discriminator_loss(real, fake, "minimax")  # [B]
    metrics = {"real_logit": jnp.mean(real), "fake_logit": jnp.mean(fake)}
    return 0.5 * jnp.mean(loss), (metrics, d_state)


def generator_objective(
    nets: tuple[nn.Module, nn.Module],
    make_source: Callable[[jax.Array], jax.Array],
    l1_weight: float,
    g_params: PyTree,
    state: TrainState,
    batch: Batch,
    key: jax.Array,
    reconstruction: Callable[[jax.Array, jax.Array], jax.Array] = losses.pix2pix_l1_loss,
    conditional: bool = True,
) -> tuple[jax.Array, tuple[Metrics, PyTree]]:
    """-log D(x, G(x)) + lambda ||y - G(x)||_1 (Isola et al. 2017, eq. 4, non-saturating;
    lambda = 100 in the paper), averaged over the batch; `reconstruction`(G(x), y) -> [B]
    in the L1's place (SRGAN: its content loss, lambda = 1 / 10^-3)."""
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
        d_input(x, y_fake, conditional),
        key=k_d,
        train=True,
    )
    adversarial = losses.generator_loss(fake, "non_saturating")  # [B]
    r = reconstruction(y_fake, y)  # [B]
    metrics = {"adversarial": jnp.mean(adversarial), "reconstruction": jnp.mean(r)}
    return jnp.mean(adversarial + l1_weight * r), (metrics, g_state)


def make_step(
    generator: nn.Module,
    discriminator: nn.Module,
    make_source: Callable[[jax.Array], jax.Array],
    l1_weight: float,
    reconstruction: Callable[[jax.Array, jax.Array], jax.Array] = losses.pix2pix_l1_loss,
    conditional: bool = True,
) -> Step:
    """The training step (`gan_step`, k = 1): targets y are the batch's images, inputs
    x = make_source(y) (e.g. their edge maps, or their downsampling for SRGAN)."""
    nets = (generator, discriminator)
    return gan_step(
        lambda p, state, batch, key: discriminator_objective(
            nets, make_source, p, state, batch, key, conditional
        ),
        lambda p, state, batch, key: generator_objective(
            nets, make_source, l1_weight, p, state, batch, key, reconstruction, conditional
        ),
        k=1,
    )


def translate(
    generator: nn.Module, params: PyTree, model_state: PyTree, x: jax.Array, key: jax.Array
) -> jax.Array:
    """G(x) in inference mode (running batch statistics; dropout stays on, as in the paper)."""
    g_params, g_state = params[GENERATOR], model_state[GENERATOR]
    return apply_net(generator, g_params, g_state, x, key=key, train=False)[0]


def translate_standing(
    generator: nn.Module, params: PyTree, model_state: PyTree, x: jax.Array, key: jax.Array
) -> jax.Array:
    """G(x) normalized by the batch statistics of the inputs x themselves
    (`standing_stats`; pix2pix too normalizes test batches by their own statistics),
    dropout on: how the sample grid and the evaluation translate held-out inputs."""
    k_stats, k_g = jax.random.split(key)
    g_state = standing_stats(generator, params[GENERATOR], model_state[GENERATOR], x, key=k_stats)
    return translate(generator, params, {**model_state, GENERATOR: g_state}, x, k_g)
