"""Does the image say what the caption says? Scores of images generated from captions of a
captioned dataset (jaxgen.data.captions).

Attribute accuracy: colour, position and size read back by the dataset's exact oracles
(captions.read_attributes), the item by a classifier (the caller's: the source dataset's on
the de-tinted, re-cropped garment); full-caption accuracy = the fraction of images with all
four right.
CLIP score (Hessel et al. 2021 with w = 100, as GLIDE and Imagen report it):
100 * mean_i max(cos(u_i, v_i), 0) of the CLIP image embedding u_i of image i and the text
embedding v_i of its caption.
"""

from __future__ import annotations

import numpy as np

from jaxgen.data import captions

ATTRIBUTES = ("item", "colour", "size", "position")


def caption_accuracy(
    images: np.ndarray, truth: dict[str, np.ndarray], items: np.ndarray
) -> dict[str, float]:
    """{'accuracy_<attribute>': ..., 'accuracy_caption': ...} of images [N, 32, 32, 3] uint8
    drawn for captions with attributes `truth` ({attribute: [N] index}); items [N]: the item
    classifier's class of each image. An image with no foreground gets every attribute
    wrong (the oracles read -1; give it item -1)."""
    read = captions.read_attributes(images)
    read["item"] = np.asarray(items)
    right = {a: read[a] == np.asarray(truth[a]) for a in ATTRIBUTES}
    scores = {f"accuracy_{a}": float(np.mean(r)) for a, r in right.items()}
    scores["accuracy_caption"] = float(np.mean(np.logical_and.reduce(list(right.values()))))
    return scores


def clip_score(image_embeddings: np.ndarray, text_embeddings: np.ndarray) -> float:
    """100 * mean_i max(cos(u_i, v_i), 0) over matching rows."""
    u, v = (
        x / np.linalg.norm(x, axis=-1, keepdims=True) for x in (image_embeddings, text_embeddings)
    )
    return float(100 * np.mean(np.maximum((u * v).sum(axis=-1), 0.0)))
