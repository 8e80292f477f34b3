"""Scores of super-resolution: images upsampled from the f x f means of test images, against
those test images. PSNR (losses.psnr) and SSIM (metrics.ssim) per image, averaged, measure
fidelity; FID with the dataset's classifier features measures how real the outputs look
(the perception-distortion trade-off SRGAN is about: Ledig et al. 2017, Blau & Michaeli
2018)."""

from __future__ import annotations

import numpy as np

from jaxgen import losses, metrics
from jaxgen.evaluation import common
from jaxgen.metrics import evaluate as quality

SSIM_WINDOW = 11  # metrics.ssim's Gaussian window


def scores(images: np.ndarray, originals: np.ndarray, dataset: str, batch_size: int) -> dict:
    """{'psnr', 'ssim', 'fid'} of upsampled images [N, H, W, C] in [-1, 1] against the
    originals [N, H, W, C] (FID against `dataset`'s test split; SSIM None for images
    smaller than its 11 x 11 window, e.g. 8x8 digits)."""
    fid = quality.evaluate_samples(
        common.to_uint8(images), dataset, ("fid",), "test", batch_size=batch_size
    )
    big_enough = min(images.shape[1:3]) >= SSIM_WINDOW
    return {
        "psnr": float(np.mean(losses.psnr(originals, images))),
        "ssim": float(np.mean(metrics.ssim(originals, images))) if big_enough else None,
        "fid": fid[f"fid_{dataset}_classifier"],
    }


def table(methods: dict[str, np.ndarray], originals, dataset: str, batch_size: int) -> dict:
    """{'<method>_psnr', '<method>_ssim', '<method>_fid'} for each method's upsampled images."""
    results = {}
    for name, images in methods.items():
        results |= {
            f"{name}_{k}": v for k, v in scores(images, originals, dataset, batch_size).items()
        }
    return results
