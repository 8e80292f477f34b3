"""Metric and image writers: metrics.jsonl, TensorBoard events, PNG sample grids."""

import functools
import json
import math
from collections.abc import Mapping
from pathlib import Path

import jax
import numpy as np
from jax.typing import ArrayLike
from PIL import Image

from jaxgen.files import write_atomic


def image_grid(images: ArrayLike, ncol: int | None = None) -> np.ndarray:
    """[N, H, W, C] floats in [-1, 1] -> one uint8 [rows*(H+1)+1, ncol*(W+1)+1, C] grid."""
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"image_grid expects [N, H, W, C] images, got shape {images.shape}.")
    n, h, w, c = images.shape
    ncol = ncol or math.ceil(math.sqrt(n))
    nrow = math.ceil(n / ncol)
    grid = np.ones(((h + 1) * nrow + 1, (w + 1) * ncol + 1, c), np.float32)
    for i, img in enumerate(images):
        r, q = divmod(i, ncol)
        grid[1 + r * (h + 1) : (r + 1) * (h + 1), 1 + q * (w + 1) : (q + 1) * (w + 1)] = img
    return np.round((np.clip(grid, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def save_png(path: str | Path, grid: np.ndarray, scale: int = 1) -> None:
    """Saves a uint8 [H, W, C] grid, upscaled by `scale` (nearest) for small images."""
    img = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    write_atomic(path, lambda tmp: img.save(tmp, format="PNG"))


def drop_rows_after(jsonl_path: str | Path, step: int) -> None:
    """Rewrites a metrics.jsonl without its rows past `step` (and any half-written line), so a
    run resumed from the checkpoint at `step` (or restarted at 0) logs one history."""
    path = Path(jsonl_path)
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line + "\n")
        except (json.JSONDecodeError, KeyError, TypeError):
            pass
    write_atomic(path, lambda tmp: Path(tmp).write_text("".join(kept)))


class MetricWriter:
    """Appends scalars to workdir/metrics.jsonl and TensorBoard from step `start` on (rows a
    killed run logged past its last checkpoint are dropped); only process 0 writes."""

    def __init__(self, workdir: str | Path, start: int = 0) -> None:
        self.workdir = Path(workdir)
        self.active = jax.process_index() == 0
        self.tb = None
        if self.active:
            from tensorboardX import SummaryWriter

            self.tb = SummaryWriter(str(self.workdir / "tensorboard"))
            drop_rows_after(self.workdir / "metrics.jsonl", start)
            self.jsonl = open(self.workdir / "metrics.jsonl", "a")  # noqa: SIM115

    def write(self, step: int, metrics: Mapping[str, ArrayLike]) -> None:
        """Scalars to JSONL and TensorBoard; 'hist/NAME' arrays to TensorBoard histograms."""
        if not self.active:
            return
        scalars = {k: float(v) for k, v in metrics.items() if not k.startswith("hist/")}
        self.jsonl.write(json.dumps({"step": int(step), **scalars}) + "\n")
        self.jsonl.flush()
        for k, v in scalars.items():
            self.tb.add_scalar(k, v, int(step))
        for k, v in metrics.items():
            if k.startswith("hist/"):
                self.tb.add_histogram(k[len("hist/") :], np.asarray(v), int(step))

    def image(self, step: int, name: str, grid: np.ndarray) -> None:
        """Writes `grid` (uint8 [H, W, C]) to TensorBoard and to workdir/name/step_XXXXXX.png."""
        if not self.active:
            return
        save_png(
            self.workdir / name / f"step_{int(step):06d}.png",
            grid,
            scale=max(1, 256 // grid.shape[0]),
        )
        self.tb.add_image(name, grid, int(step), dataformats="HWC")

    def close(self) -> None:
        if self.active:
            self.jsonl.close()
            self.tb.close()


def plot_metrics(jsonl_path: str | Path, plot_dir: str | Path) -> None:
    """One PNG per metric of metrics.jsonl against step (plot_dir/NAME.png), matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not Path(jsonl_path).is_file():
        return
    rows = [json.loads(line) for line in Path(jsonl_path).read_text().splitlines() if line]
    for name in sorted({k for r in rows for k in r} - {"step"}):
        points = [(r["step"], r[name]) for r in rows if name in r]
        fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
        ax.plot(*zip(*points, strict=True))
        ax.set(xlabel="step", ylabel=name, title=name)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        write_atomic(Path(plot_dir) / f"{name}.png", functools.partial(fig.savefig, format="png"))
        plt.close(fig)
