"""Image-to-image tasks built from the offline datasets (pure numpy on `load_split`).

pix2pix, paired: edge map -> image. The input is the thresholded Sobel gradient magnitude
of the image (white outlines on black, like the data). We chose it over masked image ->
image because it is pix2pix's own edges2shoes / edges2handbags task (Isola et al. 2017),
and Fashion-MNIST holds shoes and bags; and because it is many-to-one: outlines keep the
shape but drop the fill, shading and print of the garment, so L1 alone regresses to a
blurred mean fill and the conditional adversarial term has something to add, which is the
paper's point. The edge map is a deterministic function of the image, so the pairs are
made on the fly from the ordinary image batches (`edge_map` works on numpy and jax arrays).

CycleGAN, unpaired: two classes of one dataset, e.g. Fashion-MNIST "sneaker" (7) <->
"ankle boot" (9): shoes of similar pose that differ in shape (shaft height) and texture,
with no pairing between them (like horse <-> zebra, Zhu et al. 2017). `class_domains`
gives the images of both classes; a translation is judged by whether it keeps the pose and
proportions of its input while becoming a plausible member of the other class.
"""

import numpy as np

from jaxgen.data import load_split, to_float

EDGE_THRESHOLD = 0.25  # on the Sobel magnitude of [0, 1] images, normalised so a unit step is 1


def edge_map(images, threshold=EDGE_THRESHOLD, xp=np):
    """Edges of images [..., H, W, C] in [-1, 1]: 1 where the Sobel gradient magnitude of the
    [0, 1] image (divided by 4, so a step from 0 to 1 gives 1) exceeds `threshold`, else -1;
    one channel per input channel. `xp` is the array module (numpy or jax.numpy)."""
    x = (images + 1.0) / 2.0
    pad = [(0, 0)] * (x.ndim - 3) + [(1, 1), (1, 1), (0, 0)]
    p = xp.pad(x, pad, mode="edge")
    h, w = x.shape[-3], x.shape[-2]

    def at(i, j):  # the neighbour at offset (i - 1, j - 1) of every pixel
        return p[..., i : i + h, j : j + w, :]

    gx = (at(0, 2) + 2 * at(1, 2) + at(2, 2)) - (at(0, 0) + 2 * at(1, 0) + at(2, 0))
    gy = (at(2, 0) + 2 * at(2, 1) + at(2, 2)) - (at(0, 0) + 2 * at(0, 1) + at(0, 2))
    magnitude = xp.sqrt(gx * gx + gy * gy) / 4.0
    return xp.where(magnitude > threshold, 1.0, -1.0).astype(x.dtype)


def edges_to_images(name, split, data_dir=None, threshold=EDGE_THRESHOLD):
    """The pix2pix pairs of a split: (edge maps, images), both float32 [N, H, W, C] in [-1, 1]."""
    images = to_float(load_split(name, split, data_dir)[0])
    return edge_map(images, threshold), images


def class_domains(name, split, label_a, label_b, data_dir=None):
    """The unpaired CycleGAN domains of a split: (images of class label_a, of label_b), uint8
    [N_a, H, W, C] and [N_b, H, W, C]."""
    images, labels = load_split(name, split, data_dir)
    domains = images[labels == label_a], images[labels == label_b]
    for label, domain in zip((label_a, label_b), domains, strict=True):
        if len(domain) == 0:
            raise ValueError(f"{name}/{split} has no images of class {label}; pick two classes.")
    return domains
