"""Generative adversarial networks: the networks, the k-step training step and the demo grids.

- `gan_step(d_objective, g_objective, k)`: one training step of any GAN in this package, k
  discriminator (critic) updates then one generator update (Goodfellow et al. 2014,
  Algorithm 1), through `TrainState.apply_gradients(part=...)`.
- `GAN`: a generator, a discriminator and the objective's settings (loss kinds, k, penalty
  weights, conditioning), with `init`, `step`, `sample` and the demo grids of the noise ->
  image GANs: the original GAN (`MLPGenerator`/`MLPDiscriminator`), DCGAN (`Generator`,
  `Discriminator`; Radford et al. 2016), the conditional GAN (labels fed to both; Mirza &
  Osindero 2014), WGAN-GP (Gulrajani et al. 2017), SN-GAN (Miyato et al. 2018), MSG-GAN
  (Karnewar & Wang 2020) and the StyleGAN generator of `jaxgen.models.stylegan`.

The params of a GAN are {'generator': ..., 'discriminator': ...}, its model state (batch
statistics, spectral-norm vectors) {'generator': {collection: ...}, 'discriminator': {...}}.
Latents are z ~ N(0, I). Every network takes `train`: batch statistics and power iteration
in training, running averages and stored vectors otherwise.
"""

import dataclasses
import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxgen import losses
from jaxgen.data import DATA_AXIS
from jaxgen.models import conv
from jaxgen.models.spectral_norm import SpectralNorm

GENERATOR, DISCRIMINATOR = "generator", "discriminator"
BLANK = 1.0  # value of the empty cells of demo grids (white, like image_grid's borders)


# ---------------------------------------------------------------------------------------------
# The training step.


def gan_step(d_objective, g_objective, k=1):
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
        return state, {"loss": loss, **metrics, "grad_norm": optax.tree.norm(grads)}

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


def apply_net(module, params, model_state, *args, key, train, method=None):
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


# ---------------------------------------------------------------------------------------------
# Building blocks.

NORMALIZATIONS = ("batch", "instance", "layer", "none")
BN_MOMENTUM = 0.9  # running average <- m * running average + (1 - m) * batch statistic


def normalization(kind, train):
    """The normalization layer `kind` as a callable x -> x: "batch" (Ioffe & Szegedy 2015;
    statistics over the global batch across the 'data' axis in training, running averages
    otherwise, momentum BN_MOMENTUM), "instance" (Ulyanov et al. 2016), "layer" (Ba et al. 2016)
    or "none"."""
    if kind == "batch":
        return nn.BatchNorm(
            use_running_average=not train,
            momentum=BN_MOMENTUM,
            axis_name=DATA_AXIS if train else None,
        )
    if kind == "instance":
        return nn.InstanceNorm()
    if kind == "layer":
        return nn.LayerNorm()
    if kind == "none":
        return lambda x: x
    raise ValueError(f"Unknown normalization {kind!r}; use one of {', '.join(NORMALIZATIONS)}.")


def one_hot_maps(y, num_classes, height, width):
    """Labels y [B] -> one-hot feature maps [B, height, width, num_classes]."""
    onehot = jax.nn.one_hot(y, num_classes)
    return jnp.broadcast_to(onehot[:, None, None, :], (y.shape[0], height, width, num_classes))


def with_label(h, y, num_classes):
    """Concatenates the one-hot label to the features h ([B, D] or [B, H, W, C]), the cGAN's
    conditioning of both networks (Mirza & Osindero 2014); h unchanged if num_classes == 0."""
    if not num_classes:
        return h
    if y is None:
        raise ValueError("This network is conditional (num_classes > 0); pass labels y [B].")
    if h.ndim == 2:
        return jnp.concatenate([h, jax.nn.one_hot(y, num_classes)], axis=-1)
    return jnp.concatenate([h, one_hot_maps(y, num_classes, *h.shape[1:3])], axis=-1)


def base_resolution(image_shape, num_upsamplings):
    """(H, W) / 2^n, the size a generator starts from; an error if it does not divide."""
    h, w = image_shape[:2]
    scale = 2**num_upsamplings
    if h % scale or w % scale:
        raise ValueError(
            f"Image size {h}x{w} is not divisible by 2^{num_upsamplings} = {scale}; use fewer "
            "widths (one per factor of 2)."
        )
    return h // scale, w // scale


def image_pyramid(x, num_scales):
    """x [B, H, W, C] -> [x at H/2^(n-1), ..., x at H/2, x], coarse to fine (2x2 average
    pooling), the real images an MSG-GAN discriminator sees at every scale."""
    pyramid = [x]
    for _ in range(num_scales - 1):
        pyramid.insert(0, nn.avg_pool(pyramid[0], (2, 2), strides=(2, 2)))
    return pyramid


def finest(x):
    """The full-resolution image of a generator's output (the last of a multi-scale list)."""
    return x[-1] if isinstance(x, list | tuple) else x


# ---------------------------------------------------------------------------------------------
# Networks.


class MLPGenerator(nn.Module):
    """The original GAN's generator (Goodfellow et al. 2014): z [B, D] (+ one-hot y) -> Dense
    + ReLU per hidden width -> Dense -> tanh, reshaped to `image_shape`."""

    image_shape: Sequence[int]
    hidden: Sequence[int] = (256, 256)
    num_classes: int = 0

    @nn.compact
    def __call__(self, z, y=None, train=False):
        h = with_label(z, y, self.num_classes)
        for width in self.hidden:
            h = nn.relu(nn.Dense(width)(h))
        x = jnp.tanh(nn.Dense(math.prod(self.image_shape))(h))
        return x.reshape(z.shape[0], *self.image_shape)


class MLPDiscriminator(nn.Module):
    """The original GAN's discriminator: x flattened (+ one-hot y) -> Dense + LeakyReLU(0.2)
    per hidden width -> Dense(1): logits [B] (the paper's maxout units and dropout replaced
    by LeakyReLU)."""

    hidden: Sequence[int] = (256, 256)
    num_classes: int = 0

    @nn.compact
    def __call__(self, x, y=None, train=False):
        h = with_label(x.reshape(x.shape[0], -1), y, self.num_classes)
        for width in self.hidden:
            h = nn.leaky_relu(nn.Dense(width)(h), 0.2)
        return nn.Dense(1)(h)[:, 0]


class Generator(nn.Module):
    """DCGAN generator (Radford et al. 2016): z [B, D] (+ one-hot y) -> [B, H, W, C] in [-1, 1].

    Project and reshape (one Dense to a base_h x base_w x widths[-1] map, not a hidden
    layer), then fractionally-strided 4x4 convolutions (stride 2) through the widths in
    reverse, batch norm and ReLU after every layer but the last, which maps to C channels
    and ends with tanh. With `multi_scale` (MSG-GAN, Karnewar & Wang 2020) it returns a
    list of len(widths) + 1 images, coarse to fine: a 1x1 conv + tanh ("toRGB") of the
    projection and of every hidden block, then the final image.
    """

    image_shape: Sequence[int]
    widths: Sequence[int] = (64, 128)  # the discriminator's order: G uses them reversed
    normalization: str = "batch"
    num_classes: int = 0
    multi_scale: bool = False

    def __post_init__(self):
        base_resolution(self.image_shape, len(self.widths))  # at construction, before tracing
        super().__post_init__()

    @nn.compact
    def __call__(self, z, y=None, train=False):
        channels = self.image_shape[-1]
        bh, bw = base_resolution(self.image_shape, len(self.widths))
        h = nn.Dense(bh * bw * self.widths[-1])(with_label(z, y, self.num_classes))
        h = h.reshape(z.shape[0], bh, bw, self.widths[-1])
        h = nn.relu(normalization(self.normalization, train)(h))
        to_image = lambda h: jnp.tanh(nn.Conv(channels, (1, 1))(h))  # MSG-GAN's "toRGB"
        outputs = [to_image(h)] if self.multi_scale else []
        for width in reversed(self.widths[:-1]):
            h = conv.ConvTranspose(width, (4, 4), strides=(2, 2))(h)
            h = nn.relu(normalization(self.normalization, train)(h))
            if self.multi_scale:
                outputs.append(to_image(h))
        x = jnp.tanh(conv.ConvTranspose(channels, (4, 4), strides=(2, 2))(h))
        return [*outputs, x] if self.multi_scale else x


class Discriminator(nn.Module):
    """DCGAN discriminator / critic: x [B, H, W, C] (+ y) -> logits [B] (or [B, h, w]).

    Strided 4x4 convolutions (stride 2) per width, LeakyReLU(0.2), normalization after all
    but the first (Radford et al. 2016), then one linear map of the last feature map to a
    logit. Flags:
      normalization: "batch" (DCGAN), "layer" or "none" (WGAN-GP's critic needs per-example
        outputs), "instance".
      spectral_norm: every weight (conv and the output layer) divided by its largest
        singular value (SN-GAN, Miyato et al. 2018); u vectors in the 'spectral' collection.
      num_classes > 0: one-hot label maps concatenated to the input (Mirza & Osindero 2014).
      patch: a PatchGAN (Isola et al. 2017): a last 4x4 conv to one channel, logits
        [B, h, w], one per receptive field ("patch") of the input.
    x may be a list of images, coarse to fine (MSG-GAN, Karnewar & Wang 2020): the finest
    enters the first layer, each coarser one is concatenated to the features of its size
    (the combine function phi_simple), the coarsest to the last map before the output.
    """

    widths: Sequence[int] = (64, 128)
    normalization: str = "batch"
    spectral_norm: bool = False
    num_classes: int = 0
    patch: bool = False

    @nn.compact
    def __call__(self, x, y=None, train=False):
        def layer(module, h):
            if self.spectral_norm:
                return SpectralNorm(module)(h, update_stats=train)
            return module(h)

        def add_scale(h, i):  # phi_simple: concatenate the input image of h's size
            if not 0 < i < len(scales):
                return h
            if scales[-1 - i].shape[1:3] != h.shape[1:3]:
                raise ValueError(
                    f"Multi-scale input of size {scales[-1 - i].shape[1:3]} meets features of "
                    f"size {h.shape[1:3]}; scales must halve from one to the next."
                )
            return jnp.concatenate([h, scales[-1 - i]], axis=-1)

        scales = list(x) if isinstance(x, list | tuple) else [x]
        if len(scales) > len(self.widths) + 1:
            raise ValueError(
                f"{len(scales)} input scales but {len(self.widths)} discriminator blocks; use "
                "as many discriminator widths as generator widths."
            )
        h = with_label(scales[-1], y, self.num_classes)
        for i, width in enumerate(self.widths):
            h = layer(nn.Conv(width, (4, 4), strides=2), add_scale(h, i))
            if i > 0:
                h = normalization(self.normalization, train)(h)
            h = nn.leaky_relu(h, 0.2)
        h = add_scale(h, len(self.widths))
        if self.patch:
            return layer(nn.Conv(1, (4, 4)), h)[..., 0]
        return layer(nn.Dense(1), h.reshape(h.shape[0], -1))[:, 0]


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

    def step(self):
        """The training step: `gan_step` over this GAN's objectives."""
        return gan_step(
            lambda p, state, batch, key: discriminator_objective(self, p, state, batch, key),
            lambda p, state, batch, key: generator_objective(self, p, state, batch, key),
            self.k,
        )


def labels(gan, batch):
    return batch["label"] if gan.conditional else None


def sample_latents(key, n, latent_dim):
    """z ~ N(0, I): [n, latent_dim]."""
    return jax.random.normal(key, (n, latent_dim))


def init(gan, key, images):
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


def jit_init(init_fn):
    """`init_fn(key, images) -> (params, model_state)` jitted for the one call it gets: on CPU
    without backend optimization, which XLA otherwise spends seconds on for the random
    initializers (8 s -> 1.5 s for a small StyleGAN on 2 cores)."""
    options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
    return jax.jit(init_fn, compiler_options=options)


def match_scales(x_real, x_fake):
    """The real images at the scales of the generator's output (an MSG-GAN pyramid)."""
    if isinstance(x_fake, list | tuple):
        return image_pyramid(x_real, len(x_fake))
    return x_real


def discriminator_objective(gan, d_params, state, batch, key):
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


def generator_objective(gan, g_params, state, batch, key):
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


def standing_stats(module, params, model_state, *args, key):
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


def ema_model_state(gan, params, model_state, key, num_latents=256):
    """The model state to generate with from `params` (the EMA params): the generator's
    standing statistics on num_latents z ~ N(0, I) (classes balanced if conditional)."""
    k_z, k_g = jax.random.split(key)
    z = sample_latents(k_z, num_latents, gan.latent_dim)
    y = jnp.arange(num_latents) % gan.generator.num_classes if gan.conditional else None
    g_state = standing_stats(
        gan.generator, params[GENERATOR], model_state[GENERATOR], z, y, key=k_g
    )
    return {**model_state, GENERATOR: g_state}


def generate(gan, params, model_state, z, y=None, key=None):
    """G(z[, y]) in inference mode (running batch statistics): [N, H, W, C] in [-1, 1], or the
    list of scales of a multi-scale generator. `params` may be the EMA params."""
    key = jax.random.PRNGKey(0) if key is None else key
    g_params, g_state = params[GENERATOR], model_state[GENERATOR]
    return apply_net(gan.generator, g_params, g_state, z, y, key=key, train=False)[0]


def sample(gan, params, model_state, key, n, y=None):
    """n images G(z), z ~ N(0, I) (labels y [n] for a conditional GAN): [n, H, W, C]."""
    k_z, k_g = jax.random.split(key)
    return finest(
        generate(gan, params, model_state, sample_latents(k_z, n, gan.latent_dim), y, k_g)
    )


# ---------------------------------------------------------------------------------------------
# Demo grids: [rows, cols, H, W, C] arrays; `square` lays one out for `image_grid`. On a
# trained state: grid(gan, state.ema_params, ema_model_state(gan, state.ema_params,
# state.model_state, key), key, ...), or `sample_hook(gan, name, n)(state, key)`.


def square(grid):
    """A grid [R, C, H, W, ch] as S*S images [S*S, H, W, ch], S = max(R, C), the empty cells
    BLANK: `train.writers.image_grid` (ceil(sqrt(N)) columns) then shows rows as rows."""
    r, c = grid.shape[:2]
    s = max(r, c)
    padded = jnp.pad(grid, ((0, s - r), (0, s - c), (0, 0), (0, 0), (0, 0)), constant_values=BLANK)
    return padded.reshape(s * s, *grid.shape[2:])


def class_grid(gan, params, model_state, key, num_classes, per_class):
    """Conditional samples, one row per class: row c is G(z_j, c) for j < per_class, the
    same z_j in every row (so a column shows one "style" across classes). [C, per_class, ...]."""
    k_z, k_g = jax.random.split(key)
    z = sample_latents(k_z, per_class, gan.latent_dim)
    z = jnp.tile(z, (num_classes, 1))  # [C * per_class, D]
    y = jnp.repeat(jnp.arange(num_classes), per_class)
    x = finest(generate(gan, params, model_state, z, y, k_g))
    return x.reshape(num_classes, per_class, *x.shape[1:])


def slerp(z0, z1, t):
    """Spherical interpolation sin((1-t) w)/sin(w) z0 + sin(t w)/sin(w) z1, w the angle between
    z0 and z1 (White 2016, "Sampling Generative Networks"; linear when w -> 0)."""
    cos = jnp.sum(z0 * z1, -1, keepdims=True) / (
        jnp.linalg.norm(z0, axis=-1, keepdims=True) * jnp.linalg.norm(z1, axis=-1, keepdims=True)
    )
    omega = jnp.arccos(jnp.clip(cos, -1.0, 1.0))
    so = jnp.sin(omega)
    safe = so > 1e-6
    so = jnp.where(safe, so, 1.0)
    a = jnp.where(safe, jnp.sin((1.0 - t) * omega) / so, 1.0 - t)
    b = jnp.where(safe, jnp.sin(t * omega) / so, t)
    return a * z0 + b * z1


def interpolation_grid(gan, params, model_state, key, num_rows, num_steps, spherical=False):
    """Walks in latent space (Radford et al. 2016, Sec. 6.1): row i is G(z(t)) for t in
    num_steps equal steps of [0, 1], z(t) = (1 - t) z_i0 + t z_i1 (or `slerp`). Smooth
    transitions, not memorized jumps, indicate a learned manifold. [rows, steps, ...]."""
    k0, k1, k_g = jax.random.split(key, 3)
    z0 = sample_latents(k0, num_rows, gan.latent_dim)[:, None]  # [R, 1, D]
    z1 = sample_latents(k1, num_rows, gan.latent_dim)[:, None]
    t = jnp.linspace(0.0, 1.0, num_steps)[None, :, None]  # [1, S, 1]
    z = slerp(z0, z1, t) if spherical else (1.0 - t) * z0 + t * z1  # [R, S, D]
    x = finest(generate(gan, params, model_state, z.reshape(-1, gan.latent_dim), None, k_g))
    return x.reshape(num_rows, num_steps, *x.shape[1:])


def nearest_neighbour_labels(reference_images, reference_labels):
    """A labeller x [N, H, W, C] -> labels [N] of each image's nearest reference image in
    pixel space (L2), for selecting generated images by class without a trained classifier."""
    ref = jnp.asarray(reference_images, jnp.float32).reshape(len(reference_images), -1)
    ref_labels = jnp.asarray(reference_labels)

    def label_fn(x):
        x = x.reshape(x.shape[0], -1)
        d2 = jnp.sum(x * x, 1)[:, None] - 2.0 * x @ ref.T + jnp.sum(ref * ref, 1)[None, :]
        return ref_labels[jnp.argmin(d2, axis=1)]

    return label_fn


def ink(x):
    """Mean intensity per image in [0, 1] (stroke weight of a light-on-dark image): [N]."""
    return jnp.mean((x + 1.0) / 2.0, axis=tuple(range(1, x.ndim)))


def arithmetic_grid(
    gan,
    params,
    model_state,
    key,
    label_fn,
    classes,
    *,
    num_exemplars=3,
    num_candidates=512,
    noise_scale=0.25,
):
    """Vector arithmetic on latents (Radford et al. 2016, Sec. 6.3, Fig. 7), with the
    attribute "ink" (stroke weight) in place of "smiling" and classes in place of gender:

        z_res = mean z(bold c1) - mean z(thin c1) + mean z(thin c2)   ->   a bold c2

    From num_candidates samples, labelled by `label_fn` (e.g. `nearest_neighbour_labels`),
    the num_exemplars boldest of class c1, the thinnest of c1 and the thinnest of c2 are
    averaged (averaging, as in the paper, makes the arithmetic stable). Rows: the three
    groups (exemplars, then G(mean z) in the last column), and G(z_res) followed by
    G(z_res + noise_scale * eps) variants. [4, num_exemplars + 1, ...].
    """
    k_z, k_g, k_eps = jax.random.split(key, 3)
    c1, c2 = classes
    z = sample_latents(k_z, num_candidates, gan.latent_dim)
    x = finest(generate(gan, params, model_state, z, None, k_g))
    y, weight = label_fn(x), ink(x)

    def pick(label, sign):  # indices of the num_exemplars most (sign=1) / least inked of `label`
        score = jnp.where(y == label, sign * weight, -jnp.inf)
        return lax.top_k(score, num_exemplars)[1]

    groups = [z[pick(c1, 1.0)], z[pick(c1, -1.0)], z[pick(c2, -1.0)]]  # 3 x [E, D]
    means = [g.mean(0) for g in groups]
    z_res = means[0] - means[1] + means[2]
    eps = jax.random.normal(k_eps, (num_exemplars, gan.latent_dim))
    rows = [jnp.concatenate([g, m[None]]) for g, m in zip(groups, means, strict=True)]
    rows.append(jnp.concatenate([z_res[None], z_res + noise_scale * eps]))
    z_grid = jnp.stack(rows)  # [4, E + 1, D]
    x = finest(generate(gan, params, model_state, z_grid.reshape(-1, gan.latent_dim), None, k_g))
    return x.reshape(4, num_exemplars + 1, *x.shape[1:])


def multiscale_grid(gan, params, model_state, key, num_columns, num_groups=1):
    """A multi-scale generator's outputs, one row per scale (coarse to fine, nearest-neighbour
    upsampled to full size), one column per z; num_groups such blocks of rows, stacked.
    [num_groups * num_scales, num_columns, ...]."""
    k_z, k_g = jax.random.split(key)
    z = sample_latents(k_z, num_groups * num_columns, gan.latent_dim)
    xs = generate(gan, params, model_state, z, None, k_g)
    if not isinstance(xs, list | tuple):
        raise ValueError("multiscale_grid needs a multi-scale generator (multi_scale=True).")
    size = xs[-1].shape[1]
    scales = [jnp.repeat(jnp.repeat(x, size // x.shape[1], 1), size // x.shape[2], 2) for x in xs]
    grid = jnp.stack(scales).reshape(len(xs), num_groups, num_columns, *xs[-1].shape[1:])
    return grid.swapaxes(0, 1).reshape(num_groups * len(xs), num_columns, *xs[-1].shape[1:])


def grid_size(n):
    """The side of the largest square grid of at most n cells (at least 1)."""
    return max(1, math.isqrt(n))


def sample_hook(gan, grid, n, *, num_classes=0, label_fn=None, classes=(0, 1)):
    """`sample(state, key) -> [N, H, W, C]` drawing `grid` from the EMA params (with their
    `ema_model_state`): "samples" (n samples, classes balanced if conditional, no layout:
    what FID should see), "class_rows" (conditional GANs: n // num_classes per class, one
    row per class), "interpolation", "arithmetic" (needs label_fn and classes),
    "multiscale". The grids are laid out by `square`."""
    y = jnp.arange(n) % num_classes if gan.conditional else None  # balanced classes
    num_scales = len(getattr(gan.generator, "widths", ())) + 1  # of a multi-scale generator
    grids: dict[str, Callable] = {
        "samples": lambda p, ms, key: sample(gan, p, ms, key, n, y),
        "class_rows": lambda p, ms, key: class_grid(
            gan, p, ms, key, num_classes, max(1, n // max(num_classes, 1))
        ).reshape(-1, *gan.generator.image_shape),
        "interpolation": lambda p, ms, key: square(
            interpolation_grid(gan, p, ms, key, grid_size(n), grid_size(n))
        ),
        "arithmetic": lambda p, ms, key: square(
            arithmetic_grid(gan, p, ms, key, label_fn, classes)
        ),
        "multiscale": lambda p, ms, key: square(
            multiscale_grid(gan, p, ms, key, grid_size(n), max(1, grid_size(n) // num_scales))
        ),
    }
    if grid not in grids:
        raise ValueError(f"Unknown sample grid {grid!r}; use one of {', '.join(grids)}.")
    if grid == "class_rows" and not (gan.conditional and num_classes > 0 and n >= num_classes):
        raise ValueError("The class_rows grid needs a conditional GAN and n >= num_classes.")
    if grid == "arithmetic" and label_fn is None:
        raise ValueError("The arithmetic grid needs a label_fn (e.g. nearest_neighbour_labels).")
    return ema_sampler(gan, grids[grid])


def ema_sampler(gan, draw_fn):
    """`sample(state, key)`: the jitted `draw_fn(params, model_state, key)` on the EMA params
    and their `ema_model_state`."""

    @jax.jit
    def draw(params, model_state, key):
        k_stats, k_draw = jax.random.split(key)
        return draw_fn(params, ema_model_state(gan, params, model_state, k_stats), k_draw)

    return lambda state, key: draw(state.ema_params, state.model_state, key)


def optimizers(
    name, g_learning_rate, d_learning_rate, *, b1=0.5, b2=0.999, momentum=0.5, clip_norm=0.0
):
    """{'generator': ..., 'discriminator': ...}, the TrainState's `tx` of a GAN: "adam" (b1,
    b2; Radford et al. 2016: lr 2e-4, b1 0.5; WGAN-GP: 1e-4, b1 0, b2 0.9) or "sgd" with
    momentum (Goodfellow et al. 2014), after clipping each gradient to global norm
    `clip_norm` if > 0. The choice matters for the saturating loss: Adam rescales its
    vanishing gradients back to unit step sizes, SGD lets them vanish."""
    make = {
        "adam": lambda lr: optax.adam(lr, b1=b1, b2=b2),
        "sgd": lambda lr: optax.sgd(lr, momentum=momentum),
    }
    if name not in make:
        raise ValueError(f"Unknown optimizer {name!r}; use one of {', '.join(make)}.")
    clip = [optax.clip_by_global_norm(clip_norm)] if clip_norm > 0 else []
    return {
        GENERATOR: optax.chain(*clip, make[name](g_learning_rate)),
        DISCRIMINATOR: optax.chain(*clip, make[name](d_learning_rate)),
    }


def adam(g_learning_rate, d_learning_rate, b1=0.5, b2=0.999):
    """`optimizers("adam", ...)`."""
    return optimizers("adam", g_learning_rate, d_learning_rate, b1=b1, b2=b2)
