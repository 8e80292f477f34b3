"""NeRF (Mildenhall et al. 2020, "NeRF: Representing Scenes as Neural Radiance Fields for
View Synthesis"): an MLP F(gamma(x), gamma(d)) -> (sigma, c) rendered along camera rays.

    gamma(p) = (p, sin(2^0 pi p), cos(2^0 pi p), ..., sin(2^{L-1} pi p), cos(2^{L-1} pi p))
    C(r) = sum_i T_i (1 - exp(-sigma_i delta_i)) c_i + (1 - sum_i w_i) c_background,
    T_i = exp(-sum_{j<i} sigma_j delta_j),  delta_i = t_{i+1} - t_i           (eq. 3)

Coarse samples are stratified in [near, far] (eq. 2); the fine network is evaluated at the
coarse samples and N_f more drawn from the piecewise-constant density of the coarse
weights (hierarchical sampling, Sec. 5.2). The loss is the squared error of both
renderings (eq. 6).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.models.types import Batch, ObjectiveOutput, PyTree


def positional_encoding(p: jax.Array, num_freqs: int) -> jax.Array:
    """gamma(p) [..., D (1 + 2 L)] of p [..., D]: p, then sin and cos of 2^k pi p for
    k = 0..L-1 (frequency-major); L = 0 gives p alone (the ablation)."""
    freqs = jnp.pi * 2.0 ** jnp.arange(num_freqs)  # [L]
    angles = (p[..., None, :] * freqs[:, None]).reshape(*p.shape[:-1], -1)  # [..., L D]
    return jnp.concatenate([p, jnp.sin(angles), jnp.cos(angles)], axis=-1)


class RadianceField(nn.Module):
    """(x [..., 3], d [..., 3] unit) -> (sigma >= 0 [...], rgb in (0, 1) [..., 3]): `depth`
    ReLU layers of `width` on gamma(x), gamma(x) concatenated again after the layers of
    `skips`; sigma from the trunk, rgb from the trunk's features with gamma(d) through one
    layer of width / 2 (the paper: depth 8, width 256, skip at 4, L = 10 and 4)."""

    width: int = 128
    depth: int = 4
    skips: Sequence[int] = (2,)
    num_freqs_x: int = 6
    num_freqs_d: int = 4

    @nn.compact
    def __call__(self, x: jax.Array, d: jax.Array) -> tuple[jax.Array, jax.Array]:
        gx = positional_encoding(x, self.num_freqs_x)
        h = gx
        for i in range(self.depth):
            if i in self.skips:
                h = jnp.concatenate([h, gx], -1)
            h = nn.relu(nn.Dense(self.width)(h))
        sigma = nn.relu(nn.Dense(1, name="sigma")(h)[..., 0])
        features = nn.Dense(self.width, name="features")(h)
        h = jnp.concatenate([features, positional_encoding(d, self.num_freqs_d)], -1)
        h = nn.relu(nn.Dense(self.width // 2)(h))
        return sigma, nn.sigmoid(nn.Dense(3, name="rgb")(h))


def volume_render(
    sigma: jax.Array, rgb: jax.Array, t: jax.Array, background: float = 1.0
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Eq. 3 of the paper: (colour [..., 3], weights [..., S], depth [...]) of the samples
    at distances t [..., S] (increasing) with densities sigma [..., S] and colours rgb
    [..., S, 3]; the last interval reaches to infinity, and what light passes all samples
    has the `background` colour. Depth: sum_i w_i t_i, the expected stopping distance."""
    delta = jnp.concatenate([jnp.diff(t, axis=-1), jnp.full_like(t[..., :1], 1e10)], -1)
    optical = sigma * delta
    alpha = 1.0 - jnp.exp(-optical)
    transmittance = jnp.exp(-jnp.concatenate(
        [jnp.zeros_like(optical[..., :1]), jnp.cumsum(optical[..., :-1], -1)], -1
    ))  # fmt: skip
    weights = transmittance * alpha
    colour = jnp.sum(weights[..., None] * rgb, -2) + (1.0 - weights.sum(-1, keepdims=True)) * (
        background
    )
    return colour, weights, jnp.sum(weights * t, -1)


def stratified_samples(
    key: jax.Array, near: float, far: float, num: int, shape: tuple[int, ...], perturb: bool = True
) -> jax.Array:
    """t [*shape, num]: one uniform draw in each of `num` equal bins of [near, far] (eq. 2),
    or the bins' midpoints without `perturb`."""
    u = jax.random.uniform(key, (*shape, num)) if perturb else jnp.full((*shape, num), 0.5)
    return near + (far - near) * (jnp.arange(num) + u) / num


def sample_pdf(
    key: jax.Array | None,
    bins: jax.Array,
    weights: jax.Array,
    num: int,
    deterministic: bool = False,
) -> jax.Array:
    """Inverse-transform samples [..., num] of the piecewise-constant density with mass
    weights [..., K] on the K intervals between the edges bins [..., K + 1] (Sec. 5.2);
    `deterministic`: the quantiles (i + 1/2) / num instead of uniform draws."""
    weights = weights + 1e-5  # no empty density
    cdf = jnp.cumsum(weights / weights.sum(-1, keepdims=True), -1)
    cdf = jnp.concatenate([jnp.zeros_like(cdf[..., :1]), cdf], -1)  # [..., K + 1]
    shape = (*cdf.shape[:-1], num)
    u = (jnp.arange(num) + 0.5) / num if deterministic else jax.random.uniform(key, shape)
    u = jnp.broadcast_to(u, shape)
    k = jax.vmap(lambda c, v: jnp.searchsorted(c, v, side="right"))(
        cdf.reshape(-1, cdf.shape[-1]), u.reshape(-1, num)
    ).reshape(shape)
    k = jnp.clip(k, 1, cdf.shape[-1] - 1)
    c0, c1 = jnp.take_along_axis(cdf, k - 1, -1), jnp.take_along_axis(cdf, k, -1)
    b0, b1 = jnp.take_along_axis(bins, k - 1, -1), jnp.take_along_axis(bins, k, -1)
    return b0 + (u - c0) / jnp.maximum(c1 - c0, 1e-10) * (b1 - b0)


class NeRF(nn.Module):
    """The coarse and the fine radiance field and how rays are rendered with them:
    __call__(origins [R, 3], directions [R, 3] unit, key, perturb) -> (coarse colour,
    fine colour, fine depth), colours [R, 3] in [0, 1]."""

    field: RadianceField
    near: float = 2.0
    far: float = 6.0
    num_coarse: int = 32
    num_fine: int = 32
    background: float = 1.0

    def setup(self):
        self.coarse = self.field.clone(name="coarse")
        self.fine = self.field.clone(name="fine")

    def _render(self, field, o, d, t):
        x = o[:, None] + t[..., None] * d[:, None]  # [R, S, 3]
        sigma, rgb = field(x, jnp.broadcast_to(d[:, None], x.shape))
        return volume_render(sigma, rgb, t, self.background)

    def __call__(
        self, origins: jax.Array, directions: jax.Array, key: jax.Array, perturb: bool = True
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        k_coarse, k_fine = jax.random.split(key)
        rays = origins.shape[:1]
        t = stratified_samples(k_coarse, self.near, self.far, self.num_coarse, rays, perturb)
        coarse, weights, _ = self._render(self.coarse, origins, directions, t)
        mids = 0.5 * (t[..., 1:] + t[..., :-1])
        edges = jnp.concatenate([t[..., :1], mids, t[..., -1:]], -1)  # around each sample
        t_fine = sample_pdf(k_fine, edges, jax.lax.stop_gradient(weights), self.num_fine,
                            deterministic=not perturb)  # fmt: skip
        t_all = jnp.sort(jnp.concatenate([t, t_fine], -1), -1)
        fine, _, depth = self._render(self.fine, origins, directions, t_all)
        return coarse, fine, depth


def objective(
    model: NeRF,
    origins: jax.Array,
    directions: jax.Array,
    num_rays: int,
    params: PyTree,
    model_state: PyTree,
    batch: Batch,
    key: jax.Array,
    step: jax.Array | int,
) -> ObjectiveOutput:
    """Eq. 6 on `num_rays` rays drawn from the training rays: ||C_coarse - C||^2 +
    ||C_fine - C||^2, mean over rays. origins, directions [P, 3]: every pixel's ray of the
    training views; batch['image'] [N, H, W, 3] in [-1, 1]: those views (P = N H W).
    Metric: the fine rendering's PSNR on the [0, 1] scale."""
    del step
    k_rays, k_render = jax.random.split(key)
    target = (batch["image"].reshape(-1, 3) + 1.0) / 2.0  # [P, 3] in [0, 1]
    idx = jax.random.randint(k_rays, (num_rays,), 0, target.shape[0])
    coarse, fine, _ = model.apply({"params": params}, origins[idx], directions[idx], k_render)
    mse_c, mse_f = (jnp.mean(jnp.square(c - target[idx])) for c in (coarse, fine))
    return mse_c + mse_f, ({"psnr": -10.0 * jnp.log10(mse_f)}, model_state)


def render_views(
    model: NeRF, params: PyTree, origins: jax.Array, directions: jax.Array, chunk: int = 4096
) -> tuple[jax.Array, jax.Array]:
    """Fine colours [..., 3] in [0, 1] (and depths [...]) of rays [..., 3], deterministic
    (midpoints, quantiles), `chunk` rays per compiled call."""
    shape = origins.shape[:-1]
    o, d = origins.reshape(-1, 3), directions.reshape(-1, 3)
    render = jax.jit(lambda p, o, d: model.apply({"params": p}, o, d, jax.random.key(0), False))
    outs = [render(params, o[i : i + chunk], d[i : i + chunk]) for i in range(0, len(o), chunk)]
    fine = jnp.concatenate([f for _, f, _ in outs]).reshape(*shape, 3)
    depth = jnp.concatenate([z for _, _, z in outs]).reshape(shape)
    return fine, depth
