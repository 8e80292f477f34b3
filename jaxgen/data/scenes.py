"""A 3-D scene the project renders itself, for NeRF: three coloured spheres and a box on
a white background, seen by pinhole cameras on an orbit around the origin. Every pixel is
an exact ray intersection (no sampling), shaded Lambertian under one directional light,
so training and test views are offline, deterministic and exact.

Cameras follow NeRF's convention: a camera-to-world matrix c2w [3, 4] = [R | o] whose
columns are the camera's right, up and backward axes in world coordinates (it looks along
-z) and its centre o; pixel (i, j) of an H x W image with focal length f (pixels) looks
along R (j + 1/2 - W/2, -(i + 1/2 - H/2), -f) / norm.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

# (centre, radius, RGB in [0, 1]) of each sphere; the box: (min corner, max corner, RGB)
SPHERES = (
    ((0.0, 0.0, 0.35), 0.55, (0.85, 0.15, 0.15)),
    ((0.8, -0.5, 0.15), 0.35, (0.15, 0.55, 0.9)),
    ((-0.7, 0.6, 0.25), 0.4, (0.95, 0.8, 0.1)),
)
BOX = ((-0.9, -1.0, -0.2), (-0.2, -0.3, 0.3), (0.2, 0.7, 0.3))
LIGHT = np.array([0.4, 0.3, 0.85]) / np.linalg.norm([0.4, 0.3, 0.85])  # towards the light
AMBIENT = 0.35
BACKGROUND = 1.0  # white
ORBIT_RADIUS = 4.0
NEAR, FAR = 2.0, 6.0  # every object lies between, from every camera of the orbit
FIELD_OF_VIEW = 40.0  # degrees, horizontal


class Views(NamedTuple):
    """images uint8 [N, H, W, 3]; c2w float32 [N, 3, 4]; focal length in pixels."""

    images: np.ndarray
    c2w: np.ndarray
    focal: float


def look_at(eye: np.ndarray, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """c2w [3, 4] of a camera at `eye` looking at `target`, `up` up in its image."""
    back = np.asarray(eye, np.float64) - np.asarray(target)
    back /= np.linalg.norm(back)
    right = np.cross(up, back)
    right /= np.linalg.norm(right)
    return np.stack([right, np.cross(back, right), back, np.asarray(eye, np.float64)], axis=1)


def orbit_poses(azimuths_deg, elevations_deg, radius: float = ORBIT_RADIUS) -> np.ndarray:
    """c2w [N, 3, 4] of cameras at `radius` from the origin, looking at it, at the given
    azimuths (around z) and elevations (above the xy plane), in degrees."""
    a, e = np.radians(azimuths_deg), np.radians(elevations_deg)
    eyes = radius * np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], -1)
    return np.stack([look_at(eye) for eye in eyes]).astype(np.float32)


def focal_length(width: int, fov_deg: float = FIELD_OF_VIEW) -> float:
    """f = W / (2 tan(fov / 2)) in pixels."""
    return 0.5 * width / math.tan(math.radians(fov_deg) / 2)


def camera_rays(c2w, height: int, width: int, focal: float):
    """(origins, directions), each [..., H, W, 3] for c2w [..., 3, 4]: one ray per pixel
    centre, unit directions (module docstring)."""
    c2w = np.asarray(c2w, np.float32)
    j, i = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    d_cam = np.stack([(j - width / 2) / focal, -(i - height / 2) / focal, -np.ones_like(i)], -1)
    d = np.einsum("...ab,hwb->...hwa", c2w[..., :3], d_cam)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    o = np.broadcast_to(c2w[..., None, None, :, 3], d.shape)
    return o.astype(np.float32), d.astype(np.float32)


def _hit_sphere(o, d, centre, radius):
    """Distance along unit d to the first intersection with the sphere (inf: none)."""
    oc = o - np.asarray(centre)
    b = np.sum(oc * d, -1)
    disc = b**2 - (np.sum(oc * oc, -1) - radius**2)
    t = -b - np.sqrt(np.maximum(disc, 0.0))
    return np.where((disc > 0) & (t > 0), t, np.inf)


def _hit_box(o, d, lo, hi):
    """(distance, outward normal) of the first intersection with the axis-aligned box by
    the slab method (inf: none)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (np.asarray(lo) - o) / d, (np.asarray(hi) - o) / d
    t_near, t_far = np.minimum(t1, t2), np.maximum(t1, t2)
    t_enter, t_exit = t_near.max(-1), t_far.min(-1)
    axis = t_near.argmax(-1)
    normal = -np.sign(np.take_along_axis(d, axis[..., None], -1)) * np.eye(3)[axis]
    hit = (t_enter < t_exit) & (t_enter > 0)
    return np.where(hit, t_enter, np.inf), normal


def render_scene(origins, directions) -> np.ndarray:
    """RGB in [0, 1], [..., 3], of each ray: the nearest surface's colour times
    AMBIENT + (1 - AMBIENT) max(0, n . l), or the white background."""
    o, d = np.asarray(origins, np.float64), np.asarray(directions, np.float64)
    t_box, n_box = _hit_box(o, d, BOX[0], BOX[1])
    hits = [_hit_sphere(o, d, c, r) for c, r, _ in SPHERES] + [t_box]
    t = np.stack(hits, -1)
    nearest = t.argmin(-1)
    t_hit = t.min(-1)[..., None]
    p = o + np.where(np.isfinite(t_hit), t_hit, 0.0) * d
    normals = [(p - np.asarray(c)) / r for c, r, _ in SPHERES] + [n_box]
    colours = [np.broadcast_to(col, p.shape) for _, _, col in SPHERES]
    colours += [np.broadcast_to(BOX[2], p.shape)]
    normal = np.take_along_axis(np.stack(normals, -2), nearest[..., None, None], -2)[..., 0, :]
    colour = np.take_along_axis(np.stack(colours, -2), nearest[..., None, None], -2)[..., 0, :]
    shade = AMBIENT + (1 - AMBIENT) * np.maximum(np.sum(normal * LIGHT, -1, keepdims=True), 0)
    return np.where(np.isfinite(t_hit), colour * shade, BACKGROUND)


def views(split: str, size: int = 32, num_views: int | None = None) -> Views:
    """The `split` views of the scene at size x size: 'train' (default 64 views, azimuths
    evenly around the orbit, elevations from a fixed draw in 10-60 degrees), 'test'
    (default 20, between the train azimuths, elevations 20-50 degrees) or 'path' (default
    40, one turn at elevation 30 degrees, for a video-like picture)."""
    defaults = {"train": 64, "test": 20, "path": 40}
    if split not in defaults:
        raise ValueError(f"Unknown scene split {split!r}; choose one of {sorted(defaults)}.")
    n = num_views or defaults[split]
    rng = np.random.default_rng({"train": 0, "test": 1, "path": 2}[split])
    azimuths = np.arange(n) * 360.0 / n
    if split == "train":
        elevations = rng.uniform(10, 60, n)
    elif split == "test":
        azimuths, elevations = azimuths + 180.0 / n, rng.uniform(20, 50, n)
    else:
        elevations = np.full(n, 30.0)
    c2w = orbit_poses(azimuths, elevations)
    focal = focal_length(size)
    rgb = render_scene(*camera_rays(c2w, size, size, focal))
    return Views(np.round(rgb * 255).astype(np.uint8), c2w, focal)
