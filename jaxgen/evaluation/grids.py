"""The GANs' demo pictures: grids [rows, cols, H, W, C] in [-1, 1], and the sample hooks
`sample(state, key) -> [N, H, W, C]` that draw them from a training state's EMA params.

- noise -> image GANs (`jaxgen.train.gan.GAN`): `class_grid` (cGAN), `interpolation_grid`
  (latent walks), `arithmetic_grid` (latent vector arithmetic), `multiscale_grid` (MSG-GAN),
  `style_mixing_grid` (StyleGAN); `sample_hook` picks one by name.
- image -> image GANs: `triplet_grid` (pix2pix: input, output, target) and
  `translation_grid` (CycleGAN: both directions and back), with `pix2pix_hook` and
  `cyclegan_hook`.

`square` lays a grid out for `train.writers.image_grid`. An experiment builds its hook and
hands it to training in `train.Task.sample`; training itself never imports this module. On
a trained state: grid(gan, state.ema_params, ema_model_state(gan, state.ema_params,
state.model_state, key), key, ...), or `sample_hook(gan, name, n)(state, key)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgen.models.gan import finest
from jaxgen.models.stylegan import StyleGenerator, mix_styles
from jaxgen.models.types import PyTree, Sampler
from jaxgen.train import cyclegan, pix2pix
from jaxgen.train.gan import (
    GAN,
    GENERATOR,
    apply_net,
    ema_model_state,
    generate,
    sample,
    sample_latents,
)

BLANK = 1.0  # value of the empty cells of demo grids (white, like image_grid's borders)

DrawFn = Callable[[PyTree, PyTree, jax.Array], jax.Array]  # draw(params, model_state, key)


# ---------------------------------------------------------------------------------------------
# Layout.


def square(grid: jax.Array) -> jax.Array:
    """A grid [R, C, H, W, ch] as S*S images [S*S, H, W, ch], S = max(R, C), the empty cells
    BLANK: `train.writers.image_grid` (ceil(sqrt(N)) columns) then shows rows as rows."""
    r, c = grid.shape[:2]
    s = max(r, c)
    padded = jnp.pad(grid, ((0, s - r), (0, s - c), (0, 0), (0, 0), (0, 0)), constant_values=BLANK)
    return padded.reshape(s * s, *grid.shape[2:])


def grid_size(n: int) -> int:
    """The side of the largest square grid of at most n cells (at least 1)."""
    return max(1, math.isqrt(n))


# ---------------------------------------------------------------------------------------------
# Noise -> image GANs.


def class_grid(
    gan: GAN, params: PyTree, model_state: PyTree, key: jax.Array, num_classes: int, per_class: int
) -> jax.Array:
    """Conditional samples, one row per class: row c is G(z_j, c) for j < per_class, the
    same z_j in every row (so a column shows one "style" across classes). [C, per_class, ...]."""
    k_z, k_g = jax.random.split(key)
    z = sample_latents(k_z, per_class, gan.latent_dim)
    z = jnp.tile(z, (num_classes, 1))  # [C * per_class, D]
    y = jnp.repeat(jnp.arange(num_classes), per_class)
    x = finest(generate(gan, params, model_state, z, y, k_g))
    return x.reshape(num_classes, per_class, *x.shape[1:])


def slerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
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


def interpolation_grid(
    gan: GAN,
    params: PyTree,
    model_state: PyTree,
    key: jax.Array,
    num_rows: int,
    num_steps: int,
    spherical: bool = False,
) -> jax.Array:
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


def nearest_neighbour_labels(
    reference_images: np.ndarray | jax.Array, reference_labels: np.ndarray | jax.Array
) -> Callable[[jax.Array], jax.Array]:
    """A labeller x [N, H, W, C] -> labels [N] of each image's nearest reference image in
    pixel space (L2), for selecting generated images by class without a trained classifier."""
    ref = jnp.asarray(reference_images, jnp.float32).reshape(len(reference_images), -1)
    ref_labels = jnp.asarray(reference_labels)

    def label_fn(x):
        x = x.reshape(x.shape[0], -1)
        d2 = jnp.sum(x * x, 1)[:, None] - 2.0 * x @ ref.T + jnp.sum(ref * ref, 1)[None, :]
        return ref_labels[jnp.argmin(d2, axis=1)]

    return label_fn


def ink(x: jax.Array) -> jax.Array:
    """Mean intensity per image in [0, 1] (stroke weight of a light-on-dark image): [N]."""
    return jnp.mean((x + 1.0) / 2.0, axis=tuple(range(1, x.ndim)))


def arithmetic_grid(
    gan: GAN,
    params: PyTree,
    model_state: PyTree,
    key: jax.Array,
    label_fn: Callable[[jax.Array], jax.Array],
    classes: Sequence[int],
    *,
    num_exemplars: int = 3,
    num_candidates: int = 512,
    noise_scale: float = 0.25,
) -> jax.Array:
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


def multiscale_grid(
    gan: GAN,
    params: PyTree,
    model_state: PyTree,
    key: jax.Array,
    num_columns: int,
    num_groups: int = 1,
) -> jax.Array:
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


def style_mixing_grid(
    gan: GAN,
    params: PyTree,
    model_state: PyTree,
    key: jax.Array,
    num_sources: int,
    crossover: int,
) -> jax.Array:
    """Style mixing (Karras et al. 2019, Fig. 3) of a `StyleGenerator`: the first row shows
    the sources B_j, the first column the sources A_i; cell (i, j) takes the styles
    l < crossover (the coarse resolutions: pose, shape) from B_j and the rest (finer ones:
    stroke, texture) from A_i. The top-left cell is BLANK. [num_sources + 1, num_sources + 1,
    ...]."""
    k_a, k_b, k_g = jax.random.split(key, 3)
    g = gan.generator
    n = num_sources
    if not 0 < crossover < g.num_styles:
        raise ValueError(f"crossover must be in 1..{g.num_styles - 1}, got {crossover}.")
    z = jnp.concatenate(
        [sample_latents(k_a, n, gan.latent_dim), sample_latents(k_b, n, gan.latent_dim)]
    )

    def run(method, inputs):
        g_params, g_state = params[GENERATOR], model_state[GENERATOR]
        return apply_net(g, g_params, g_state, inputs, key=k_g, train=False, method=method)[0]

    w = run(StyleGenerator.mapping, z)
    w_a = jnp.repeat(w[:n, None], g.num_styles, 1)  # [n, L, w_dim]
    w_b = jnp.repeat(w[n:, None], g.num_styles, 1)
    mixed = mix_styles(  # [n (A), n (B), L, w_dim] -> flattened row-major
        jnp.repeat(w_b[None], n, 0).reshape(n * n, *w_b.shape[1:]),
        jnp.repeat(w_a, n, 0),
        jnp.full((n * n,), crossover),
    )
    ws = jnp.concatenate([w_a, w_b, mixed])
    x = run(StyleGenerator.synthesis, ws)
    x_a, x_b, x_mix = x[:n], x[n : 2 * n], x[2 * n :].reshape(n, n, *x.shape[1:])
    blank = jnp.full((1, 1, *x.shape[1:]), BLANK)
    top = jnp.concatenate([blank, x_b[None]], axis=1)  # [1, n + 1, ...]
    body = jnp.concatenate([x_a[:, None], x_mix], axis=1)  # [n, n + 1, ...]
    return jnp.concatenate([top, body])


def sample_hook(
    gan: GAN,
    grid: str,
    n: int,
    *,
    num_classes: int = 0,
    label_fn: Callable[[jax.Array], jax.Array] | None = None,
    classes: Sequence[int] = (0, 1),
    crossover: int = 2,
) -> Sampler:
    """`sample(state, key) -> [N, H, W, C]` drawing `grid` from the EMA params (with their
    `ema_model_state`): "samples" (n samples, classes balanced if conditional, no layout:
    what FID should see), "class_rows" (conditional GANs: n // num_classes per class, one
    row per class), "interpolation", "arithmetic" (needs label_fn and classes),
    "multiscale", "style_mixing" (a StyleGenerator; styles l < crossover from the top row).
    The grids are laid out by `square`."""
    y = jnp.arange(n) % num_classes if gan.conditional else None  # balanced classes
    num_scales = len(getattr(gan.generator, "widths", ())) + 1  # of a multi-scale generator
    s = grid_size(n)
    grids: dict[str, DrawFn] = {
        "samples": lambda p, ms, key: sample(gan, p, ms, key, n, y),
        "class_rows": lambda p, ms, key: class_grid(
            gan, p, ms, key, num_classes, max(1, n // max(num_classes, 1))
        ).reshape(-1, *gan.generator.image_shape),
        "interpolation": lambda p, ms, key: square(interpolation_grid(gan, p, ms, key, s, s)),
        "arithmetic": lambda p, ms, key: square(
            arithmetic_grid(gan, p, ms, key, label_fn, classes)
        ),
        "multiscale": lambda p, ms, key: square(
            multiscale_grid(gan, p, ms, key, s, max(1, s // num_scales))
        ),
        "style_mixing": lambda p, ms, key: square(
            style_mixing_grid(gan, p, ms, key, max(1, s - 1), crossover)
        ),
    }
    if grid not in grids:
        raise ValueError(f"Unknown sample grid {grid!r}; use one of {', '.join(grids)}.")
    if grid == "class_rows" and not (gan.conditional and num_classes > 0 and n >= num_classes):
        raise ValueError("The class_rows grid needs a conditional GAN and n >= num_classes.")
    if grid == "arithmetic" and label_fn is None:
        raise ValueError("The arithmetic grid needs a label_fn (e.g. nearest_neighbour_labels).")
    if grid == "style_mixing" and not isinstance(gan.generator, StyleGenerator):
        raise ValueError("The style_mixing grid needs a StyleGenerator.")
    return ema_sampler(gan, grids[grid])


def ema_sampler(gan: GAN, draw_fn: DrawFn) -> Sampler:
    """`sample(state, key)`: the jitted `draw_fn(params, model_state, key)` on the EMA params
    and their `ema_model_state`."""

    @jax.jit
    def draw(params, model_state, key):
        k_stats, k_draw = jax.random.split(key)
        return draw_fn(params, ema_model_state(gan, params, model_state, k_stats), k_draw)

    return lambda state, key: draw(state.ema_params, state.model_state, key)


# ---------------------------------------------------------------------------------------------
# Image -> image GANs.


def triplet_grid(
    x_source: jax.Array, y_fake: jax.Array, y_target: jax.Array, per_row: int
) -> jax.Array:
    """(input, output, target) triplets: row r holds pairs r * per_row .. (r + 1) * per_row - 1
    as x, G(x), y side by side. [N / per_row, 3 * per_row, ...] for N pairs."""
    triplets = jnp.stack([x_source, y_fake, y_target], axis=1)  # [N, 3, ...]
    n = x_source.shape[0] // per_row * per_row
    return triplets[:n].reshape(n // per_row, 3 * per_row, *x_source.shape[1:])


def pix2pix_hook(
    generator: nn.Module,
    x_source: np.ndarray,
    y_target: np.ndarray,
    n: int,
    show: Callable[[jax.Array], jax.Array] = lambda x: x,
) -> Sampler:
    """`sample(state, key)`: a square grid of n cells of triplets (input edge map, output,
    target) of pairs drawn by `key` from the held-out (x_source, y_target) arrays, by the
    EMA params (`pix2pix.translate_standing`); the inputs shown as show(x) (SRGAN: at the
    output's size)."""
    side = max(3, grid_size(n) // 3 * 3)
    count = side * side // 3
    if count > len(x_source):
        raise ValueError(f"{count} held-out pairs needed for the grid, {len(x_source)} given.")

    @jax.jit
    def draw(params, model_state, key, x_source, y_target):
        k_pick, k_g = jax.random.split(key)
        idx = jax.random.choice(k_pick, x_source.shape[0], (count,), replace=False)
        x_source, y_target = x_source[idx], y_target[idx]
        y_fake = pix2pix.translate_standing(generator, params, model_state, x_source, k_g)
        return square(triplet_grid(show(x_source), y_fake, y_target, side // 3))

    return lambda state, key: draw(state.ema_params, state.model_state, key, x_source, y_target)


def translation_grid(
    generator: nn.Module,
    params: PyTree,
    model_state: PyTree,
    key: jax.Array,
    x_a: jax.Array,
    x_b: jax.Array,
) -> jax.Array:
    """Row i: a_i, G(a_i), F(G(a_i)), b_i, F(b_i), G(F(b_i)) (CycleGAN's translation and
    reconstruction both ways). [N, 6, ...] for N images per domain, in inference mode."""
    nets = cyclegan.Nets(generator, None, params, model_state, key, train=False)
    G, F = cyclegan.G, cyclegan.F
    fake_b, fake_a = nets(G, x_a), nets(F, x_b)
    rows = [x_a, fake_b, nets(F, fake_b), x_b, fake_a, nets(G, fake_a)]
    return jnp.stack(rows, axis=1)


def cyclegan_hook(generator: nn.Module, pool_a: np.ndarray, pool_b: np.ndarray, n: int) -> Sampler:
    """`sample(state, key)`: a square grid of about n cells, n // 6 rows of
    `translation_grid` on held-out images drawn by `key` from the uint8 pools."""
    rows = max(1, n // 6)

    @jax.jit
    def draw(params, model_state, key, pool_a, pool_b):
        k_data, k_g = jax.random.split(key)
        x = cyclegan.sample_domains(k_data, pool_a, pool_b, rows)
        return square(translation_grid(generator, params, model_state, k_g, x["a"], x["b"]))

    return lambda state, key: draw(state.ema_params, state.model_state, key, pool_a, pool_b)
