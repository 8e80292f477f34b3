"""Evaluation of the autoencoder / VAE family on a test split, and its pictures.

Numbers (``likelihood_metrics``, ``reconstruction_metrics``, ``vq_metrics``):

- test-set negative ELBO (analytic KL, one z ~ q(z|x) per image) and the IWAE NLL estimate
  -L_k (Burda et al. 2016) with k importance samples, decoded `iwae_chunk` at a time so
  k = 1000 fits in memory; both in nats per image and, for likelihoods that are
  distributions over 8-bit images (the discretized ones, ``vae.LIKELIHOODS``), in bits/dim
  via ``metrics.nll_to_bits_per_dim(..., data_scale=SCALE_8BIT)``;
- reconstruction MSE on the [-1, 1] scale (decoder mean at the posterior mean);
- for VQ-VAE, the codebook perplexity and number of codes used over the test split.

A VAE's evaluation (``evaluate``) runs one small evaluator per table or picture, each
configured by its own few keys of the config's eval block (``evaluators``): the likelihood
table, the latent statistics (per-dimension KL, active units), and the pictures: prior
samples, reconstructions, latent interpolation between test images, latent arithmetic with
class means, one-dimension-at-a-time latent traversals, the scatter of test-set posterior
means coloured by class and the decoded latent manifold; and samples.npz for FID.

Part of the evaluation layer, above the models (it imports ``jaxgen.metrics`` and the image
writers of ``jaxgen.train``); the helpers it shares with the other families (test split,
batching, grids, eval.json) are in ``evaluation.common``. Experiments call it from their
``evaluate(workdir)``.
"""

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgen import data, losses
from jaxgen.evaluation.common import (
    Evaluator,
    Output,
    batched,
    configure,
    load_test_split,
    num_params,
    run_evaluators,
    save_grid,
    write_results,
    write_samples_npz,
)
from jaxgen.files import write_atomic
from jaxgen.metrics import SCALE_8BIT, nll_to_bits_per_dim
from jaxgen.models import autoencoder, hvae, vae

ACTIVE_UNIT_NATS = 0.01  # a latent dimension is active when its mean KL exceeds this


@dataclasses.dataclass(frozen=True)
class LatentModel:
    """A latent-variable model's functions of (params, ...), all jit-able.

    elbo(params, x, key) -> [B] ELBO in nats (beta = 1);
    log_weights(params, x, key, k) -> log p(x|z), log p(z), log q(z|x), each [k, B];
    reconstruct(params, x) -> [B, H, W, C]; sample(params, key, n) -> [n, H, W, C];
    encode(params, x) -> (mu, logvar) [B, D] and decode(params, z) -> images, or None for
    models without one latent vector (no latent pictures);
    discrete: p(x|z) is a distribution over 8-bit images (bits/dim are exact).
    """

    elbo: Callable
    log_weights: Callable
    reconstruct: Callable
    sample: Callable
    encode: Callable | None
    decode: Callable | None
    discrete: bool


def _latent_model(lib, model, encode, decode):
    """LatentModel of `model` from the functions of its module `lib` (vae or hvae)."""
    return LatentModel(
        elbo=jax.jit(lambda params, x, key: lib.elbo(model, params, x, key)[0]),
        log_weights=jax.jit(functools.partial(lib.iwae_log_weights, model), static_argnums=3),
        reconstruct=jax.jit(functools.partial(lib.reconstruct, model)),
        sample=jax.jit(functools.partial(lib.sample, model), static_argnums=2),
        encode=encode,
        decode=decode,
        discrete=vae.get_likelihood(model.likelihood).discrete,
    )


@functools.lru_cache(maxsize=16)
def conv_vae(model):
    """LatentModel of a ``vae.ConvVAE`` (one per model: its jitted functions are shared)."""
    encode = jax.jit(functools.partial(vae.encode, model))
    return _latent_model(vae, model, encode, jax.jit(functools.partial(vae.decode_mean, model)))


@functools.lru_cache(maxsize=16)
def hierarchical_vae(model):
    """LatentModel of an ``hvae.HierarchicalVAE`` (no single latent: no latent pictures)."""
    return _latent_model(hvae, model, encode=None, decode=None)


def nll_summary(prefix, log_likelihood, num_dims, discrete):
    """{prefix_nats: mean -log p, prefix_nats_sem, prefix_bpd (discrete likelihoods only)}."""
    ll = np.asarray(log_likelihood, np.float64)
    out = {
        f"{prefix}_nats": float(-ll.mean()),
        f"{prefix}_nats_sem": float(ll.std(ddof=1) / math.sqrt(len(ll))) if len(ll) > 1 else 0.0,
    }
    if discrete:
        out[f"{prefix}_bpd"] = float(
            np.mean(nll_to_bits_per_dim(ll, num_dims, data_scale=SCALE_8BIT))
        )
    return out


@functools.lru_cache(maxsize=16)
def iwae_fn(lm, num_samples, chunk):
    """Jitted (params, x [B, ...], key) -> (L_k [B], ESS [B]): the k-sample IWAE bound with
    the k samples decoded `chunk` at a time (lax.map), so memory is O(chunk * B)."""
    chunk = min(chunk, num_samples)
    if num_samples % chunk:
        raise ValueError(f"iwae_k={num_samples} must be a multiple of iwae_chunk={chunk}.")

    @jax.jit
    def fn(params, x, key):
        keys = jax.random.split(key, num_samples // chunk)
        log_w = lax.map(lambda k: lm.log_weights(params, x, k, chunk), keys)  # 3 x [n, c, B]
        log_w = [a.reshape(num_samples, x.shape[0]) for a in log_w]
        bound, terms = losses.iwae_bound(*log_w)
        return bound, terms["ess"]

    return fn


def likelihood_metrics(
    lm,
    params,
    images,
    key,
    *,
    batch_size=250,
    iwae_k=1000,
    iwae_chunk=100,
    iwae_batch_size=10,
    iwae_num_examples=0,
):
    """Test-set -ELBO, IWAE NLL (k = iwae_k on the first iwae_num_examples images, 0: all;
    also -ELBO on that subset, for a paired comparison) and reconstruction MSE."""
    num_dims = int(np.prod(images.shape[1:]))
    elbo_key, iwae_key = jax.random.split(key)
    elbo = batched(lambda x, k: lm.elbo(params, x, k), images, batch_size, elbo_key)
    recon = batched(lambda x: lm.reconstruct(params, x), images, batch_size)
    mse = np.mean(np.square(recon - images), axis=(1, 2, 3))
    results = {
        "num_examples": len(images),
        **nll_summary("neg_elbo", elbo, num_dims, lm.discrete),
        "recon_mse": float(mse.mean()),
    }
    if iwae_k > 0:
        n = iwae_num_examples or len(images)
        fn = iwae_fn(lm, iwae_k, iwae_chunk)
        bound, ess = batched(
            lambda x, k: fn(params, x, k), images[:n], min(iwae_batch_size, n), iwae_key
        )
        results.update(
            {
                "iwae_k": iwae_k,
                "iwae_num_examples": n,
                **nll_summary("iwae_nll", bound, num_dims, lm.discrete),
                **nll_summary("iwae_subset_neg_elbo", elbo[:n], num_dims, lm.discrete),
                "iwae_ess_mean": float(np.mean(ess)),
            }
        )
    if not lm.discrete:
        results["bpd_note"] = (
            "no bits/dim: the likelihood is not a distribution over 8-bit images; use a "
            "discretized one (model.likelihood=discretized_logistic)"
        )
    return results


def kl_per_dimension(mu, logvar):
    """Mean over examples of KL(q(z_i|x) || N(0, 1)) per latent dimension i: [D] nats."""
    return np.mean(0.5 * (np.square(mu) + np.exp(logvar) - 1.0 - logvar), axis=0)


def reconstruction_metrics(reconstruct_fn, images, key, *, corrupt_fn=None, batch_size=250):
    """{'recon_mse'} of clean inputs and, with `corrupt_fn`, {'denoise_mse': MSE of the
    reconstruction of corrupted inputs against the clean ones, 'noisy_mse': of the corrupted
    inputs themselves} (MSE per pixel on the [-1, 1] scale)."""
    recon = batched(jax.jit(reconstruct_fn), images, batch_size)
    results = {"num_examples": len(images), "recon_mse": float(np.mean(np.square(recon - images)))}
    if corrupt_fn is not None:

        @jax.jit
        def denoise(x, k):
            x_tilde = corrupt_fn(x, k)
            return x_tilde, reconstruct_fn(x_tilde)

        noisy, denoised = batched(denoise, images, batch_size, key)
        results["noisy_mse"] = float(np.mean(np.square(noisy - images)))
        results["denoise_mse"] = float(np.mean(np.square(denoised - images)))
    return results


def vq_metrics(indices_fn, num_codes, images, batch_size=250):
    """Codebook perplexity and number of codes used over the whole test split."""
    indices = batched(jax.jit(indices_fn), images, batch_size)
    counts = np.bincount(indices.reshape(-1), minlength=num_codes)
    return {
        "perplexity": float(losses.codebook_perplexity(jnp.asarray(indices), num_codes)),
        "codes_used": int(np.count_nonzero(counts)),
        "num_codes": num_codes,
    }


# ---------------------------------------------------------------------------------------
# Pictures: functions returning image arrays [N, H, W, C] in [-1, 1] (rows of `ncol`)


def interpolation_rows(decode, mu_a, mu_b, x_a, x_b, num_steps):
    """Per pair (a, b): [a, decode((1 - t) mu_a + t mu_b) for t in linspace(0, 1), b]:
    [P * (num_steps + 2), H, W, C] (linear interpolation of posterior means mu [P, D])."""
    t = jnp.linspace(0.0, 1.0, num_steps)[None, :, None]
    z = (1.0 - t) * mu_a[:, None] + t * mu_b[:, None]  # [P, S, D]
    decoded = decode(z.reshape(-1, z.shape[-1])).reshape(len(x_a), num_steps, *x_a.shape[1:])
    return jnp.concatenate([x_a[:, None], decoded, x_b[:, None]], axis=1).reshape(
        -1, *x_a.shape[1:]
    )


def arithmetic_rows(decode, mu_x, x, mean_a, mean_b, alphas):
    """Per image x (of class B): [x, decode(mu_x + alpha (mean_A - mean_B)) for alpha]:
    alpha = 0 is the reconstruction, alpha = 1 the arithmetic mean(A) - mean(B) + z(x)."""
    z = mu_x[:, None] + jnp.asarray(alphas)[None, :, None] * (mean_a - mean_b)  # [N, S, D]
    decoded = decode(z.reshape(-1, z.shape[-1])).reshape(len(x), len(alphas), *x.shape[1:])
    return jnp.concatenate([x[:, None], decoded], axis=1).reshape(-1, *x.shape[1:])


def traversal_rows(decode, z0, dims, values):
    """Row i: decode(z0 with z0[dims[i]] replaced by each of `values`): [len(dims) * S, ...]."""
    dims, values = jnp.asarray(dims), jnp.asarray(values)
    z = jnp.broadcast_to(z0, (len(dims), len(values), z0.shape[-1]))
    z = z.at[jnp.arange(len(dims))[:, None], jnp.arange(len(values))[None, :], dims[:, None]].set(
        values[None, :]
    )
    return decode(z.reshape(-1, z0.shape[-1]))


def gaussian_quantiles(n, lo=0.05, hi=0.95):
    """Phi^-1 of n evenly spaced probabilities in [lo, hi] (the manifold grid of Kingma &
    Welling 2014, Fig. 4): [n]."""
    return jax.scipy.special.ndtri(jnp.linspace(lo, hi, n))


def latent_plane(means, n):
    """[n * n, D] latents on a plane: for D = 2 the N(0, I) quantile grid itself; for D > 2
    the plane through the mean of `means` spanned by their first two principal directions,
    each scaled by its standard deviation and the same quantiles."""
    q = np.asarray(gaussian_quantiles(n))
    a, b = np.meshgrid(q, q[::-1])  # rows top to bottom: second coordinate decreasing
    if means.shape[-1] == 2:
        return np.stack([a.ravel(), b.ravel()], axis=-1).astype(np.float32)
    centre = means.mean(axis=0)
    _, s, vt = np.linalg.svd(means - centre, full_matrices=False)
    sd = s[:2] / math.sqrt(len(means) - 1)
    plane = a.ravel()[:, None] * sd[0] * vt[0] + b.ravel()[:, None] * sd[1] * vt[1]
    return (centre + plane).astype(np.float32)


def projection_2d(means):
    """[N, 2]: the means themselves for D = 2, else their first two principal components."""
    if means.shape[-1] == 2:
        return means
    centred = means - means.mean(axis=0)
    return centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T


def scatter_plot(path, points, labels, class_names, title):
    """Scatter of 2-D points coloured by class, legend with class names, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 6))
    cmap = plt.get_cmap("tab10")
    for c, name in enumerate(class_names):
        sel = labels == c
        ax.scatter(points[sel, 0], points[sel, 1], s=4, color=cmap(c % 10), label=name)
    ax.set_title(title)
    ax.legend(markerscale=3, fontsize=8, loc="best")
    fig.tight_layout()
    write_atomic(path, lambda p: fig.savefig(p, format="png", dpi=120))
    plt.close(fig)


def class_names(dataset):
    if dataset == "fashion_mnist":
        from jaxgen.data.offline import FASHION_MNIST_CLASSES

        return list(FASHION_MNIST_CLASSES)
    return [str(c) for c in range(data.dataset_spec(dataset).num_classes)]


# ---------------------------------------------------------------------------------------
# Evaluators: one per table or picture


@dataclasses.dataclass(frozen=True)
class TrainedLatent:
    """A trained latent-variable model as the evaluators see it: its functions (``LatentModel``)
    and (EMA) parameters, the test split they are evaluated on (the first `num_examples`
    images of `dataset`, 0: all), the rows of every batched network call (each function
    compiles once) and the evaluation's seed."""

    lm: LatentModel
    params: Any
    dataset: str
    data_dir: str | None = None
    num_examples: int = 0
    batch_size: int = 250
    seed: int = 0

    @functools.cached_property
    def test_split(self) -> tuple[np.ndarray, np.ndarray]:
        """(images [N, H, W, C] in [-1, 1], labels [N]), loaded once."""
        return load_test_split(self.dataset, self.data_dir, self.num_examples)

    @functools.cached_property
    def posterior(self) -> tuple[np.ndarray, np.ndarray]:
        """(mu, logvar) [N, D] of q(z|x) for the test images, encoded once for every latent
        picture."""
        encode = functools.partial(self.lm.encode, self.params)
        return batched(encode, self.test_split[0], self.batch_size)

    def decode(self, z) -> np.ndarray:
        """Decoded latents z [M, D] -> images [M, H, W, C]."""
        decode = functools.partial(self.lm.decode, self.params)
        return batched(decode, np.asarray(z), self.batch_size)


@dataclasses.dataclass(frozen=True)
class LikelihoodTable:
    """The test-set numbers of ``likelihood_metrics``: -ELBO, IWAE NLL with k = `iwae_k`
    importance samples (decoded `iwae_chunk` at a time, `iwae_batch_size` images per call,
    on the first `iwae_num_examples` images, 0: all; 0 samples: no IWAE) and reconstruction
    MSE."""

    name: ClassVar[str] = "likelihood"
    iwae_k: int = 1000
    iwae_chunk: int = 100
    iwae_batch_size: int = 10
    iwae_num_examples: int = 0

    def check(self, m: TrainedLatent) -> None:
        if self.iwae_k > 0:
            iwae_fn(m.lm, self.iwae_k, self.iwae_chunk)  # raises for chunks that do not fit

    def __call__(self, m: TrainedLatent, key: jax.Array, out_dir: Path) -> Output:
        options = {"batch_size": m.batch_size, **dataclasses.asdict(self)}
        return Output(likelihood_metrics(m.lm, m.params, m.test_split[0], key, **options))


@dataclasses.dataclass(frozen=True)
class LatentStatistics:
    """What the latent pictures show about the posterior means: the mean KL of each latent
    dimension from N(0, 1) over the test split (``kl_per_dimension``) and the number of
    active units, whose KL exceeds ACTIVE_UNIT_NATS."""

    name: ClassVar[str] = "latent_statistics"

    def check(self, m: TrainedLatent) -> None:
        pass

    def __call__(self, m: TrainedLatent, key: None, out_dir: Path) -> Output:
        kl = kl_per_dimension(*m.posterior)
        return Output(
            {
                "kl_per_dim": [round(float(v), 4) for v in kl],
                "active_units": int(np.sum(kl > ACTIVE_UNIT_NATS)),
            }
        )


@dataclasses.dataclass(frozen=True)
class SamplesPicture:
    """samples.png: `num_rows` x `num_steps` samples from the prior."""

    name: ClassVar[str] = "samples"
    num_rows: int = 8
    num_steps: int = 8

    def check(self, m: TrainedLatent) -> None:
        pass

    def __call__(self, m: TrainedLatent, key: jax.Array, out_dir: Path) -> Output:
        samples = m.lm.sample(m.params, key, self.num_rows * self.num_steps)
        save_grid(out_dir / "samples.png", samples, self.num_steps)
        return Output(files={"samples": "samples.png"})


@dataclasses.dataclass(frozen=True)
class ReconstructionsPicture:
    """reconstructions.png: rows of `num_steps` test images alternating with their
    reconstructions, `num_rows` rows in all."""

    name: ClassVar[str] = "reconstructions"
    num_rows: int = 8
    num_steps: int = 8

    def check(self, m: TrainedLatent) -> None:
        pass

    def __call__(self, m: TrainedLatent, key: None, out_dir: Path) -> Output:
        x = m.test_split[0][: self.num_rows // 2 * self.num_steps]
        recon = batched(functools.partial(m.lm.reconstruct, m.params), x, m.batch_size)
        rows = autoencoder.comparison_rows([x, recon], ncol=self.num_steps)
        save_grid(out_dir / "reconstructions.png", rows, self.num_steps)
        return Output(files={"reconstructions": "reconstructions.png"})


@dataclasses.dataclass(frozen=True)
class InterpolationPicture:
    """interpolation.png: per row a random pair of test images (a, b) and `num_steps`
    decodings of the linear interpolation of their posterior means between them."""

    name: ClassVar[str] = "interpolation"
    num_rows: int = 8
    num_steps: int = 8

    def check(self, m: TrainedLatent) -> None:
        pass

    def __call__(self, m: TrainedLatent, key: None, out_dir: Path) -> Output:
        images, mu = m.test_split[0], m.posterior[0]
        pairs = np.random.default_rng(0).choice(len(images), (self.num_rows, 2), replace=False)
        a, b = pairs[:, 0], pairs[:, 1]
        rows = interpolation_rows(m.decode, mu[a], mu[b], images[a], images[b], self.num_steps)
        save_grid(out_dir / "interpolation.png", rows, self.num_steps + 2)
        return Output(files={"interpolation": "interpolation.png"})


@dataclasses.dataclass(frozen=True)
class ArithmeticPicture:
    """arithmetic.png: `num_rows` test images of class B of `arithmetic_classes` (A, B), each
    followed by decodings of z(x) + alpha (mean(A) - mean(B)) for `num_steps` alphas from 0
    to 1 (class means of the posterior means)."""

    name: ClassVar[str] = "arithmetic"
    num_rows: int = 8
    num_steps: int = 8
    arithmetic_classes: tuple[int, int] = (9, 7)

    def check(self, m: TrainedLatent) -> None:
        labels = m.test_split[1]
        if not all(np.any(labels == c) for c in self.arithmetic_classes):
            raise ValueError(
                f"arithmetic_classes {self.arithmetic_classes}: a class has no images."
            )

    def __call__(self, m: TrainedLatent, key: None, out_dir: Path) -> Output:
        (images, labels), mu = m.test_split, m.posterior[0]
        a, b = self.arithmetic_classes
        mean_a, mean_b = mu[labels == a].mean(0), mu[labels == b].mean(0)
        sel = np.flatnonzero(labels == b)[: self.num_rows]
        alphas = np.linspace(0.0, 1.0, self.num_steps)
        rows = arithmetic_rows(m.decode, mu[sel], images[sel], mean_a, mean_b, alphas)
        save_grid(out_dir / "arithmetic.png", rows, self.num_steps + 1)
        names = class_names(m.dataset)
        what = f"z(x of {names[b]}) + alpha (mean({names[a]}) - mean({names[b]}))"
        return Output({"arithmetic": what}, files={"arithmetic": "arithmetic.png"})


@dataclasses.dataclass(frozen=True)
class TraversalPicture:
    """traversal.png: from the first test image's posterior mean, one row per latent
    dimension (the `traversal_dims` of highest KL, most informative first) set to each of
    `num_steps` values in [-traversal_range, traversal_range]."""

    name: ClassVar[str] = "traversal"
    num_steps: int = 8
    traversal_range: float = 3.0
    traversal_dims: int = 10

    def check(self, m: TrainedLatent) -> None:
        pass

    def __call__(self, m: TrainedLatent, key: None, out_dir: Path) -> Output:
        mu, logvar = m.posterior
        kl = kl_per_dimension(mu, logvar)
        dims = np.argsort(-kl)[: min(self.traversal_dims, len(kl))]
        values = np.linspace(-self.traversal_range, self.traversal_range, self.num_steps)
        rows = traversal_rows(m.decode, jnp.asarray(mu[0]), dims, values)
        save_grid(out_dir / "traversal.png", rows, self.num_steps)
        return Output({"traversal_dims": dims.tolist()}, files={"traversal": "traversal.png"})


@dataclasses.dataclass(frozen=True)
class ScatterPicture:
    """scatter.png: the test set's posterior means (their first two principal components
    for latent sizes > 2), coloured by class."""

    name: ClassVar[str] = "scatter"

    def check(self, m: TrainedLatent) -> None:
        pass

    def __call__(self, m: TrainedLatent, key: None, out_dir: Path) -> Output:
        mu = m.posterior[0]
        how = "posterior means" if mu.shape[1] == 2 else "PCA of posterior means"
        title = f"{m.dataset} test set, latent dim {mu.shape[1]}:\n{how}"
        points, names = projection_2d(mu), class_names(m.dataset)
        scatter_plot(out_dir / "scatter.png", points, m.test_split[1], names, title)
        return Output(files={"scatter": "scatter.png"})


@dataclasses.dataclass(frozen=True)
class ManifoldPicture:
    """manifold.png: the decoded `manifold_size` x `manifold_size` grid of ``latent_plane``
    (Kingma & Welling 2014, Fig. 4)."""

    name: ClassVar[str] = "manifold"
    manifold_size: int = 15

    def check(self, m: TrainedLatent) -> None:
        pass

    def __call__(self, m: TrainedLatent, key: None, out_dir: Path) -> Output:
        z = latent_plane(m.posterior[0], self.manifold_size)
        save_grid(out_dir / "manifold.png", m.decode(z), self.manifold_size)
        return Output(files={"manifold": "manifold.png"})


@dataclasses.dataclass(frozen=True)
class FidSamples:
    """samples.npz: `num_fid_samples` prior samples as uint8, the input of FID."""

    name: ClassVar[str] = "fid_samples"
    num_fid_samples: int = 0

    def check(self, m: TrainedLatent) -> None:
        pass

    def __call__(self, m: TrainedLatent, key: jax.Array, out_dir: Path) -> Output:
        sample = lambda k, n: m.lm.sample(m.params, k, n)
        write_samples_npz(out_dir / "samples.npz", sample, key, self.num_fid_samples)
        return Output(files={"fid_samples": "samples.npz"})


# Pictures that need one latent vector per image (lm.encode/lm.decode), in eval.json's order.
LATENT_PICTURES = {
    "interpolation": InterpolationPicture,
    "arithmetic": ArithmeticPicture,
    "traversal": TraversalPicture,
    "scatter": ScatterPicture,
    "manifold": ManifoldPicture,
}
PICTURES = {"samples": SamplesPicture, "reconstructions": ReconstructionsPicture} | LATENT_PICTURES


def evaluators(options: Mapping[str, Any], *, one_latent: bool) -> list[Evaluator]:
    """The evaluators an eval block `options` lists, each configured by its own keys: the
    likelihood table, the pictures of options['pictures'] with, for the latent ones, the
    latent statistics they use, and num_fid_samples samples when > 0. `one_latent`: the
    model has one latent vector (a ConvVAE), which the latent pictures need."""
    pictures = options["pictures"]
    unknown = sorted(set(pictures) - set(PICTURES))
    if unknown:
        raise ValueError(f"Unknown pictures {unknown}; choose from {', '.join(PICTURES)}.")
    latent = [p for p in pictures if p in LATENT_PICTURES]
    if latent and not one_latent:
        raise ValueError(f"Pictures {latent} need a model with one latent vector (a ConvVAE).")
    units = [configure(LikelihoodTable, options)] + ([LatentStatistics()] if latent else [])
    units += [configure(unit, options) for name, unit in PICTURES.items() if name in pictures]
    fid = configure(FidSamples, options)
    return units + ([fid] if fid.num_fid_samples else [])


def evaluator_keys(seed: int) -> dict[str, jax.Array]:
    """The PRNG keys of the evaluators that sample, by name, from the root key of `seed`."""
    likelihood, samples, fid_samples = jax.random.split(jax.random.PRNGKey(seed), 3)
    return {"likelihood": likelihood, "samples": samples, "fid_samples": fid_samples}


# ---------------------------------------------------------------------------------------
# Run-level glue used by the experiments


def evaluate(
    m: TrainedLatent, options: Mapping[str, Any], out_dir: str | Path, *, step: int | None = None
) -> dict:
    """Runs the ``evaluators`` of eval block `options` on `m`, every one checked before any
    runs, and writes their pictures and eval.json (dataset, `step`, parameters, seed, then
    each evaluator's entries and the files) to out_dir, eval.json last. Returns the
    results."""
    units = evaluators(options, one_latent=m.lm.encode is not None)
    for unit in units:
        unit.check(m)
    out = run_evaluators(units, m, evaluator_keys(m.seed), out_dir)
    header = {
        "dataset": m.dataset,
        "step": step,
        "num_params": num_params(m.params),
        "seed": m.seed,
    }
    return write_results(out_dir, {**header, **out.results, "files": out.files})


def evaluate_reconstructions(
    reconstruct_fn,
    params,
    out_dir,
    *,
    dataset,
    data_dir=None,
    seed=0,
    num_examples=0,
    batch_size=250,
    corrupt_fn=None,
    indices_fn=None,
    num_codes=0,
    num_rows=8,
    step=None,
):
    """An autoencoder's (or VQ-VAE's) test-set reconstruction MSE, with `corrupt_fn` the
    denoising MSE and the noisy / denoised / clean grid (denoising.png), with `indices_fn`
    (x -> codes) the codebook perplexity and usage; reconstructions.png; eval.json.
    reconstruct_fn(params, x) and indices_fn(params, x) are jit-able."""
    images, _ = load_test_split(dataset, data_dir, num_examples)
    bound_indices = None if indices_fn is None else lambda x: indices_fn(params, x)
    recon_fn = jax.jit(lambda x: reconstruct_fn(params, x))
    key = jax.random.PRNGKey(seed)
    results = reconstruction_metrics(
        recon_fn, images, key, corrupt_fn=corrupt_fn, batch_size=batch_size
    )
    if indices_fn is not None:
        results.update(vq_metrics(bound_indices, num_codes, images, batch_size))
    x = images[: num_rows // 2 * 8]
    rows = autoencoder.comparison_rows([x, recon_fn(x)], ncol=8)
    save_grid(Path(out_dir) / "reconstructions.png", rows, 8)
    files = {"reconstructions": "reconstructions.png"}
    if corrupt_fn is not None:
        sample = autoencoder.comparison_sample_fn(reconstruct_fn, images, 9 * 9, corrupt_fn)
        save_grid(Path(out_dir) / "denoising.png", sample(params, key), 9)
        files["denoising"] = "denoising.png"
    header = {"dataset": dataset, "step": step, "num_params": num_params(params), "seed": seed}
    return write_results(out_dir, {**header, **results, "files": files})


def pca_comparison(
    decoder_kernel: np.ndarray, reconstruct_fn, train_images: np.ndarray, test_images: np.ndarray
) -> dict:
    """A linear autoencoder against PCA with as many components k (the rows of its decoder
    kernel W_d [k, D]): the principal angles between the row space of W_d and the span of
    the top-k eigenvectors of the training images' covariance (scipy.linalg.subspace_angles;
    0 when the autoencoder has learned the principal subspace), and the test-set MSE per pixel
    of reconstruct_fn (images -> unclipped reconstructions) beside PCA's, x_hat = mu + P_k
    P_k^T (x - mu) with the training mean mu; and the relative eigengap after the k-th
    eigenvalue, on which the last angle's convergence depends (a small gap leaves the k-th
    direction nearly free to rotate into the (k+1)-th at almost no cost in MSE). Images
    [N, ...] float in [-1, 1]."""
    import scipy.linalg

    k = decoder_kernel.shape[0]
    x = train_images.reshape(len(train_images), -1).astype(np.float64)
    mu = x.mean(axis=0)
    _, singular, vt = np.linalg.svd(x - mu, full_matrices=False)
    components = vt[:k].T  # [D, k]
    angles = scipy.linalg.subspace_angles(np.asarray(decoder_kernel, np.float64).T, components)
    t = test_images.reshape(len(test_images), -1).astype(np.float64)
    pca = mu + (t - mu) @ components @ components.T
    mse_pca = float(np.mean((pca - t) ** 2))
    mse_ae = float(np.mean((np.asarray(reconstruct_fn(test_images)).reshape(t.shape) - t) ** 2))
    eigenvalues = singular**2 / len(x)
    return {
        "principal_angle_max": float(angles.max()),
        "principal_angle_mean": float(angles.mean()),
        "principal_angles": sorted(float(a) for a in angles),
        # how well the subspace is defined: (lambda_k - lambda_(k+1)) / lambda_k
        "eigengap": float((eigenvalues[k - 1] - eigenvalues[k]) / eigenvalues[k - 1]),
        "mse_linear_ae": mse_ae,
        "mse_pca": mse_pca,
        "mse_ratio_ae_to_pca": mse_ae / mse_pca,
    }
