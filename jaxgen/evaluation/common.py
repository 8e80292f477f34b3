"""Evaluation helpers shared by the model families: the test split and batched calls over
it, image grids, samples for FID, eval.json, parameter counts, run directories, and the
evaluators' protocol (one small configured unit per table or picture, ``configure`` from a
config's eval block, ``run_evaluators``; google-research/big_vision's evaluators are the
model).

The family modules (``latent``, ``likelihood``, ``diffusion``, ``gan``, ``dip``) build their
evaluations from these; experiments call ``eval_dir`` from their ``evaluate(workdir)``.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import jax
import numpy as np

from jaxgen import data
from jaxgen.files import write_json, write_npz_atomic
from jaxgen.train.writers import image_grid, save_png

# ---------------------------------------------------------------------------------------
# The test split


def load_test_split(name, data_dir=None, num_examples=0):
    """(images [N, H, W, C] float32 in [-1, 1], labels [N]) of `name`'s test split; the
    first `num_examples` (0: all)."""
    images, labels = data.load_split(name, "test", data_dir)
    n = num_examples or len(images)
    return data.to_float(images[:n]), labels[:n]


def batched(fn, images, batch_size, key=None):
    """Concatenated fn(x[, key_i]) over batches of `images` (the last one padded, then cut):
    numpy arrays (or tuples of them) with the leading axis of `images`. Batch i gets
    fold_in(key, i), so results do not depend on anything but (key, batch_size)."""
    n = len(images)
    outs = []
    for i, start in enumerate(range(0, n, batch_size)):
        x = images[start : start + batch_size]
        pad = batch_size - len(x)
        x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)]) if pad else x
        out = fn(x) if key is None else fn(x, jax.random.fold_in(key, i))
        outs.append(jax.tree.map(lambda a, m=batch_size - pad: np.asarray(a)[:m], out))
    return jax.tree.map(lambda *a: np.concatenate(a), *outs)


# ---------------------------------------------------------------------------------------
# Writing results


def save_grid(path, images, ncol):
    """A PNG grid of images [N, H, W, C] in [-1, 1], upscaled to about 512 px wide."""
    grid = image_grid(np.asarray(images), ncol=ncol)
    save_png(path, grid, scale=max(1, 512 // grid.shape[1]))


def num_params(params):
    """Number of scalars in a parameter tree."""
    return int(sum(np.size(p) for p in jax.tree.leaves(params)))


def to_uint8(images):
    return np.round((np.clip(np.asarray(images), -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def write_samples_npz(path, sample_fn, key, num_samples, batch_size=1000):
    """`num_samples` samples as uint8 [N, H, W, C] under the name 'samples' (the input of
    ``metrics.evaluate_samples`` for FID), drawn `batch_size` at a time by
    sample_fn(key, n) -> [n, H, W, C] in [-1, 1]."""
    chunks = [
        to_uint8(sample_fn(jax.random.fold_in(key, i), min(batch_size, num_samples - start)))
        for i, start in enumerate(range(0, num_samples, batch_size))
    ]
    write_npz_atomic(path, samples=np.concatenate(chunks))


def write_results(out_dir, results):
    """out_dir/eval.json (atomic); returns `results`."""
    write_json(Path(out_dir) / "eval.json", results)
    return results


# ---------------------------------------------------------------------------------------
# Evaluators: small configured units, one per table or picture


@dataclasses.dataclass
class Output:
    """What one evaluator adds to eval.json: `results` (its entries), `labels` (metric key ->
    human-readable name) and `files` (picture name -> file name in the output directory)."""

    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    files: dict[str, str] = dataclasses.field(default_factory=dict)


class Evaluator(Protocol):
    """One table or picture: a frozen dataclass of its own config keys (``configure``).

    ``check(subject)`` raises ValueError for options that cannot work with `subject` (the
    trained model a family's evaluators share), before any evaluator runs; calling it with
    (subject, key, out_dir) computes its numbers, writes its pictures to out_dir and returns
    its ``Output``. `name` picks its PRNG key.
    """

    name: ClassVar[str]

    def check(self, subject: Any) -> None: ...

    def __call__(self, subject: Any, key: jax.Array | None, out_dir: Path) -> Output: ...


E = TypeVar("E")


def configure(evaluator: type[E], options: Mapping[str, Any], **fixed: Any) -> E:
    """`evaluator` (a dataclass) built from the entries of `options`, a config's eval block,
    that name its fields, and `fixed`; the other entries belong to other evaluators."""
    names = [f.name for f in dataclasses.fields(evaluator) if f.name not in fixed]
    return evaluator(**{k: options[k] for k in names if k in options}, **fixed)


def run_evaluators(
    evaluators: Sequence[Evaluator],
    subject: Any,
    keys: Mapping[str, jax.Array],
    out_dir: str | Path,
) -> Output:
    """Runs each of `evaluators` (already checked) on `subject` with keys[its name] (None
    without one), in order; their outputs merged in that order."""
    merged = Output()
    for evaluator in evaluators:
        out = evaluator(subject, keys.get(evaluator.name), Path(out_dir))
        merged.results.update(out.results)
        merged.labels.update(out.labels)
        merged.files.update(out.files)
    return merged


# ---------------------------------------------------------------------------------------
# Run-level glue used by the experiments


def eval_dir(workdir, step):
    return Path(workdir) / "eval" / f"step_{int(step):06d}"
