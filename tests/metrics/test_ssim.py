"""SSIM against scikit-image's structural_similarity with the paper's settings (an
independent implementation: scipy's Gaussian filter, cropped borders), on photographs and
noise, grey and colour; identities; a clear error for images smaller than the window."""

import numpy as np
import pytest
import skimage.data
from skimage.metrics import structural_similarity

from jaxgen.metrics import ssim


def reference(x, y):
    return structural_similarity(
        x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=2.0, channel_axis=-1,
    )  # fmt: skip


def photo_pairs(channels):
    rng = np.random.default_rng(0)
    photo = skimage.data.astronaut()[100:164, 180:244] / 127.5 - 1.0  # [64, 64, 3] in [-1, 1]
    photo = photo[..., :channels]
    noisy = np.clip(photo + rng.normal(0, 0.2, photo.shape), -1, 1)
    blurred = (photo + np.roll(photo, 1, 0) + np.roll(photo, 1, 1)) / 3
    noise = rng.uniform(-1, 1, photo.shape)
    return np.stack([photo, photo, photo, noise]), np.stack([noisy, blurred, -photo, noise[::-1]])


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_matches_scikit_image(channels):
    x, y = photo_pairs(channels)
    expected = [reference(a, b) for a, b in zip(x, y, strict=True)]
    np.testing.assert_allclose(ssim(x, y), expected, atol=2e-5)
    assert 0.2 < expected[0] < 0.9 and abs(expected[3]) < 0.1  # noisy photo; unrelated noise


def test_ssim_identities():
    x, y = photo_pairs(3)
    np.testing.assert_allclose(ssim(x, x), 1.0, atol=1e-5)
    np.testing.assert_allclose(ssim(x, y), ssim(y, x), atol=1e-6)


def test_ssim_refuses_images_smaller_than_the_window():
    with pytest.raises(ValueError, match="H, W >= 11"):
        ssim(np.zeros((1, 8, 8, 1)), np.zeros((1, 8, 8, 1)))
