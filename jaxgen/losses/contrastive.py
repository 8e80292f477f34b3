"""Contrastive image-text loss of CLIP (Radford et al. 2021, "Learning Transferable Visual
Models From Natural Language Supervision"): the symmetric InfoNCE over a batch of pairs."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.losses._checks import check_batched, check_same_shape


def clip_logits(
    image_embeddings: jax.Array, text_embeddings: jax.Array, log_temperature: jax.Array
) -> jax.Array:
    """[B, B] similarity logits L_ij = exp(t) <u_i, v_j> of the L2-normalised image
    embeddings u_i = I_i / ||I_i|| and text embeddings v_j = T_j / ||T_j||, with the learned
    log inverse temperature t (CLIP initialises it to log(1 / 0.07) and clips exp(t) at 100).
    Row i scores image i against every text of the batch; the pairs are on the diagonal."""
    fn = "clip_logits"
    check_batched(fn, "image_embeddings", image_embeddings, 2, "[B, D]")
    check_same_shape(
        fn, "[B, D]", image_embeddings=image_embeddings, text_embeddings=text_embeddings
    )
    u = image_embeddings / jnp.linalg.norm(image_embeddings, axis=-1, keepdims=True)
    v = text_embeddings / jnp.linalg.norm(text_embeddings, axis=-1, keepdims=True)
    return jnp.exp(log_temperature) * u @ v.T


def clip_loss(
    image_embeddings: jax.Array, text_embeddings: jax.Array, log_temperature: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Symmetric InfoNCE of CLIP, per pair i of the batch:

        loss_i = (CE(L_i., i) + CE(L_.i, i)) / 2
               = (-log softmax_j(L_ij)[j=i] - log softmax_j(L_ji)[j=i]) / 2,

    with L = clip_logits(...): image i must pick text i among the batch's texts, and text i
    image i among its images. The mean over the batch is CLIP's loss. Returns ([B] loss,
    terms): image_to_text and text_to_image [B] cross-entropies, and accuracy [B] (1 where
    the image's best-scoring text is its own)."""
    logits = clip_logits(image_embeddings, text_embeddings, log_temperature)
    diagonal = jnp.diagonal(logits)
    image_to_text = jax.nn.logsumexp(logits, axis=1) - diagonal
    text_to_image = jax.nn.logsumexp(logits, axis=0) - diagonal
    accuracy = (jnp.argmax(logits, axis=1) == jnp.arange(logits.shape[0])).astype(jnp.float32)
    terms = {"image_to_text": image_to_text, "text_to_image": text_to_image, "accuracy": accuracy}
    return (image_to_text + text_to_image) / 2, terms
