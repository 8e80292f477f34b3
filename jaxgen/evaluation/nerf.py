"""Evaluation of NeRF on the project's scene (``jaxgen.data.scenes``): PSNR of the fine
rendering of every held-out test view against the exact render, and the pictures: test
views (truth above, NeRF below) and novel views along a path around the scene."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jaxgen import losses
from jaxgen.data import scenes
from jaxgen.evaluation.common import save_grid
from jaxgen.models import nerf


def render(model: nerf.NeRF, params, views: scenes.Views) -> np.ndarray:
    """NeRF's images [N, H, W, 3] in [0, 1] of the cameras of `views`."""
    size = views.images.shape[1]
    origins, directions = scenes.camera_rays(views.c2w, size, size, views.focal)
    return np.asarray(nerf.render_views(model, params, origins, directions)[0])


def evaluate(model: nerf.NeRF, params, size: int, out_dir, *, step: int, num_rows: int = 8):
    """eval.json {step, test_psnr (mean over the test views), test_psnr_per_view,
    num_test_views}, test_views.png (truth row above NeRF's row, `num_rows` views) and
    path.png (the 'path' cameras: one turn at 30 degrees elevation) in out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    test = scenes.views("test", size)
    truth = test.images / 255.0
    got = render(model, params, test)
    per_view = np.asarray(losses.psnr(truth, got, data_range=1.0)).tolist()
    k = min(num_rows, len(got))
    save_grid(out_dir / "test_views.png", np.concatenate([truth[:k], got[:k]]) * 2 - 1, k)
    path = render(model, params, scenes.views("path", size, num_views=16))
    save_grid(out_dir / "path.png", path * 2 - 1, 8)
    results = {
        "step": step,
        "test_psnr": float(np.mean(per_view)),
        "test_psnr_per_view": per_view,
        "num_test_views": len(per_view),
        "files": {"test_views": "test_views.png", "path": "path.png"},
    }
    (out_dir / "eval.json").write_text(json.dumps(results, indent=2))
    return results
