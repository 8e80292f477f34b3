"""Structural similarity (Wang et al. 2004, "Image Quality Assessment: From Error Visibility
to Structural Similarity"), in JAX: the index of SRGAN's and super-resolution's tables.

With a Gaussian window G (sigma 1.5, 11 x 11) applied per channel ('valid': the windows
inside the image),
    mu_x = G * x,  sigma_x^2 = G * x^2 - mu_x^2,  sigma_xy = G * (x y) - mu_x mu_y
    SSIM(x, y) = mean over windows and channels of
        (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))
    C1 = (0.01 R)^2, C2 = (0.03 R)^2, R the data range (2 for images in [-1, 1]).
It equals scikit-image's structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=R, channel_axis=-1) (the paper's settings).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

SIGMA, TRUNCATE = 1.5, 3.5  # scipy.ndimage.gaussian_filter's window: radius int(3.5 * 1.5 + 0.5)


def gaussian_window(sigma: float = SIGMA, truncate: float = TRUNCATE) -> np.ndarray:
    """[2r + 1] normalised Gaussian taps, r = int(truncate * sigma + 0.5) (11 for 1.5)."""
    r = int(truncate * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def _filter(x: jax.Array, taps: np.ndarray) -> jax.Array:
    """Separable 'valid' filtering of x [B, H, W, C] with taps along H, then W, per channel."""
    b, h, w, c = x.shape
    planes = x.transpose(0, 3, 1, 2).reshape(b * c, h, w, 1)
    k = jnp.asarray(taps)
    for kernel in (k[:, None, None, None], k[None, :, None, None]):
        planes = jax.lax.conv_general_dilated(
            planes, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
    return planes.reshape(b, c, *planes.shape[1:3]).transpose(0, 2, 3, 1)


def ssim(x: jax.Array, y: jax.Array, data_range: float = 2.0) -> jax.Array:
    """[B] SSIM of images x, y [B, H, W, C] (at least 11 x 11) with data range `data_range`."""
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    taps = gaussian_window()
    if x.shape != y.shape or x.ndim != 4 or min(x.shape[1:3]) < len(taps):
        raise ValueError(
            f"ssim needs two image batches of one shape [B, H, W, C] with H, W >= {len(taps)}; "
            f"got {tuple(x.shape)} and {tuple(y.shape)}."
        )
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = _filter(x, taps), _filter(y, taps)
    var_x = _filter(x * x, taps) - mu_x**2
    var_y = _filter(y * y, taps) - mu_y**2
    cov = _filter(x * y, taps) - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return index.mean(axis=(1, 2, 3))
