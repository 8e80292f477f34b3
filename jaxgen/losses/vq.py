"""Vector quantisation (VQ-VAE): nearest-codebook lookup with the straight-through gradient,
codebook and commitment losses, the EMA codebook update and codebook perplexity.

Latents are channels-last: z_e [B, ..., D] against a codebook [K, D].
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxgen.losses._checks import check_batched, check_same_shape, mean_per_example


class Quantized(NamedTuple):
    """Output of ``vector_quantize``.

    z_q: [B, ..., D] straight-through output for the decoder: forward value e_k,
      backward identity to z_e (z_q = sg[e_k] + z_e - sg[z_e], i.e. z_e + sg[e_k - z_e]).
    codewords: [B, ..., D] e_k = codebook[indices], differentiable w.r.t. the codebook only;
      pass this (not z_q) to ``vq_loss``.
    indices: [B, ...] int32 code indices k = argmin_j ||z_e - e_j||^2.
    """

    z_q: jax.Array
    codewords: jax.Array
    indices: jax.Array


class EMACodebookState(NamedTuple):
    """State of the EMA codebook: cluster_size N [K], embed_sum m [K, D], codebook e [K, D]."""

    cluster_size: jax.Array
    embed_sum: jax.Array
    codebook: jax.Array


def _check_codebook(fn: str, z_e: jax.Array, codebook: jax.Array) -> None:
    check_batched(fn, "z_e", z_e, min_ndim=2, layout="[B, ..., D]")
    if codebook.ndim != 2 or codebook.shape[1] != z_e.shape[-1]:
        raise ValueError(
            f"{fn}: codebook shape {tuple(codebook.shape)} does not match z_e shape "
            f"{tuple(z_e.shape)}; the codebook must be [K, D] with D = z_e.shape[-1] = "
            f"{z_e.shape[-1]}"
        )


def vector_quantize(z_e: jax.Array, codebook: jax.Array) -> Quantized:
    """Nearest-neighbour quantisation with the straight-through gradient estimator.

    k(x) = argmin_j || z_e(x) - e_j ||_2,  z_q(x) = e_k,
    backward: dL/dz_e := dL/dz_q   (z_q = sg[e_k] + z_e - sg[z_e])
    (van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning";
    straight-through estimator of Bengio et al. 2013). Ties go to the lowest index.

    Args:
      z_e: [B, ..., D] encoder outputs.
      codebook: [K, D] embedding vectors e_j.

    Returns:
      ``Quantized(z_q, codewords, indices)``.
    """
    z_e, codebook = jnp.asarray(z_e), jnp.asarray(codebook)
    _check_codebook("vector_quantize", z_e, codebook)
    flat = lax.stop_gradient(z_e.reshape(-1, z_e.shape[-1]))  # [N, D]
    cb = lax.stop_gradient(codebook)
    cross = jnp.matmul(flat, cb.T, precision=lax.Precision.HIGHEST)  # [N, K]
    distances = (
        jnp.sum(jnp.square(flat), axis=1, keepdims=True) - 2.0 * cross + jnp.sum(cb * cb, axis=1)
    )
    indices = jnp.argmin(distances, axis=1).astype(jnp.int32).reshape(z_e.shape[:-1])
    codewords = codebook[indices]  # [B, ..., D]
    # Forward exactly e_k (z_e - z_e = 0), backward identity to z_e, no gradient to e.
    z_q = lax.stop_gradient(codewords) + (z_e - lax.stop_gradient(z_e))
    return Quantized(z_q=z_q, codewords=codewords, indices=indices)


def vq_loss(
    z_e: jax.Array, codewords: jax.Array, beta: float = 0.25
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """VQ-VAE codebook and commitment losses (the reconstruction term is the caller's).

    L = || sg[z_e] - e ||^2 + beta || z_e - sg[e] ||^2
    (van den Oord et al. 2017, eq. 3; beta = 0.25 in the paper). The codebook term moves
    the codewords towards the encoder outputs; the commitment term keeps the encoder close
    to its codeword. With the EMA update (``ema_codebook_update``) drop the codebook term
    and use ``beta * terms["commitment"]``.

    Args:
      z_e: [B, ..., D] encoder outputs.
      codewords: [B, ..., D] ``Quantized.codewords`` (not the straight-through ``z_q``,
        which carries no gradient to the codebook).
      beta: commitment weight.

    Returns:
      loss: [B] codebook + beta * commitment.
      terms: {"codebook": [B], "commitment": [B]}, squared errors averaged over the
        non-batch axes.
    """
    z_e, codewords = jnp.asarray(z_e), jnp.asarray(codewords)
    check_batched("vq_loss", "z_e", z_e)
    check_same_shape("vq_loss", z_e=z_e, codewords=codewords)
    codebook = mean_per_example(jnp.square(lax.stop_gradient(z_e) - codewords))  # [B]
    commitment = mean_per_example(jnp.square(z_e - lax.stop_gradient(codewords)))  # [B]
    return codebook + beta * commitment, {"codebook": codebook, "commitment": commitment}


def init_ema_codebook(codebook: jax.Array) -> EMACodebookState:
    """EMA state whose codebook equals ``codebook``: N_j = 1 and m_j = e_j for every code."""
    codebook = jnp.asarray(codebook)
    if codebook.ndim != 2:
        raise ValueError(f"init_ema_codebook: codebook shape {codebook.shape}; expected [K, D]")
    return EMACodebookState(
        cluster_size=jnp.ones(codebook.shape[:1], codebook.dtype),
        embed_sum=codebook,
        codebook=codebook,
    )


def ema_codebook_update(
    state: EMACodebookState,
    z_e: jax.Array,
    indices: jax.Array,
    decay: float = 0.99,
    eps: float = 1e-5,
    axis_name: str | None = None,
) -> EMACodebookState:
    """Exponential-moving-average codebook update (k-means in the limit), pure.

    n_j = #{i : k_i = j},   N_j <- gamma N_j + (1 - gamma) n_j,
    m_j <- gamma m_j + (1 - gamma) sum_{i : k_i = j} z_e_i,
    Laplace smoothing  N~_j = (N_j + eps) / (n + K eps) * n,  n = sum_j N_j,
    e_j = m_j / N~_j
    (van den Oord et al. 2017, Appendix A.1; smoothing as in Razavi et al. 2019, "VQ-VAE-2",
    and Sonnet's VectorQuantizerEMA). No gradient flows through the update.

    Args:
      state: current ``EMACodebookState`` (start from ``init_ema_codebook``).
      z_e: [B, ..., D] encoder outputs of this batch.
      indices: [B, ...] their codes, ``Quantized.indices``.
      decay: gamma in [0, 1).
      eps: Laplace smoothing constant.
      axis_name: under ``shard_map``/``pmap``, the data axis to sum counts and sums over,
        so every device applies the same global update.

    Returns:
      the new ``EMACodebookState``.
    """
    z_e, indices = jnp.asarray(z_e), jnp.asarray(indices)
    _check_codebook("ema_codebook_update", z_e, state.codebook)
    if indices.shape != z_e.shape[:-1]:
        raise ValueError(
            f"ema_codebook_update: indices shape {tuple(indices.shape)} != z_e shape "
            f"{tuple(z_e.shape)} without its last axis; pass Quantized.indices"
        )
    num_codes = state.codebook.shape[0]
    flat = lax.stop_gradient(z_e.reshape(-1, z_e.shape[-1]))  # [N, D]
    one_hot = jax.nn.one_hot(indices.reshape(-1), num_codes, dtype=flat.dtype)  # [N, K]
    counts = jnp.sum(one_hot, axis=0)  # [K]
    sums = jnp.matmul(one_hot.T, flat, precision=lax.Precision.HIGHEST)  # [K, D]
    if axis_name is not None:
        counts, sums = lax.psum((counts, sums), axis_name)
    cluster_size = decay * state.cluster_size + (1.0 - decay) * counts
    embed_sum = decay * state.embed_sum + (1.0 - decay) * sums
    total = jnp.sum(cluster_size)
    smoothed = (cluster_size + eps) / (total + num_codes * eps) * total
    return EMACodebookState(cluster_size, embed_sum, embed_sum / smoothed[:, None])


def codebook_perplexity(indices: jax.Array, num_codes: int) -> jax.Array:
    """Perplexity of the code usage over the whole batch (a batch statistic, not [B]).

    perplexity = exp(-sum_j p_j log p_j),  p_j = fraction of positions assigned code j;
    1 when one code is used, K when all are used equally (a codebook-collapse monitor, as
    in Sonnet's VectorQuantizer).

    Args:
      indices: [B, ...] integer codes.
      num_codes: K.

    Returns:
      scalar perplexity in [1, K].
    """
    indices = jnp.asarray(indices)
    p = jnp.mean(jax.nn.one_hot(indices.reshape(-1), num_codes), axis=0)  # [K]
    return jnp.exp(-jnp.sum(p * jnp.log(jnp.where(p > 0, p, 1.0))))
