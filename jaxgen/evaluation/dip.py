"""Evaluation of a deep image prior fit (``models.dip``): the PSNR against the clean image
of the logged f(z + sigma_p eps) at its best step and at the last, of f(z) and of the task's
classical baseline (an oracle-tuned Gaussian filter for denoising, biharmonic inpainting,
bicubic upsampling for super-resolution); the comparison picture and the PSNR-against-step
plot.
"""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import losses
from jaxgen.evaluation import common
from jaxgen.models.dip import output, shown_at
from jaxgen.train.rundir import train_seconds

# Classical baselines, numpy / scipy / scikit-image on [H, W, C] images in [-1, 1].


def gaussian_baseline(y, clean, problem, sigmas=(0.5, 0.75, 1.0, 1.5, 2.0, 3.0)):
    """Gaussian filter over H, W with the sigma (pixels) of `sigmas` that scores best
    against `clean`: an oracle-tuned, hence optimistic, classical denoiser."""
    from scipy import ndimage

    del problem
    candidates = [ndimage.gaussian_filter(y, (s, s, 0)) for s in sigmas]
    scores = [psnr_np(clean, c) for c in candidates]
    return candidates[int(np.argmax(scores))], f"Gaussian filter, sigma {sigmas[np.argmax(scores)]}"


def biharmonic_baseline(y, clean, problem):
    """Biharmonic inpainting of the unobserved pixels (skimage.restoration)."""
    from skimage.restoration import inpaint_biharmonic

    del clean
    missing = np.asarray(problem.mask[0, ..., 0]) == 0
    return inpaint_biharmonic(y, missing, channel_axis=-1), "biharmonic inpainting"


def bicubic_baseline(y, clean, problem):
    """Bicubic interpolation of the low-resolution y to the size of `clean`."""
    from skimage.transform import resize

    del problem
    return resize(y, clean.shape, order=3, mode="reflect", anti_aliasing=False), "bicubic"


BASELINES = {
    "denoising": gaussian_baseline,
    "inpainting": biharmonic_baseline,
    "super_resolution": bicubic_baseline,
}


def psnr_np(x, x_hat):
    """PSNR in dB of one image pair in [-1, 1] (x_hat clipped to the range first)."""
    return float(losses.psnr(np.asarray(x)[None], np.clip(x_hat, -1.0, 1.0)[None])[0])


def psnr_history(metrics_jsonl):
    """(steps [T], psnr [T]) logged in a run's metrics.jsonl (a resumed run's last value)."""
    rows = {}
    for line in Path(metrics_jsonl).read_text().splitlines():
        row = json.loads(line)
        if "psnr" in row:
            rows[row["step"]] = row
    steps = np.array(sorted(rows))
    return steps, np.array([rows[s]["psnr"] for s in steps])


def plot_psnr(path, steps, values, baseline_psnr, baseline_name, title):
    """PSNR against step with the best step marked and the baseline as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = int(np.argmax(values))
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    ax.plot(steps, values, label="deep image prior")
    ax.axhline(baseline_psnr, color="grey", linestyle="--", label=baseline_name)
    ax.plot(steps[best], values[best], "o", color="C3", label=f"best: step {steps[best]}")
    ax.set(xlabel="step", ylabel="PSNR (dB)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def evaluate(model, problem, params, model_state, clean, workdir, out_dir, *, step):
    """PSNR against the clean image of the deep image prior (the logged f(z + sigma_p eps)
    at its best step and at the last; f(z) of the checkpoint) and of the task's classical
    baseline; eval.json, comparison.png (observation, baseline, f(z), clean) and psnr.png
    in out_dir. Returns the results."""
    workdir, out_dir = Path(workdir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    y = np.asarray(problem.observe(clean))[0]
    x = np.asarray(clean)[0]
    restored = np.asarray(output(model, params, model_state))[0]
    baseline, baseline_name = BASELINES[problem.name](y, x, problem)
    steps, values = psnr_history(workdir / "metrics.jsonl")
    best = int(np.argmax(values))
    shown = np.asarray(shown_at(jnp.asarray(y)[None], x.shape))[0]
    common.save_grid(out_dir / "comparison.png", np.stack([shown, baseline, restored, x]), 4)
    results = {
        "task": problem.name,
        "step": step,
        "image_shape": list(x.shape),
        "psnr_observation": psnr_np(x, shown),  # super-resolution: y upsampled (nearest)
        "psnr_best": float(values[best]),
        "best_step": int(steps[best]),
        "psnr_final": float(values[-1]),
        "psnr_output": psnr_np(x, restored),  # f(z) without the input noise: the picture
        "baseline": baseline_name,
        "psnr_baseline": psnr_np(x, baseline),
        "train_seconds": train_seconds(workdir / "metrics.jsonl", jax.device_count()),
        "files": {"comparison": "comparison.png", "psnr": "psnr.png"},
    }
    title = f"{problem.name}, {x.shape[0]}x{x.shape[1]}"
    plot_psnr(out_dir / "psnr.png", steps, values, results["psnr_baseline"], baseline_name, title)
    return common.write_results(out_dir, results)
