"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks"): generators G: A -> B and F: B -> A, discriminators D_B (judging
G(a) against b) and D_A (F(b) against a), trained with the least-squares GAN loss plus
lambda_cyc (||F(G(a)) - a||_1 + ||G(F(b)) - b||_1) and optionally the identity loss.

The params are {'generator': {'G': ..., 'F': ...}, 'discriminator': {'D_A': ..., 'D_B':
...}}, so `jaxgen.train.gan.gan_step` updates both generators (and both discriminators)
together, as in the paper. The networks are `jaxgen.models.pix2pix.EncoderDecoder` (the
ResNet generator) and `jaxgen.models.gan.Discriminator` (a PatchGAN). The unpaired domains
are image pools (e.g. `jaxgen.data.paired.class_domains`) from which every step draws a
batch per domain; the loader's batch sets only the batch size. Not implemented: the paper's
history buffer of 50 generated images for D. Pictures: `jaxgen.evaluation.grids`.

DualGAN (Yi et al. 2017) is the same dual game with Wasserstein critics (kind "wasserstein",
weight clipping, k = n_critic critic updates per generator update) and U-Net generators.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import losses
from jaxgen.models.types import Batch, Metrics, PyTree
from jaxgen.train.gan import (
    DISCRIMINATOR,
    GENERATOR,
    apply_net,
    gan_step,
)
from jaxgen.train.state import TrainState
from jaxgen.train.step import Step

G, F = "G", "F"  # G: A -> B, F: B -> A
D_A, D_B = "D_A", "D_B"


def init(
    generator: nn.Module, discriminator: nn.Module, key: jax.Array, x_a: jax.Array, x_b: jax.Array
) -> tuple[PyTree, PyTree]:
    """(params, model_state) of G, F (one `generator` architecture) and D_A, D_B."""
    keys = jax.random.split(key, 4)
    g_vars = {
        G: generator.init({"params": keys[0], "dropout": keys[0]}, x_a, train=False),
        F: generator.init({"params": keys[1], "dropout": keys[1]}, x_b, train=False),
    }
    d_vars = {
        D_A: discriminator.init(keys[2], x_a, train=False),
        D_B: discriminator.init(keys[3], x_b, train=False),
    }
    params = {
        GENERATOR: {n: v.pop("params") for n, v in g_vars.items()},
        DISCRIMINATOR: {n: v.pop("params") for n, v in d_vars.items()},
    }
    model_state = {
        GENERATOR: {n: dict(v) for n, v in g_vars.items()},
        DISCRIMINATOR: {n: dict(v) for n, v in d_vars.items()},
    }
    return params, model_state


def sample_domains(
    key: jax.Array, pool_a: np.ndarray | jax.Array, pool_b: np.ndarray | jax.Array, batch_size: int
) -> Batch:
    """{'a': [B, H, W, C], 'b': [B, H, W, C]} float32 in [-1, 1], drawn uniformly with
    replacement from the uint8 pools, independently: the domains are unpaired."""
    k_a, k_b = jax.random.split(key)

    def draw(k, pool):
        pool = jnp.asarray(pool)
        x = pool[jax.random.randint(k, (batch_size,), 0, pool.shape[0])]
        return jnp.clip(x.astype(jnp.float32) / 127.5 - 1.0, -1.0, 1.0)  # exact at 0 and 255

    return {"a": draw(k_a, pool_a), "b": draw(k_b, pool_b)}


class Nets:
    """Applies the four networks of one state, threading their model states (training mode)."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module | None,
        params: PyTree,
        model_state: PyTree,
        key: jax.Array,
        train: bool = True,
    ):
        self.modules = {G: generator, F: generator, D_A: discriminator, D_B: discriminator}
        self.params = {**params[GENERATOR], **params[DISCRIMINATOR]}
        self.states = {**model_state[GENERATOR], **model_state[DISCRIMINATOR]}
        self.key, self.train, self.calls = key, train, 0

    def __call__(self, name: str, x: jax.Array) -> jax.Array:
        self.calls += 1
        key = jax.random.fold_in(self.key, self.calls)
        out, self.states[name] = apply_net(
            self.modules[name], self.params[name], self.states[name], x, key=key, train=self.train
        )
        return out

    def part_state(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {n: self.states[n] for n in names}


def discriminator_objective(
    generator: nn.Module,
    discriminator: nn.Module,
    kind: str,
    d_params: PyTree,
    state: TrainState,
    batch: Batch,
    key: jax.Array,
) -> tuple[jax.Array, tuple[Metrics, PyTree]]:
    """(1/2) [L_D(D_B; b, G(a)) + L_D(D_A; a, F(b))] averaged over the batch, with the
    discriminator loss `kind` ("least_squares" in the paper: (D(b) - 1)^2 + D(G(a))^2),
    halved "to slow down the rate at which D learns" (Zhu et al. 2017, Sec. 4)."""
    params = {**state.params, DISCRIMINATOR: d_params}
    nets = Nets(generator, discriminator, params, state.model_state, key)
    a, b = batch["a"], batch["b"]
    fake_b, fake_a = jax.lax.stop_gradient((nets(G, a), nets(F, b)))
    loss_b, _ = losses.discriminator_loss(nets(D_B, b), nets(D_B, fake_b), kind)  # [B]
    loss_a, _ = losses.discriminator_loss(nets(D_A, a), nets(D_A, fake_a), kind)
    metrics = {"loss_a": jnp.mean(loss_a), "loss_b": jnp.mean(loss_b)}
    return 0.5 * jnp.mean(loss_a + loss_b), (metrics, nets.part_state((D_A, D_B)))


def generator_objective(
    generator: nn.Module,
    discriminator: nn.Module,
    kind: str,
    cycle_weight: float,
    identity_weight: float,
    g_params: PyTree,
    state: TrainState,
    batch: Batch,
    key: jax.Array,
) -> tuple[jax.Array, tuple[Metrics, PyTree]]:
    """L_GAN(G, D_B) + L_GAN(F, D_A) + lambda_cyc L_cyc(G, F) + lambda_id L_id (Zhu et al.
    2017, eq. 3; lambda_cyc = 10): L_GAN the generator loss `kind`, L_cyc =
    ||F(G(a)) - a||_1 + ||G(F(b)) - b||_1 (`losses.cycle_consistency_loss`) and the identity
    loss L_id = ||G(b) - b||_1 + ||F(a) - a||_1 (Sec. 5.2; 0.5 lambda_cyc when used), all
    mean absolute errors per example, averaged over the batch."""
    params = {**state.params, GENERATOR: g_params}
    nets = Nets(generator, discriminator, params, state.model_state, key)
    a, b = batch["a"], batch["b"]
    fake_b, fake_a = nets(G, a), nets(F, b)
    adv_g = losses.generator_loss(nets(D_B, fake_b), kind)  # [B]
    adv_f = losses.generator_loss(nets(D_A, fake_a), kind)
    cycle, _ = losses.cycle_consistency_loss(a, nets(F, fake_b), b, nets(G, fake_a))
    loss = adv_g + adv_f + cycle_weight * cycle
    metrics = {"adversarial": jnp.mean(adv_g + adv_f), "cycle": jnp.mean(cycle)}
    if identity_weight > 0:  # the L1 of pix2pix: mean |x - y| per example
        identity = losses.pix2pix_l1_loss(nets(G, b), b) + losses.pix2pix_l1_loss(nets(F, a), a)
        loss = loss + identity_weight * identity
        metrics["identity"] = jnp.mean(identity)
    return jnp.mean(loss), (metrics, nets.part_state((G, F)))


def make_step(
    generator: nn.Module,
    discriminator: nn.Module,
    pool_a: np.ndarray,
    pool_b: np.ndarray,
    *,
    kind: str = "least_squares",
    cycle_weight: float = 10.0,
    identity_weight: float = 0.0,
    k: int = 1,
) -> Step:
    """The training step: a batch per domain drawn from the pools (the loader's batch gives
    only the per-device batch size), then `gan_step` with k discriminator updates per
    generator update (DualGAN's n_critic)."""
    inner = gan_step(
        lambda p, state, batch, key: discriminator_objective(
            generator, discriminator, kind, p, state, batch, key
        ),
        lambda p, state, batch, key: generator_objective(
            generator, discriminator, kind, cycle_weight, identity_weight, p, state, batch, key
        ),
        k=k,
    )

    def step(state, batch, key):
        k_data, k_step = jax.random.split(key)
        domains = sample_domains(k_data, pool_a, pool_b, batch["image"].shape[0])
        return inner(state, domains, k_step)

    return step
