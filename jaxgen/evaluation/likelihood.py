"""Evaluation of exact-likelihood models (PixelCNN, flows) on a test split: test-set NLL in
nats and bits/dim, the cost of sampling, and the sample pictures.

Bits/dim use ``metrics.nll_to_bits_per_dim`` with the model's data scale: ``SCALE_8BIT``
for a distribution over the 256 levels of 8-bit images (PixelCNN: exact), ``SCALE_MINUS1_1``
for a density of uniformly dequantized images in [-1, 1] (flows: an upper bound on the
discrete NLL). Part of the evaluation layer, above the models, like ``evaluation.latent``;
experiments call it from their ``evaluate(workdir)``.
"""

import math
import time
from pathlib import Path

import jax
import numpy as np

from jaxgen.evaluation import common
from jaxgen.metrics import nll_to_bits_per_dim


def nll_metrics(log_likelihood, num_dims, data_scale):
    """{test_nll_nats, test_bpd} (means over examples) and their standard errors from
    per-example log-likelihoods [N] in nats of the model's data space."""
    ll = np.asarray(log_likelihood, np.float64)
    bpd = nll_to_bits_per_dim(ll, num_dims, data_scale=data_scale)
    sem = lambda v: float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0
    return {
        "test_nll_nats": float(-ll.mean()),
        "test_nll_nats_sem": sem(ll),
        "test_bpd": float(bpd.mean()),
        "test_bpd_sem": sem(bpd),
    }


def timed_sample(sample_fn, key):
    """(images, timing) of the jitted sample_fn(key) -> [N, H, W, C]: compiled ahead of
    time, then timed alone (device work included), so seconds_per_image excludes compilation."""
    t0 = time.perf_counter()
    compiled = jax.jit(sample_fn).lower(key).compile()
    t1 = time.perf_counter()
    images = jax.block_until_ready(compiled(key))
    t2 = time.perf_counter()
    n = int(images.shape[0])
    timing = {
        "num_samples": n,
        "compile_s": round(t1 - t0, 3),
        "seconds": round(t2 - t1, 3),
        "seconds_per_image": round((t2 - t1) / n, 5),
        "device": jax.devices()[0].device_kind,
    }
    return np.asarray(images), timing


def evaluate_likelihood_model(
    log_likelihood,
    sample_fn,
    params,
    out_dir,
    *,
    dataset,
    data_scale,
    discretization,
    data_dir=None,
    seed=0,
    num_examples=0,
    batch_size=250,
    sample_ncol=8,
    pictures=None,
    step=None,
):
    """Test-set NLL and bits/dim, timed sampling and pictures of a likelihood model -> out_dir
    (samples.png, one PNG per entry of `pictures`, eval.json last). Returns the results.

    log_likelihood(x [B, H, W, C], labels [B], key) -> [B] nats (jit-able; batch i gets
    fold_in(key, i)); sample_fn(key) -> [N, H, W, C] in [-1, 1]; pictures: {name:
    fn(key) -> (images, ncol)}; `discretization` states how bits/dim were computed.
    """
    images, labels = common.load_test_split(dataset, data_dir, num_examples)
    ll_key, sample_key, picture_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    ll_fn = jax.jit(log_likelihood)
    ll = common.batched(
        lambda i, k: ll_fn(images[i], labels[i], k), np.arange(len(images)), batch_size, ll_key
    )
    num_dims = int(np.prod(images.shape[1:]))
    samples, timing = timed_sample(sample_fn, sample_key)
    out_dir = Path(out_dir)
    common.save_grid(out_dir / "samples.png", samples, sample_ncol)
    files = {"samples": "samples.png"}
    for i, (name, fn) in enumerate((pictures or {}).items()):
        grid, ncol = fn(jax.random.fold_in(picture_key, i))
        common.save_grid(out_dir / f"{name}.png", grid, ncol)
        files[name] = f"{name}.png"
    results = {
        "dataset": dataset,
        "step": step,
        "num_params": common.num_params(params),
        "seed": seed,
        "num_examples": len(images),
        **nll_metrics(ll, num_dims, data_scale),
        "discretization": discretization,
        "sampling": timing,
        "files": files,
    }
    return common.write_results(out_dir, results)
