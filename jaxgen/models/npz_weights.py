"""Weights files of fixed, pretrained networks (feature extractors): one ``.npz`` array per
flax variable, keyed by its path joined with ``'/'``, collection first
(``params/conv1_1/kernel``). Files come from the user (converted from another framework);
nothing is downloaded at run time. The loader checks the file against the model's own
variables, so a wrong or truncated file fails before any computation with one message.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jaxgen.files import write_npz_atomic

_MAX_KEYS_IN_ERROR = 5


def variable_shapes(
    model: nn.Module, *example_inputs: jax.Array | jax.ShapeDtypeStruct
) -> dict[str, tuple[int, ...]]:
    """Flat ``'collection/module/.../leaf' -> shape`` of every variable of ``model`` applied
    to ``example_inputs`` (arrays or ``jax.ShapeDtypeStruct``), without computing."""
    abstract = jax.eval_shape(model.init, jax.random.key(0), *example_inputs)
    flat = traverse_util.flatten_dict(abstract, sep="/")
    return {path: tuple(leaf.shape) for path, leaf in flat.items()}


def save_variables(path: str | os.PathLike, variables: Mapping) -> None:
    """Writes flax ``variables`` (``{'params': ..., ...}``) as an ``.npz`` weights file."""
    flat = traverse_util.flatten_dict(dict(variables), sep="/")
    np.savez(path, **{key: np.asarray(value) for key, value in flat.items()})


def convert_torch_main(
    argv: list[str] | None,
    description: str,
    convert_fn: Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]],
    check_fn: Callable[[str], object],
    input_help: str,
    output_help: str,
) -> None:
    """The command line of a converter: reads the PyTorch state dict at argv's first path
    (torch is needed only here), writes convert_fn({name: numpy array}) as an ``.npz``
    weights file at the second (atomically), then check_fn(out) loads it against the
    model's variables, so a wrong file fails here rather than at use."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("pth", help=input_help)
    parser.add_argument("out_npz", help=output_help)
    args = parser.parse_args(argv)

    import torch

    state_dict = torch.load(args.pth, map_location="cpu")
    write_npz_atomic(args.out_npz, **convert_fn({k: v.numpy() for k, v in state_dict.items()}))
    check_fn(args.out_npz)  # raises if any variable is missing or mis-shaped
    print(f"wrote {args.out_npz}")


def _first(keys, n: int = _MAX_KEYS_IN_ERROR) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_variables(
    path: str | os.PathLike, expected: Mapping[str, tuple[int, ...]], *, network: str, fix: str
) -> dict:
    """Reads an ``.npz`` weights file into flax variables (float32).

    Every key of ``expected`` (e.g. from :func:`variable_shapes`) must be in the file with
    its exact shape, and the file may hold nothing else. A missing file raises
    ``FileNotFoundError``, any other mismatch one ``ValueError`` listing the first offending
    keys; both name ``network`` and end with ``fix`` (how to make a valid file).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{network} weights file not found: {path!r}. {fix} (weights are never "
            "downloaded at run time)."
        )
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    missing = expected.keys() - arrays.keys()
    extra = arrays.keys() - expected.keys()
    mismatched = [
        f"{key} {arrays[key].shape} != {expected[key]}"
        for key in sorted(expected.keys() & arrays.keys())
        if arrays[key].shape != tuple(expected[key])
    ]
    if missing or extra or mismatched:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing: {_first(missing)}")
        if extra:
            problems.append(f"{len(extra)} unexpected: {_first(extra)}")
        if mismatched:
            problems.append(f"{len(mismatched)} with wrong shape: {_first(mismatched)}")
        example = next((k for k in expected if k.endswith("kernel")), next(iter(expected)))
        raise ValueError(
            f"{network} weights file {path!r} does not match the {network} "
            f"({len(expected)} variables): " + "; ".join(problems) + ". Keys are flax "
            f"variable paths joined by '/' (e.g. {example!r}). {fix}."
        )
    flat = {key: jnp.asarray(value, jnp.float32) for key, value in arrays.items()}
    return traverse_util.unflatten_dict(flat, sep="/")
