"""What a CLIP model knows: zero-shot attribute accuracy from text prompts and text-to-image
retrieval (Radford et al. 2021), on a captioned dataset (jaxgen.data.captions).

Zero-shot: each value of an attribute (an item class, a colour, a size, a position) is
described by the mean of the normalised text embeddings of every caption with that value
(template 0, first phrasing) over all values of the other attributes: CLIP's prompt
ensembling. An image gets the value whose description is the most similar (cosine).
Retrieval: for caption i of N test pairs, the rank of image i among the N images by cosine;
R@k = the fraction of captions whose own image ranks within the first k. (Captions repeat:
several images fit one caption, so R@1 has a ceiling below 1.)
"""

from __future__ import annotations

import itertools

import numpy as np

from jaxgen.data import captions

ATTRIBUTES = ("item", "colour", "size", "position")


def normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def prompt_table(dataset: str) -> tuple[list[str], dict[str, np.ndarray]]:
    """(captions, {attribute: [P] value index}) of every attribute combination, template 0
    and the first phrasing of each position."""
    words = captions.CLASS_WORDS[dataset]
    counts = (len(words), len(captions.COLOURS), len(captions.SIZES), len(captions.POSITIONS))
    combos = np.array(list(itertools.product(*map(range, counts))))
    texts = [captions.caption(words, *map(int, c), template=0, phrase=0) for c in combos]
    return texts, {a: combos[:, i] for i, a in enumerate(ATTRIBUTES)}


def class_embeddings(
    prompt_embeddings: np.ndarray, values: np.ndarray, num_values: int
) -> np.ndarray:
    """[num_values, E]: the normalised mean of the normalised embeddings of the prompts
    with each value."""
    p = normalise(prompt_embeddings)
    return normalise(np.stack([p[values == v].mean(axis=0) for v in range(num_values)]))


def zero_shot(
    image_embeddings: np.ndarray, prompt_embeddings: np.ndarray, table: dict, truth: dict
) -> dict[str, float]:
    """{'zero_shot_<attribute>': accuracy} of the images against each attribute's class
    embeddings; `truth` holds each attribute's [N] true values."""
    u = normalise(image_embeddings)
    out = {}
    for a in ATTRIBUTES:
        classes = class_embeddings(prompt_embeddings, table[a], int(table[a].max()) + 1)
        out[f"zero_shot_{a}"] = float(np.mean(np.argmax(u @ classes.T, axis=1) == truth[a]))
    return out


def retrieval(
    image_embeddings: np.ndarray, text_embeddings: np.ndarray, ks: tuple[int, ...] = (1, 5)
) -> dict[str, float]:
    """{'retrieval_r@k': fraction of texts whose own image (same row) is among the k images
    most similar to it}."""
    similarity = normalise(text_embeddings) @ normalise(image_embeddings).T  # [N texts, N]
    own = np.diagonal(similarity)[:, None]
    rank = (similarity > own).sum(axis=1)  # images strictly more similar than its own
    return {f"retrieval_r@{k}": float(np.mean(rank < k)) for k in ks}
