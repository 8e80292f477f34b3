"""Convert torchvision's VGG-19 weights to jaxgen's ``.npz`` format (jaxgen.models.style).

Usage (needs torch, only for reading the file)::

    python -m jaxgen.models.convert_vgg19_to_npz vgg19-dcbb9e9d.pth vgg19.npz

The input is the state dict of ``torchvision.models.vgg19`` (ImageNet weights). Its conv
layers are ``features.{0, 2, 5, ..., 34}``; they become ``params/conv{b}_{i}``, kernels
transposed from torch's OIHW to flax's HWIO. The classifier (``classifier.*``) is not used
by style transfer and is dropped. The output is checked with
:func:`jaxgen.models.style.load_vgg19_variables`; pass it as ``--config.features.weights``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from jaxgen.models.npz_weights import convert_torch_main
from jaxgen.models.style import VGG19_CONVS, load_vgg19_variables

# Index of each conv in torchvision's `features` Sequential (conv, ReLU pairs; a max pool
# after each block): conv1_1 ... conv5_4.
TORCHVISION_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


def convert_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """torchvision vgg19 state dict (numpy arrays) -> flat ``'params/conv{b}_{i}/leaf'``."""
    names = dict(zip(TORCHVISION_INDICES, VGG19_CONVS, strict=True))
    converted = {}
    for key, value in state_dict.items():
        part, index, leaf = key.split(".")
        if part == "classifier":
            continue
        if part != "features" or int(index) not in names or leaf not in ("weight", "bias"):
            raise ValueError(f"unknown torchvision vgg19 parameter {key!r}.")
        value = np.asarray(value, np.float32)
        if leaf == "weight":
            converted[f"params/{names[int(index)]}/kernel"] = value.transpose(2, 3, 1, 0)
        else:
            converted[f"params/{names[int(index)]}/bias"] = value
    return {k: np.ascontiguousarray(v) for k, v in converted.items()}


def main(argv: list[str] | None = None) -> None:
    convert_torch_main(
        argv,
        __doc__.splitlines()[0],
        convert_state_dict,
        load_vgg19_variables,
        "torchvision vgg19 state dict, e.g. vgg19-dcbb9e9d.pth",
        "output .npz for --config.features.weights",
    )


if __name__ == "__main__":
    main()
