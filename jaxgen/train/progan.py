"""Training of progressive GANs (Karras et al. 2018; the networks: jaxgen.models.progan).

The schedule in steps: level 0 (4x4) for `phase_steps`, then per level l >= 1 a fade-in
phase (alpha rising linearly from 0 to 1) and a stable phase of `phase_steps` each; the last
level stays. During a fade-in the real images are blended alike,
(1 - alpha) up(down^{L-l}(x)) + alpha down^{L-1-l}(x), so D compares like with like. The
level is a traced value: every step is `lax.switch` over the levels' programs (each compiled
once), so the shared loop, checkpoints and resume work unchanged.

Loss: WGAN-GP with the drift term (sec. A.1): E[D(G(z))] - E[D(x)] + lambda GP
+ eps_drift E[D(x)^2], lambda = 10, eps_drift = 0.001; the generator -E[D(G(z))]; Adam
lr 1e-3, b1 0, b2 0.99.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from jaxgen import losses
from jaxgen.models import progan
from jaxgen.models.types import PyTree
from jaxgen.train.gan import DISCRIMINATOR, GENERATOR, gan_step, sample_latents
from jaxgen.train.step import Step

DRIFT = 1e-3
GP_WEIGHT = 10.0


def schedule(step: jax.Array, phase_steps: int, num_levels: int) -> tuple[jax.Array, jax.Array]:
    """(level, alpha) of training step `step` (module doc)."""
    phase = step // phase_steps
    level = jnp.minimum((phase + 1) // 2, num_levels - 1)
    fading = (phase % 2 == 1) & (phase < 2 * num_levels - 1)
    alpha = jnp.where(fading, (step % phase_steps) / phase_steps, 1.0)
    return level.astype(jnp.int32), alpha.astype(jnp.float32)


def real_at(x: jax.Array, level: int, alpha: jax.Array, num_levels: int) -> jax.Array:
    """The full-size real images x at `level`, blended during its fade-in (module doc)."""
    for _ in range(num_levels - 1 - level):
        x = progan.down(x)
    if level == 0:
        return x
    return (1.0 - alpha) * progan.up(progan.down(x)) + alpha * x


def to_full_size(x: jax.Array, num_levels: int, level: int) -> jax.Array:
    """Nearest-neighbour upsampling of level-`level` images to the last level's size."""
    for _ in range(num_levels - 1 - level):
        x = progan.up(x)
    return x


def make_step(
    generator: progan.Generator,
    discriminator: progan.Discriminator,
    latent_dim: int,
    phase_steps: int,
    prepare: Callable[[jax.Array], jax.Array] = lambda x: x,
) -> Step:
    """gan_step (k = 1) of the WGAN-GP + drift objectives at the scheduled level; batches'
    images go through `prepare` (e.g. padding to a power of 2) first."""
    num_levels = len(generator.widths)

    def at_level(objective):
        def run(params, state, batch, key):
            level, alpha = schedule(state.step, phase_steps, num_levels)
            branches = [
                lambda p, lv=lv: objective(p, state, prepare(batch["image"]), key, lv, alpha)
                for lv in range(num_levels)
            ]
            return lax.switch(level, branches, params)

        return run

    def fake(g_params, key, n, level, alpha):
        z = sample_latents(key, n, latent_dim)
        return generator.apply({"params": g_params}, z, alpha, level)

    def d_objective(d_params, state, x, key, level, alpha):
        k_z, k_gp = jax.random.split(key)
        x_real = real_at(x, level, alpha, num_levels)
        x_fake = lax.stop_gradient(fake(state.params[GENERATOR], k_z, len(x), level, alpha))
        critic = lambda images: discriminator.apply({"params": d_params}, images, alpha, level)  # noqa: E731
        real, fake_scores = critic(x_real), critic(x_fake)
        loss, _ = losses.discriminator_loss(real, fake_scores, "wasserstein")
        gp, _ = losses.gradient_penalty(critic, x_real, x_fake, k_gp)
        loss = loss + GP_WEIGHT * gp + DRIFT * jnp.square(real)
        metrics = {"wasserstein": jnp.mean(real - fake_scores), "level": level, "alpha": alpha}
        return jnp.mean(loss), (metrics, state.model_state[DISCRIMINATOR])

    def g_objective(g_params, state, x, key, level, alpha):
        x_fake = fake(g_params, key, len(x), level, alpha)
        scores = discriminator.apply({"params": state.params[DISCRIMINATOR]}, x_fake, alpha, level)
        loss = losses.generator_loss(scores, "wasserstein")
        return jnp.mean(loss), ({}, state.model_state[GENERATOR])

    return gan_step(at_level(d_objective), at_level(g_objective), k=1)


def init(
    generator: progan.Generator,
    discriminator: progan.Discriminator,
    key: jax.Array,
    latent_dim: int,
    channels: int,
) -> tuple[PyTree, PyTree]:
    """(params, model_state) of both networks with every level's layers."""
    k_g, k_d = jax.random.split(key)
    z, x = jnp.zeros((2, latent_dim)), jnp.zeros((2, 4, 4, channels))
    params = {
        GENERATOR: progan.init_all_levels(generator, k_g, z),
        DISCRIMINATOR: progan.init_all_levels(discriminator, k_d, x),
    }
    return params, {GENERATOR: {}, DISCRIMINATOR: {}}


def generate(
    generator: progan.Generator, params: PyTree, z: jax.Array, level: jax.Array, alpha: jax.Array
) -> jax.Array:
    """G(z) at the traced `level` and `alpha`, at the last level's size: [N, H, W, C]."""
    num_levels = len(generator.widths)
    branches = [
        lambda z, lv=lv: to_full_size(
            generator.apply({"params": params}, z, alpha, lv), num_levels, lv
        )
        for lv in range(num_levels)
    ]
    return lax.switch(level, branches, z)
