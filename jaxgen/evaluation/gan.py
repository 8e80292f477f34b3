"""Evaluation of the conditional and the image-to-image GANs: the scores that `jaxgen eval`
(unconditional samples against the test split) leaves out.

- conditional: samples G(z_i, y_i), z_i ~ N(0, I), labels y_i = i mod K (balanced), scored
  by FID, KID, IS, precision/recall and mode coverage, plus the feature classifier's
  accuracy for y_i: how often the sample shows the class it was asked for.
- translation (pix2pix): G(x) for every held-out pair (x, y); L1 = mean |G(x) - y| on the
  [0, 1] pixel scale, and the same sample scores of the G(x) against the test split.

Each writes eval.json and a picture to out_dir (``common.eval_dir`` of the run).
"""

from pathlib import Path

import numpy as np

from jaxgen.evaluation import common
from jaxgen.metrics import evaluate_samples

METRICS = ("fid", "kid", "is", "pr", "modes")


def score_options(c):
    """The scoring keywords of a run's config c: dataset, batch_size, seed, data_dir."""
    return {
        "dataset": c.data.name,
        "batch_size": c.eval.batch_size,
        "seed": c.eval.seed,
        "data_dir": c.data.get("data_dir"),
    }


def conditional_scores(draw, num_classes, num_samples, key, *, dataset, batch_size=1000, **kw):
    """(images, results) of `num_samples` samples with labels i mod num_classes, drawn by
    draw(labels [B], key) -> [B, H, W, C] in [-1, 1], batch i with fold_in(key, i); `kw`
    goes to evaluate_samples (seed, data_dir)."""
    labels = np.arange(num_samples) % num_classes
    images = common.batched(draw, labels, batch_size, key)
    results = evaluate_samples(images, dataset, METRICS, **kw)
    return images, common.with_label_accuracy(results, images, labels, dataset)


def translation_scores(translate, x_source, y_target, key, *, dataset, batch_size=500, **kw):
    """(outputs, results) of translate(x [B, ...], key) -> G(x) in [-1, 1] on every pair of
    (x_source, y_target): l1 = mean |G(x) - y| / 2 (the [0, 1] pixel scale) and the sample
    scores of the G(x); `kw` goes to evaluate_samples (seed, data_dir)."""
    outputs = common.batched(translate, x_source, batch_size, key)
    results = evaluate_samples(outputs, dataset, METRICS, **kw)
    results["l1"] = float(np.mean(np.abs(outputs - y_target)) / 2)
    results["labels"]["l1"] = "L1, mean |G(x) - y| of the test pairs on the [0, 1] pixel scale"
    return outputs, results


def write(out_dir, results, picture, images, ncol, step):
    """out_dir/PICTURE.png (a grid of images with ncol columns), then eval.json ({**results,
    step}) last; returns what eval.json holds."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    common.save_grid(out_dir / f"{picture}.png", images, ncol)
    return common.write_results(out_dir, {**results, "step": int(step)})
