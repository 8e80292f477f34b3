"""Evaluation of the conditional and the image-to-image GANs: the scores that `jaxgen eval`
(unconditional samples against the test split) leaves out.

- conditional: samples G(z_i, y_i), z_i ~ N(0, I), labels y_i = i mod K (balanced), scored
  by FID, KID, IS, precision/recall and mode coverage, plus the feature classifier's
  accuracy for y_i: how often the sample shows the class it was asked for.
- translation (pix2pix): G(x) for every held-out pair (x, y); L1 = mean |G(x) - y| on the
  [0, 1] pixel scale, and the same sample scores of the G(x) against the test split.
- cycle (CycleGAN): G: A -> B and F: B -> A on held-out images of both domains; per
  direction the classifier's accuracy for the target class (the FCN-score of Zhu et al.
  with our classifier), FID against the target domain's images next to the FID of the
  untranslated inputs, and the cycle L1 mean |F(G(a)) - a| on the [0, 1] scale.

Each writes eval.json and a picture to out_dir (``common.eval_dir`` of the run).
"""

from pathlib import Path

import numpy as np

from jaxgen.evaluation import common
from jaxgen.metrics import (
    argmax_accuracy,
    evaluate_samples,
    frechet_distance,
    gaussian_stats,
    load_feature_net,
    net_outputs,
)

METRICS = ("fid", "kid", "is", "pr", "modes")
CYCLE_ROWS = ("a", "fake_b", "cycled_a", "b", "fake_a", "cycled_b")  # translation_grid's
CYCLE_LABELS = {  # of cycle_scores' numbers, for d = s_to_t
    "accuracy_{d}": "accuracy for the target class of the {d} translations",
    "fid_{d}": "FID of the {d} translations against the target domain",
    "fid_input_{d}": "FID of the untranslated inputs against the target domain ({d})",
    "cycle_l1_{s}": "cycle L1 of domain {s} on the [0, 1] pixel scale",
}


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
    return images, evaluate_samples(images, dataset, METRICS, classes=labels, **kw)


def translation_scores(translate, x_source, y_target, key, *, dataset, batch_size=500, **kw):
    """(outputs, results) of translate(x [B, ...], key) -> G(x) in [-1, 1] on every pair of
    (x_source, y_target): l1 = mean |G(x) - y| / 2 (the [0, 1] pixel scale) and the sample
    scores of the G(x); `kw` goes to evaluate_samples (seed, data_dir)."""
    outputs = common.batched(translate, x_source, batch_size, key)
    results = evaluate_samples(outputs, dataset, METRICS, **kw)
    results["l1"] = float(np.mean(np.abs(outputs - y_target)) / 2)
    results["labels"]["l1"] = "L1, mean |G(x) - y| of the test pairs on the [0, 1] pixel scale"
    return outputs, results


def cycle_scores(translate, x_a, x_b, labels, key, *, dataset, batch_size=500):
    """(rows, results) of translate(pairs [B, 2, ...], key) -> [B, 6, ...] rows a, G(a),
    F(G(a)), b, F(b), G(F(b)) on the first n = min(N_a, N_b) images of each domain, whose
    classes are labels = (label_a, label_b). Per direction s_to_t (a_to_b: G, b_to_a: F):
    accuracy_s_to_t, the fraction of translations classified as t's class; fid_s_to_t,
    FID(translations, t's images); fid_input_s_to_t, FID(s's images, t's images), the score
    of not translating; cycle_l1_s = mean |F(G(s)) - s| / 2 (the [0, 1] pixel scale)."""
    n = min(len(x_a), len(x_b))
    rows = common.batched(translate, np.stack([x_a[:n], x_b[:n]], axis=1), batch_size, key)
    images = dict(zip(CYCLE_ROWS, np.moveaxis(rows, 1, 0), strict=True))
    net = load_feature_net(dataset)  # one pass per image set: features for FID, logits
    outputs = {
        k: net_outputs(net.apply, images[k], batch_size) for k in ("a", "b", "fake_a", "fake_b")
    }
    stats = {k: gaussian_stats(features) for k, (features, _) in outputs.items()}
    fid = lambda x, y: frechet_distance(*stats[x], *stats[y])
    results = {"dataset": dataset, "feature_net": net.id, "num_examples": n, "labels": {}}
    for s, t, label in (("a", "b", labels[1]), ("b", "a", labels[0])):
        d = f"{s}_to_{t}"
        cycled = images[f"cycled_{s}"]
        results.update({
            f"accuracy_{d}": argmax_accuracy(outputs[f"fake_{t}"][1], np.full(n, label)),
            f"fid_{d}": fid(f"fake_{t}", t),
            f"fid_input_{d}": fid(s, t),
            f"cycle_l1_{s}": float(np.mean(np.abs(cycled - images[s])) / 2),
        })  # fmt: skip
        results["labels"].update(
            {k.format(d=d, s=s): v.format(d=d, s=s) for k, v in CYCLE_LABELS.items()}
        )
    return rows, results


def write(out_dir, results, picture, images, ncol, step):
    """out_dir/PICTURE.png (a grid of images with ncol columns), then eval.json ({**results,
    step}) last; returns what eval.json holds."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    common.save_grid(out_dir / f"{picture}.png", images, ncol)
    return common.write_results(out_dir, {**results, "step": int(step)})
