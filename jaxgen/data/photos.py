"""Single photographs for per-image tasks (deep image prior, style transfer, textures).

The pictures ship inside scikit-image's wheel (``skimage.data``), so they work offline.
"""

import numpy as np

# name -> what it shows; every one is in the scikit-image wheel (no download).
PHOTOS = {
    "astronaut": "Eileen Collins, colour portrait (512x512)",
    "camera": "cameraman, grey (512x512)",
    "chelsea": "a cat, colour (300x451)",
    "coffee": "a cup of coffee, colour (400x600)",
    "brick": "brick wall texture, grey (512x512)",
    "grass": "grass texture, grey (512x512)",
    "gravel": "gravel texture, grey (512x512)",
    "immunohistochemistry": "stained tissue, colour texture (512x512)",
    "hubble_deep_field": "galaxies, colour (872x1000)",
}


def photo(name, size, channels=None):
    """uint8 [size, size, C]: the central square of photograph `name`, resized with
    anti-aliasing; C is the photo's own (1 or 3) unless `channels` says 1 or 3."""
    if name not in PHOTOS:
        raise ValueError(f"Unknown photo {name!r}. Available: {', '.join(sorted(PHOTOS))}.")
    if size < 1:
        raise ValueError(f"Photo size must be positive, got {size}.")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1, 3 or None (the photo's own), got {channels}.")
    import skimage.color
    import skimage.data
    import skimage.transform

    image = getattr(skimage.data, name)()
    image = image[..., None] if image.ndim == 2 else image[..., :3]
    if channels == 1 and image.shape[-1] == 3:
        image = np.round(skimage.color.rgb2gray(image) * 255.0).astype(np.uint8)[..., None]
    elif channels == 3 and image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top : top + side, left : left + side]
    resized = skimage.transform.resize(
        square, (size, size), order=3, anti_aliasing=side > size, preserve_range=True
    )
    return np.clip(np.round(resized), 0, 255).astype(np.uint8)
