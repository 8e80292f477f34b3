"""GAN objectives: discriminator/critic and generator losses, gradient penalties, and the
image-to-image terms of pix2pix and CycleGAN.

Discriminator outputs are logits (pre-sigmoid, D = sigmoid(logit)) for "minimax" and raw
scores for the other kinds; shape [B] or [B, ...] for patch discriminators, averaged over
the non-batch axes. Every loss is per example, shape [B], to be minimised.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxgen.losses._checks import check_batched, check_kind, check_same_shape, mean_per_example

CriticFn = Callable[[jax.Array], jax.Array]  # x [B, ...] -> scores [B]

# kind -> (loss on real logits, loss on fake logits); see discriminator_loss.
_DISCRIMINATOR_TERMS = {
    "minimax": (lambda r: jax.nn.softplus(-r), lambda f: jax.nn.softplus(f)),
    "wasserstein": (lambda r: -r, lambda f: f),
    "hinge": (lambda r: jax.nn.relu(1.0 - r), lambda f: jax.nn.relu(1.0 + f)),
    "least_squares": (lambda r: 0.5 * jnp.square(r - 1.0), lambda f: 0.5 * jnp.square(f)),
}

# kind -> loss on fake logits; see generator_loss.
_GENERATOR_TERMS = {
    "saturating": lambda f: -jax.nn.softplus(f),
    "non_saturating": lambda f: jax.nn.softplus(-f),
    "wasserstein": lambda f: -f,
    "hinge": lambda f: -f,
    "least_squares": lambda f: 0.5 * jnp.square(f - 1.0),
}


def discriminator_loss(
    real_logits: jax.Array, fake_logits: jax.Array, kind: str = "minimax"
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Discriminator (critic) loss on paired real and generated examples.

    With l = logit and D = sigmoid(l) for "minimax", raw scores otherwise:

    - "minimax":  -log D(x) - log(1 - D(G(z))) = softplus(-l_real) + softplus(l_fake)
      (Goodfellow et al. 2014, "Generative Adversarial Nets"; stable for any logit).
    - "wasserstein":  f(G(z)) - f(x), the critic loss (Arjovsky, Chintala & Bottou 2017,
      "Wasserstein GAN"); add ``gradient_penalty`` (WGAN-GP) or clip weights.
    - "hinge":  max(0, 1 - f(x)) + max(0, 1 + f(G(z)))  (Lim & Ye 2017, "Geometric GAN";
      Miyato et al. 2018, "Spectral Normalization").
    - "least_squares":  1/2 (f(x) - 1)^2 + 1/2 f(G(z))^2, targets a = 0, b = 1
      (Mao et al. 2017, "Least Squares GANs").

    Args:
      real_logits: [B] or [B, ...] discriminator outputs on data.
      fake_logits: the same shape, on generated samples.
      kind: one of the above.

    Returns:
      loss: [B] real term + fake term.
      terms: {"real": [B], "fake": [B]}.
    """
    check_kind("discriminator_loss", kind, _DISCRIMINATOR_TERMS)
    real_logits, fake_logits = jnp.asarray(real_logits), jnp.asarray(fake_logits)
    check_batched("discriminator_loss", "real_logits", real_logits)
    check_same_shape("discriminator_loss", real_logits=real_logits, fake_logits=fake_logits)
    real_fn, fake_fn = _DISCRIMINATOR_TERMS[kind]
    real = mean_per_example(real_fn(real_logits))  # [B]
    fake = mean_per_example(fake_fn(fake_logits))  # [B]
    return real + fake, {"real": real, "fake": fake}


def generator_loss(fake_logits: jax.Array, kind: str = "non_saturating") -> jax.Array:
    """Generator loss on the discriminator's outputs for generated samples.

    With l = logit of D(G(z)) = sigmoid(l) for the first two, raw critic score otherwise:

    - "saturating":  log(1 - D(G(z))) = -softplus(l), the minimax generator objective
      (Goodfellow et al. 2014). Its gradient dL/dl = -sigmoid(l) vanishes when D rejects
      the samples (D(G(z)) -> 0), early in training.
    - "non_saturating":  -log D(G(z)) = softplus(-l) (Goodfellow et al. 2014, Sec. 3);
      dL/dl = -(1 - sigmoid(l)) -> -1 when D(G(z)) -> 0: the same fixed point, strong
      gradients early.
    - "wasserstein" and "hinge":  -f(G(z)) (Arjovsky et al. 2017; Lim & Ye 2017).
    - "least_squares":  1/2 (f(G(z)) - 1)^2, target c = 1 (Mao et al. 2017).

    Args:
      fake_logits: [B] or [B, ...] discriminator outputs on generated samples.
      kind: one of the above.

    Returns:
      [B] loss, averaged over any non-batch axes.
    """
    check_kind("generator_loss", kind, _GENERATOR_TERMS)
    fake_logits = jnp.asarray(fake_logits)
    check_batched("generator_loss", "fake_logits", fake_logits)
    return mean_per_example(_GENERATOR_TERMS[kind](fake_logits))  # [B]


def _input_gradient(fn: str, critic_fn: CriticFn, x: jax.Array) -> jax.Array:
    """d critic(x)_b / d x_b for every example b (critic_fn must act per example)."""
    scores, vjp = jax.vjp(critic_fn, x)
    if scores.shape != x.shape[:1]:
        raise ValueError(
            f"{fn}: critic_fn returned shape {tuple(scores.shape)} for inputs "
            f"{tuple(x.shape)}; it must return one score per example, shape "
            f"{tuple(x.shape[:1])} (squeeze a trailing axis of size 1, average patch scores)"
        )
    (grad,) = vjp(jnp.ones_like(scores))
    return grad


def _norm_per_example(g: jax.Array) -> jax.Array:
    # ||g||_2 per example with a zero (not NaN) gradient at g = 0.
    sq = jnp.sum(jnp.square(g), axis=tuple(range(1, g.ndim)))
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def gradient_penalty(
    critic_fn: CriticFn, x_real: jax.Array, x_fake: jax.Array, key: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """WGAN-GP gradient penalty at random interpolates of real and fake examples.

    x_hat = eps x + (1 - eps) G(z),  eps ~ U[0, 1] per example,
    GP = ( || grad_x_hat f(x_hat) ||_2 - 1 )^2
    (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", eq. 3; weight lambda =
    10 in the paper, applied by the caller). It is 0 wherever f is 1-Lipschitz with unit
    gradient norm, e.g. a linear critic w.x with ||w|| = 1. Differentiable w.r.t. the
    critic's parameters (double backpropagation) when critic_fn closes over them.

    Args:
      critic_fn: x [B, ...] -> scores [B]; must act on each example independently (no
        batch norm), since per-example gradients are taken as the gradient of the sum.
      x_real, x_fake: [B, ...] real and generated examples (stop gradients to the generator
        in the critic step).
      key: PRNG key for eps.

    Returns:
      penalty: [B].
      terms: {"grad_norm": [B] ||grad f(x_hat)||_2}.
    """
    x_real, x_fake = jnp.asarray(x_real), jnp.asarray(x_fake)
    check_batched("gradient_penalty", "x_real", x_real)
    check_same_shape("gradient_penalty", x_real=x_real, x_fake=x_fake)
    eps_shape = x_real.shape[:1] + (1,) * (x_real.ndim - 1)
    eps = jax.random.uniform(key, eps_shape, x_real.dtype)  # [B, 1, ...]
    x_hat = eps * x_real + (1.0 - eps) * x_fake
    grad_norm = _norm_per_example(_input_gradient("gradient_penalty", critic_fn, x_hat))
    return jnp.square(grad_norm - 1.0), {"grad_norm": grad_norm}


def r1_penalty(critic_fn: CriticFn, x_real: jax.Array) -> jax.Array:
    """R1 regulariser: squared gradient norm of the discriminator on real data.

    R1 = || grad_x D(x) ||_2^2,  x ~ p_data
    (Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually
    Converge?"; the paper's penalty is gamma / 2 * R1, the factor applied by the caller).

    Args:
      critic_fn: x [B, ...] -> logits [B], acting on each example independently.
      x_real: [B, ...] real examples.

    Returns:
      [B] squared gradient norms.
    """
    x_real = jnp.asarray(x_real)
    check_batched("r1_penalty", "x_real", x_real)
    grad = _input_gradient("r1_penalty", critic_fn, x_real)
    return jnp.sum(jnp.square(grad), axis=tuple(range(1, grad.ndim)))  # [B]


def pix2pix_l1_loss(x_fake: jax.Array, x_target: jax.Array) -> jax.Array:
    """The L1 term of pix2pix: mean absolute error between output and target image.

    L_L1(G) = || y - G(x, z) ||_1 / D   (Isola et al. 2017, "Image-to-Image Translation
    with Conditional Adversarial Networks", eq. 3; weight lambda = 100 in the paper).

    Args:
      x_fake: [B, ...] generated images G(x, z).
      x_target: [B, ...] target images y.

    Returns:
      [B] mean over the non-batch axes.
    """
    x_fake, x_target = jnp.asarray(x_fake), jnp.asarray(x_target)
    check_batched("pix2pix_l1_loss", "x_fake", x_fake)
    check_same_shape("pix2pix_l1_loss", x_fake=x_fake, x_target=x_target)
    return mean_per_example(jnp.abs(x_fake - x_target))  # [B]


def srgan_content_loss(phi_fake: jax.Array, phi_real: jax.Array) -> jax.Array:
    """SRGAN's content loss: the mean squared distance of features of the super-resolved
    and the real high-resolution image.

    l_content = 1 / D sum_d (phi(I_HR)_d - phi(G(I_LR))_d)^2   (Ledig et al. 2017, eq. 5,
    phi: VGG-19's feature map; with phi the identity it is SRResNet's pixel MSE, eq. 4). The
    generator's loss is l_content + 10^-3 l_adversarial (eq. 3).

    Args:
      phi_fake: [B, ...] features of the generated images.
      phi_real: [B, ...] features of the real images, the same shape.

    Returns:
      [B] mean over the non-batch axes.
    """
    phi_fake, phi_real = jnp.asarray(phi_fake), jnp.asarray(phi_real)
    check_batched("srgan_content_loss", "phi_fake", phi_fake)
    check_same_shape("srgan_content_loss", phi_fake=phi_fake, phi_real=phi_real)
    return mean_per_example(jnp.square(phi_fake - phi_real))


def cycle_consistency_loss(
    x_a: jax.Array, x_a_cycled: jax.Array, x_b: jax.Array, x_b_cycled: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """CycleGAN cycle-consistency loss in both directions.

    L_cyc = || F(G(a)) - a ||_1 / D_a + || G(F(b)) - b ||_1 / D_b
    (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
    Adversarial Networks", eq. 2; weight lambda = 10 in the paper).

    Args:
      x_a: [B, ...] images of domain A; x_a_cycled: F(G(x_a)), the same shape.
      x_b: [B, ...] images of domain B; x_b_cycled: G(F(x_b)), the same shape.
        The domains may have different image shapes but the same batch size.

    Returns:
      loss: [B] sum of both directions, each a mean absolute error over non-batch axes.
      terms: {"a": [B], "b": [B]}.
    """
    x_a, x_a_cycled, x_b, x_b_cycled = map(jnp.asarray, (x_a, x_a_cycled, x_b, x_b_cycled))
    check_batched("cycle_consistency_loss", "x_a", x_a)
    check_batched("cycle_consistency_loss", "x_b", x_b)
    check_same_shape("cycle_consistency_loss", x_a=x_a, x_a_cycled=x_a_cycled)
    check_same_shape("cycle_consistency_loss", x_b=x_b, x_b_cycled=x_b_cycled)
    if x_a.shape[0] != x_b.shape[0]:
        raise ValueError(
            f"cycle_consistency_loss: x_a batch {x_a.shape[0]} (shape {tuple(x_a.shape)}) != "
            f"x_b batch {x_b.shape[0]} (shape {tuple(x_b.shape)}); pass equal batch sizes"
        )
    a = mean_per_example(jnp.abs(x_a_cycled - x_a))  # [B]
    b = mean_per_example(jnp.abs(x_b_cycled - x_b))  # [B]
    return a + b, {"a": a, "b": b}
