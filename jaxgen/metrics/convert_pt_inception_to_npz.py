"""Convert pytorch-fid's InceptionV3 weights to jaxgen's ``.npz`` format.

Usage (needs torch, only for reading the file)::

    python -m jaxgen.metrics.convert_pt_inception_to_npz \\
        pt_inception-2015-12-05-6726825d.pth fid_inception_v3.npz

The input is the state dict that pytorch-fid downloads (FID_WEIGHTS_URL in its
``inception.py``), a port of the TF FID graph. Module names are identical in both
frameworks (``Mixed_6b.branch7x7_2`` -> ``Mixed_6b/branch7x7_2``); only the leaves are
renamed, by ``LEAF_TABLE``, and conv / dense kernels transposed from torch's OIHW / [out, in]
to flax's HWIO / [in, out]. ``num_batches_tracked`` buffers are dropped. The output is
checked with :func:`jaxgen.metrics.inception.load_inception_variables`; pass it as
``metrics.inception_weights`` / ``--inception-weights``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from jaxgen.models.npz_weights import convert_torch_main

# torch leaf -> (flax collection, flax leaf path, array transform)
LEAF_TABLE = {
    "conv.weight": ("params", "conv/kernel", lambda w: w.transpose(2, 3, 1, 0)),
    "bn.weight": ("params", "bn/scale", lambda w: w),
    "bn.bias": ("params", "bn/bias", lambda w: w),
    "bn.running_mean": ("batch_stats", "bn/mean", lambda w: w),
    "bn.running_var": ("batch_stats", "bn/var", lambda w: w),
    "fc.weight": ("params", "fc/kernel", lambda w: w.T),
    "fc.bias": ("params", "fc/bias", lambda w: w),
}


def convert_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """pytorch-fid state dict (numpy arrays) -> flat ``'collection/path/leaf'`` arrays."""
    converted = {}
    for name, value in state_dict.items():
        if name.endswith("num_batches_tracked"):
            continue
        parts = name.split(".")
        leaf = ".".join(parts[-2:])
        if leaf not in LEAF_TABLE:
            raise ValueError(f"unknown pytorch-fid parameter {name!r} (leaf {leaf!r}).")
        collection, flax_leaf, transform = LEAF_TABLE[leaf]
        key = "/".join([collection, *parts[:-2], flax_leaf])
        converted[key] = np.ascontiguousarray(transform(np.asarray(value, np.float32)))
    return converted


def main(argv: list[str] | None = None) -> None:
    from jaxgen.metrics.inception import load_inception_variables

    convert_torch_main(
        argv,
        __doc__.splitlines()[0],
        convert_state_dict,
        load_inception_variables,
        "pytorch-fid pt_inception-2015-12-05-*.pth",
        "output .npz for metrics.inception_weights",
    )


if __name__ == "__main__":
    main()
