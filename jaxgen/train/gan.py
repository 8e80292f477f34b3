"""Training of generative adversarial networks: the k-step GAN train step and the noise ->
image GAN built on it.

- `gan_step(d_objective, g_objective, k)`: one training step of any GAN in this package, k
  discriminator (critic) updates then one generator update (Goodfellow et al. 2014,
  Algorithm 1), through `TrainState.apply_gradients(part=...)`; the image-to-image GANs
  (`jaxgen.train.pix2pix`, `jaxgen.train.cyclegan`) compose their steps from it too.
- `GAN`: a generator, a discriminator (networks of `jaxgen.models.gan` and
  `jaxgen.models.stylegan`) and the objective's settings (loss kinds, k, penalty weights,
  conditioning): the original GAN, DCGAN (Radford et al. 2016), the conditional GAN (Mirza
  & Osindero 2014), WGAN-GP (Gulrajani et al. 2017), SN-GAN (Miyato et al. 2018), MSG-GAN
  (Karnewar & Wang 2020) and StyleGAN (Karras et al. 2019). `init`, the objectives,
  `optimizers`, and `generate` / `sample` from (EMA) params with their `ema_model_state`.

The params of a GAN are {'generator': ..., 'discriminator': ...}, its model state (batch
statistics, spectral-norm vectors) {'generator': {collection: ...}, 'discriminator': {...}}.
Latents are z ~ N(0, I). Every network takes `train`: batch statistics and power iteration
in training, running averages and stored vectors otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxgen import losses
from jaxgen.data import DATA_AXIS
from jaxgen.models.gan import BN_MOMENTUM, finest, image_pyramid
from jaxgen.models.types import Batch, Metrics, ObjectiveOutput, PyTree
from jaxgen.train import optim
from jaxgen.train.state import TrainState
from jaxgen.train.step import Step, global_norm

GENERATOR, DISCRIMINATOR = "generator", "discriminator"

# objective(part_params, state, batch, key) -> (loss, (metrics, part_model_state))
Objective = Callable[[PyTree, TrainState, Batch, jax.Array], ObjectiveOutput]


# ---------------------------------------------------------------------------------------------
# The training step.


def gan_step(d_objective: Objective, g_objective: Objective, k: int = 1) -> Step:
    """A per-device `step(state, batch, key) -> (state, metrics)` for `train.build_step`.

    k discriminator updates, then one generator update (Goodfellow et al. 2014, Algorithm 1):

        for i in 0..k-1:  theta_D <- theta_D - lr grad_D d_objective   (key fold_in(key, i))
        theta_G <- theta_G - lr grad_G g_objective                      (key fold_in(key, k))

    `d_objective(d_params, state, batch, key)` and `g_objective(g_params, state, batch, key)`
    return (loss, (metrics, part_model_state)): the mean loss, a dict of scalar metrics, and
    the new model state of their part (state.model_state[part], e.g. batch statistics). Each
    sub-step sees the state left by the previous one; the k discriminator sub-steps are
    unrolled (k is small; inside a `lax.scan` XLA:CPU runs the discriminator's kernel
    gradients about 10x slower, jax-ml/jax#12868) and reuse the step's real batch with
    fresh latents. Metrics:
    'd_*' (averaged over the k sub-steps) and 'g_*', each part's 'loss' and 'grad_norm' (the
    L2 norm of this device's gradient) included.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k (discriminator updates per generator update) must be >= 1, got {k}.")

    def update(state, part, objective, batch, key):
        grad_fn = jax.value_and_grad(objective, has_aux=True)
        (loss, (metrics, part_state)), grads = grad_fn(state.params[part], state, batch, key)
        model_state = {**state.model_state, part: part_state}
        state = state.apply_gradients(grads, part=part, model_state=model_state)
        return state, {"loss": loss, **metrics, "grad_norm": global_norm(grads)}

    def step(state, batch, key):
        d_metrics = []
        for i in range(k):
            d_key = jax.random.fold_in(key, i)
            state, metrics = update(state, DISCRIMINATOR, d_objective, batch, d_key)
            d_metrics.append(metrics)
        d_metrics = jax.tree.map(lambda *v: jnp.stack(v), *d_metrics)
        state, g_metrics = update(state, GENERATOR, g_objective, batch, jax.random.fold_in(key, k))
        return state, {
            **{f"d_{name}": jnp.mean(v) for name, v in d_metrics.items()},
            **{f"g_{name}": v for name, v in g_metrics.items()},
        }

    return step


def apply_net(
    module: nn.Module,
    params: PyTree,
    model_state: dict[str, PyTree],
    *args: Any,
    key: jax.Array,
    train: bool,
    method: Callable | None = None,
) -> tuple[Any, dict[str, PyTree]]:
    """(output, model_state'): `module.apply` in training mode (batch statistics, power
    iteration; the model-state collections mutable) or in inference mode (model_state
    returned as is). `key` seeds the 'noise' and 'dropout' streams of the networks using them."""
    variables = {"params": params, **model_state}
    rngs = {"noise": jax.random.fold_in(key, 0), "dropout": jax.random.fold_in(key, 1)}
    if not train:
        return module.apply(variables, *args, train=False, rngs=rngs, method=method), model_state
    out, updated = module.apply(
        variables, *args, train=True, rngs=rngs, method=method, mutable=list(model_state)
    )
    return out, {**model_state, **updated}


def standing_stats(
    module: nn.Module, params: PyTree, model_state: dict[str, PyTree], *args: Any, key: jax.Array
) -> dict[str, PyTree]:
    """`model_state` with its batch-norm averages replaced by the batch statistics of
    `module` with `params` on the inputs `args` (Brock et al. 2019, "standing statistics").

    The running averages are collected with the raw training params; the EMA params
    produce other activations and need their own statistics. Measured in one training-mode
    pass (vmapped over a size-1 'data' axis, which the batch norms average over) from zero
    running averages, which then hold (1 - BN_MOMENTUM) times the batch statistics.
    """
    if "batch_stats" not in model_state:
        return model_state
    zeros = {**model_state, "batch_stats": jax.tree.map(jnp.zeros_like, model_state["batch_stats"])}

    def measure(*inputs):
        return apply_net(module, params, zeros, *inputs, key=key, train=True)[1]["batch_stats"]

    stats = jax.vmap(measure, axis_name=DATA_AXIS)(*jax.tree.map(lambda x: x[None], args))
    stats = jax.tree.map(lambda s: s[0] / (1.0 - BN_MOMENTUM), stats)
    return {**model_state, "batch_stats": stats}


def optimizers(
    name: str,
    g_learning_rate: float,
    d_learning_rate: float,
    *,
    b1: float = 0.5,
    b2: float = 0.999,
    momentum: float = 0.5,
    clip_norm: float = 0.0,
    weight_clip: float = 0.0,
) -> dict[str, optax.GradientTransformation]:
    """{'generator': ..., 'discriminator': ...}, the TrainState's `tx` of a GAN: "adam" (b1,
    b2; Radford et al. 2016: lr 2e-4, b1 0.5; WGAN-GP: 1e-4, b1 0, b2 0.9), "rmsprop" (WGAN:
    lr 5e-5) or "sgd" with momentum (Goodfellow et al. 2014), after clipping each gradient
    to global norm `clip_norm` if > 0 (`optim.clip`); with `weight_clip` c > 0 every
    discriminator weight is clipped to [-c, c] after each update (WGAN's critic,
    `optim.clip_weights`). The choice matters for the saturating loss: Adam rescales its
    vanishing gradients back to unit step sizes, SGD lets them vanish."""
    make = {
        "adam": lambda lr: optim.adam(lr, clip_norm, b1=b1, b2=b2),
        "rmsprop": lambda lr: optax.chain(*optim.clip(clip_norm), optax.rmsprop(lr)),
        "sgd": lambda lr: optax.chain(*optim.clip(clip_norm), optax.sgd(lr, momentum=momentum)),
    }
    if name not in make:
        raise ValueError(f"Unknown optimizer {name!r}; use one of {', '.join(make)}.")
    discriminator = make[name](d_learning_rate)
    if weight_clip > 0:
        discriminator = optax.chain(discriminator, optim.clip_weights(weight_clip))
    return {GENERATOR: make[name](g_learning_rate), DISCRIMINATOR: discriminator}


def adam(
    g_learning_rate: float, d_learning_rate: float, b1: float = 0.5, b2: float = 0.999
) -> dict[str, optax.GradientTransformation]:
    """`optimizers("adam", ...)`."""
    return optimizers("adam", g_learning_rate, d_learning_rate, b1=b1, b2=b2)


# ---------------------------------------------------------------------------------------------
# A noise -> image GAN: init, objectives, step, sampling.


@dataclasses.dataclass(frozen=True)
class GAN:
    """A generator G(z[, y]), a discriminator D(x[, y]) and how they are trained.

    d_loss / g_loss: kinds of `losses.discriminator_loss` / `losses.generator_loss`
      ("minimax" + "saturating" or "non_saturating" is the original game; "wasserstein" for
      WGAN-GP; "hinge" for SN-GAN).
    k: discriminator updates per generator update (n_critic of WGAN-GP).
    gp_weight: lambda of the WGAN-GP gradient penalty (10 in Gulrajani et al. 2017).
    r1_weight: gamma of the R1 penalty gamma/2 E ||grad D(x)||^2 (Mescheder et al. 2018;
      StyleGAN's choice).
    conditional: feed the batch's labels to both networks (cGAN).
    """

    generator: nn.Module
    discriminator: nn.Module
    latent_dim: int
    d_loss: str = "minimax"
    g_loss: str = "non_saturating"
    k: int = 1
    gp_weight: float = 0.0
    r1_weight: float = 0.0
    conditional: bool = False

    def __post_init__(self):
        losses.discriminator_loss(jnp.zeros(1), jnp.zeros(1), self.d_loss)  # checks the kinds
        losses.generator_loss(jnp.zeros(1), self.g_loss)
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k (D updates per G update) must be an int >= 1, got {self.k}.")
        penalized = self.gp_weight > 0 or self.r1_weight > 0
        if penalized and getattr(self.discriminator, "normalization", None) == "batch":
            raise ValueError(
                "Gradient penalties need a discriminator acting on each example alone; use "
                "normalization 'layer' or 'none' instead of 'batch'."
            )
        if penalized and getattr(self.generator, "multi_scale", False):
            raise ValueError("Gradient penalties are not defined for multi-scale inputs.")
        if min(self.gp_weight, self.r1_weight) < 0 or self.latent_dim < 1:
            raise ValueError("gp_weight and r1_weight must be >= 0 and latent_dim >= 1.")

    def step(self) -> Step:
        """The training step: `gan_step` over this GAN's objectives."""
        return gan_step(
            lambda p, state, batch, key: discriminator_objective(self, p, state, batch, key),
            lambda p, state, batch, key: generator_objective(self, p, state, batch, key),
            self.k,
        )


def labels(gan: GAN, batch: Batch) -> jax.Array | None:
    """The batch's labels y [B] for a conditional GAN, else None."""
    return batch["label"] if gan.conditional else None


def sample_latents(key: jax.Array, n: int, latent_dim: int) -> jax.Array:
    """z ~ N(0, I): [n, latent_dim]."""
    return jax.random.normal(key, (n, latent_dim))


def init(gan: GAN, key: jax.Array, images: jax.Array) -> tuple[PyTree, PyTree]:
    """(params, model_state) of both networks for a batch shaped like `images` [B, H, W, C];
    the discriminator is initialized on the generator's output (one or several scales)."""
    k_g, k_d, k_noise = jax.random.split(key, 3)
    b = images.shape[0]
    z = jnp.zeros((b, gan.latent_dim))
    y = jnp.zeros((b,), jnp.int32) if gan.conditional else None
    rngs = {"params": k_g, "noise": k_noise, "dropout": k_noise}
    g_vars = gan.generator.init(rngs, z, y, train=False)
    x_fake = gan.generator.apply(g_vars, z, y, train=False, rngs=rngs)
    if finest(x_fake).shape != images.shape:
        raise ValueError(
            f"The generator makes images of shape {finest(x_fake).shape[1:]}, the data has "
            f"{images.shape[1:]}; set the generator's image_shape to the dataset's."
        )
    d_vars = gan.discriminator.init({"params": k_d}, x_fake, y, train=False)
    g_params, d_params = g_vars.pop("params"), d_vars.pop("params")
    return (
        {GENERATOR: g_params, DISCRIMINATOR: d_params},
        {GENERATOR: dict(g_vars), DISCRIMINATOR: dict(d_vars)},
    )


def match_scales(x_real: jax.Array, x_fake: jax.Array | list[jax.Array]) -> Any:
    """The real images at the scales of the generator's output (an MSG-GAN pyramid)."""
    if isinstance(x_fake, list | tuple):
        return image_pyramid(x_real, len(x_fake))
    return x_real


def discriminator_objective(
    gan: GAN, d_params: PyTree, state: TrainState, batch: Batch, key: jax.Array
) -> tuple[jax.Array, tuple[Metrics, PyTree]]:
    """Mean over the batch of the discriminator loss of `gan.d_loss` on x ~ data and
    G(z), z ~ N(0, I) (G in training mode, no gradient to G), plus
    gp_weight * (||grad D(x_hat)|| - 1)^2 and r1_weight / 2 * ||grad D(x)||^2.

    For "minimax" this is the ascent on log D(x) + log(1 - D(G(z))) of Goodfellow et al.
    (2014), written as the descent on its negative. Metrics: 'real_logit', 'fake_logit'
    (mean D outputs: their gap is the critic's Wasserstein estimate for WGAN-GP) and the
    penalties.
    """
    k_z, k_g, k_d, k_gp = jax.random.split(key, 4)
    x_real, y = batch["image"], labels(gan, batch)
    params, model_state = state.params, state.model_state
    z = sample_latents(k_z, x_real.shape[0], gan.latent_dim)
    x_fake, _ = apply_net(
        gan.generator, params[GENERATOR], model_state[GENERATOR], z, y, key=k_g, train=True
    )
    x_fake = lax.stop_gradient(x_fake)
    x_real = match_scales(x_real, x_fake)
    d_state = model_state[DISCRIMINATOR]
    real_logits, d_state = apply_net(
        gan.discriminator, d_params, d_state, x_real, y, key=k_d, train=True
    )
    fake_logits, d_state = apply_net(
        gan.discriminator, d_params, d_state, x_fake, y, key=k_d, train=True
    )
    loss, _ = losses.discriminator_loss(real_logits, fake_logits, gan.d_loss)  # [B]
    metrics = {"real_logit": jnp.mean(real_logits), "fake_logit": jnp.mean(fake_logits)}

    def critic(x):  # per example: inference mode (no batch statistics, stored u)
        return apply_net(gan.discriminator, d_params, d_state, x, y, key=k_d, train=False)[0]

    if gan.gp_weight > 0:
        gp, terms = losses.gradient_penalty(critic, x_real, x_fake, k_gp)
        loss = loss + gan.gp_weight * gp
        metrics |= {
            "gradient_penalty": jnp.mean(gp),
            "critic_grad_norm": jnp.mean(terms["grad_norm"]),
        }
    if gan.r1_weight > 0:
        r1 = losses.r1_penalty(critic, x_real)
        loss = loss + 0.5 * gan.r1_weight * r1
        metrics |= {"r1": jnp.mean(r1)}
    return jnp.mean(loss), (metrics, d_state)


def generator_objective(
    gan: GAN, g_params: PyTree, state: TrainState, batch: Batch, key: jax.Array
) -> tuple[jax.Array, tuple[Metrics, PyTree]]:
    """Mean over the batch of the generator loss of `gan.g_loss` on D(G(z)): "saturating"
    log(1 - D(G(z))) (the minimax game) or "non_saturating" -log D(G(z)) (Goodfellow et al.
    2014, Sec. 3), or -D(G(z)) for a critic. D in training mode (batch statistics), its
    model state unchanged. Metrics: 'fake_logit', and 'fake_prob' = mean D(G(z)) (read as
    sigmoid(logit), meaningful for the minimax losses)."""
    k_z, k_g, k_d = jax.random.split(key, 3)
    y = labels(gan, batch)
    params, model_state = state.params, state.model_state
    z = sample_latents(k_z, batch["image"].shape[0], gan.latent_dim)
    x_fake, g_state = apply_net(
        gan.generator, g_params, model_state[GENERATOR], z, y, key=k_g, train=True
    )
    fake_logits, _ = apply_net(
        gan.discriminator,
        params[DISCRIMINATOR],
        model_state[DISCRIMINATOR],
        x_fake,
        y,
        key=k_d,
        train=True,
    )
    loss = losses.generator_loss(fake_logits, gan.g_loss)  # [B]
    metrics = {
        "fake_logit": jnp.mean(fake_logits),
        "fake_prob": jnp.mean(jax.nn.sigmoid(fake_logits)),
    }
    return jnp.mean(loss), (metrics, g_state)


def ema_model_state(
    gan: GAN, params: PyTree, model_state: PyTree, key: jax.Array, num_latents: int = 256
) -> PyTree:
    """The model state to generate with from `params` (the EMA params): the generator's
    standing statistics on num_latents z ~ N(0, I) (classes balanced if conditional)."""
    k_z, k_g = jax.random.split(key)
    z = sample_latents(k_z, num_latents, gan.latent_dim)
    y = jnp.arange(num_latents) % gan.generator.num_classes if gan.conditional else None
    g_state = standing_stats(
        gan.generator, params[GENERATOR], model_state[GENERATOR], z, y, key=k_g
    )
    return {**model_state, GENERATOR: g_state}


def generate(
    gan: GAN,
    params: PyTree,
    model_state: PyTree,
    z: jax.Array,
    y: jax.Array | None = None,
    key: jax.Array | None = None,
) -> jax.Array | list[jax.Array]:
    """G(z[, y]) in inference mode (running batch statistics): [N, H, W, C] in [-1, 1], or the
    list of scales of a multi-scale generator. `params` may be the EMA params."""
    key = jax.random.PRNGKey(0) if key is None else key
    g_params, g_state = params[GENERATOR], model_state[GENERATOR]
    return apply_net(gan.generator, g_params, g_state, z, y, key=key, train=False)[0]


def sample(
    gan: GAN,
    params: PyTree,
    model_state: PyTree,
    key: jax.Array,
    n: int,
    y: jax.Array | None = None,
) -> jax.Array:
    """n images G(z), z ~ N(0, I) (labels y [n] for a conditional GAN): [n, H, W, C]."""
    k_z, k_g = jax.random.split(key)
    return finest(
        generate(gan, params, model_state, sample_latents(k_z, n, gan.latent_dim), y, k_g)
    )
