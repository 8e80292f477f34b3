"""NeRF: volume rendering against closed forms (a constant-density slab transmits
exp(-sigma d); an opaque surface gives its colour and distance), the positional encoding's
frequencies, rays from camera poses, the scene's exact intersections, hierarchical
sampling, and a quick run through the shared loop with its evaluation."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import runs, train
from jaxgen.data import scenes
from jaxgen.models import nerf


def test_a_constant_density_slab_transmits_exp_minus_sigma_d():
    """sigma = 0.7 on [3, 4.5), 0 elsewhere, samples every 0.01: the light through the
    slab is exp(-0.7 * 1.5) (exact for a piecewise-constant density on the sample grid)
    and shows the white background; the rest has the slab's colour."""
    t = jnp.arange(2.0, 6.0, 0.01)[None]
    sigma = jnp.where((t >= 3.0 - 1e-6) & (t < 4.5 - 1e-6), 0.7, 0.0)
    rgb = jnp.broadcast_to(jnp.array([0.2, 0.4, 0.6]), (*t.shape, 3))
    colour, weights, _ = nerf.volume_render(sigma, rgb, t, background=1.0)
    passed = math.exp(-0.7 * 1.5)
    np.testing.assert_allclose(weights.sum(), 1 - passed, rtol=1e-4)
    np.testing.assert_allclose(
        colour[0], (1 - passed) * np.array([0.2, 0.4, 0.6]) + passed, rtol=1e-4
    )


def test_an_opaque_surface_gives_its_colour_and_distance():
    t = jnp.linspace(2.0, 6.0, 65)[None]
    sigma = jnp.zeros_like(t).at[0, 40].set(1e4)  # opaque at t = 4.5
    rgb = jnp.zeros((*t.shape, 3)).at[0, 40].set(jnp.array([0.9, 0.1, 0.3]))
    colour, weights, depth = nerf.volume_render(sigma, rgb, t)
    np.testing.assert_allclose(colour[0], [0.9, 0.1, 0.3], atol=1e-5)
    np.testing.assert_allclose(depth[0], 4.5, atol=1e-5)
    assert float(weights[0, 41:].sum()) < 1e-6  # nothing behind it is seen


def test_positional_encoding_frequencies():
    p = jnp.array([[0.3, -0.2, 0.9]])
    g = np.asarray(nerf.positional_encoding(p, 3))[0]
    assert g.shape == (3 * (1 + 2 * 3),)
    np.testing.assert_allclose(g[:3], p[0])
    for k in range(3):  # sin then cos blocks, frequency-major: 2^k pi p
        np.testing.assert_allclose(g[3 + 3 * k : 6 + 3 * k], np.sin(2**k * np.pi * p[0]), atol=1e-6)
        np.testing.assert_allclose(
            g[12 + 3 * k : 15 + 3 * k], np.cos(2**k * np.pi * p[0]), atol=1e-6
        )
    np.testing.assert_array_equal(nerf.positional_encoding(p, 0), p)  # the ablation


def test_rays_leave_the_camera_and_the_centre_one_hits_the_origin():
    c2w = scenes.orbit_poses([30.0, 200.0], [20.0, 55.0])
    size, focal = 8, scenes.focal_length(8)
    o, d = scenes.camera_rays(c2w, size, size, focal)
    np.testing.assert_allclose(o, np.broadcast_to(c2w[:, None, None, :, 3], o.shape), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(
        np.linalg.norm(c2w[:, :, 3], axis=-1), scenes.ORBIT_RADIUS, rtol=1e-6
    )
    # the mean of the four central rays points from the camera to the origin
    centre = d[:, 3:5, 3:5].mean((1, 2))
    centre /= np.linalg.norm(centre, axis=-1, keepdims=True)
    np.testing.assert_allclose(centre, -c2w[:, :, 3] / scenes.ORBIT_RADIUS, atol=1e-6)
    # the pinhole: in camera axes pixel (i, j)'s ray is along (j + 1/2 - W/2, -(i + 1/2 - H/2),
    # -f), and W / 2 pixels span half the field of view
    d_cam = np.einsum("nab,nhwa->nhwb", c2w[:, :, :3], d)
    centres = np.arange(size) + 0.5 - size / 2
    np.testing.assert_allclose(
        d_cam[..., 0] / -d_cam[..., 2], np.broadcast_to(centres / focal, (2, size, size)), atol=1e-5
    )
    np.testing.assert_allclose(
        d_cam[..., 1] / -d_cam[..., 2],
        np.broadcast_to(-centres[:, None] / focal, (2, size, size)),
        atol=1e-5,
    )
    assert math.atan(size / 2 / focal) == pytest.approx(math.radians(scenes.FIELD_OF_VIEW) / 2)


def test_the_scene_is_exact_ray_geometry():
    """A ray aimed at a sphere's centre hits it at |c - o| - r, lit by the closed-form
    Lambert shade; a ray missing everything is the white background."""
    centre, radius, colour = scenes.SPHERES[0]
    o = np.array([0.0, -5.0, centre[2]])
    d = np.array([0.0, 1.0, 0.0])
    assert scenes._hit_sphere(o, d, centre, radius) == pytest.approx(5.0 - radius)
    normal = np.array([0.0, -1.0, 0.0])  # where it hits
    shade = scenes.AMBIENT + (1 - scenes.AMBIENT) * max(0.0, normal @ scenes.LIGHT)
    np.testing.assert_allclose(scenes.render_scene(o, d), np.array(colour) * shade)
    np.testing.assert_allclose(scenes.render_scene(o, np.array([0.0, 0.0, 1.0])), 1.0)
    views = scenes.views("test", 16, num_views=3)
    assert views.images.shape == (3, 16, 16, 3) and views.images.dtype == np.uint8
    np.testing.assert_array_equal(views.images, scenes.views("test", 16, num_views=3).images)


def test_hierarchical_samples_follow_the_coarse_weights():
    bins = jnp.linspace(0.0, 4.0, 5)[None]  # 4 intervals of width 1
    weights = jnp.array([[0.0, 0.0, 1.0, 0.0]])
    t = nerf.sample_pdf(jax.random.key(0), bins, weights, 2000)
    assert float(jnp.mean((t >= 2.0) & (t <= 3.0))) > 0.99  # all but the 1e-5 floor
    uniform = nerf.sample_pdf(None, bins, jnp.ones((1, 4)), 8, deterministic=True)
    np.testing.assert_allclose(uniform[0], (np.arange(8) + 0.5) / 2, atol=1e-4)  # quantiles


def test_quick_run_learns_the_scene_and_evaluates(tmp_path):
    module = runs.load_experiment("nerf")
    c = module.get_config("quick")
    c.train.update({"steps": 150, "checkpoint_every": 150, "sample_every": 150})
    state = train.run_experiment(c, module.make_task(c), tmp_path, experiment="nerf")
    psnr = [
        json.loads(line)["psnr"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
    ]
    assert psnr[-1] > psnr[0] + 3  # dB
    results = module.evaluate(tmp_path)
    assert results["step"] == int(state.step) == 150 and results["num_test_views"] == 20
    assert results["test_psnr"] > 12  # above a white image's ~9 dB
    out = tmp_path / "eval" / "step_000150"
    assert all((out / f).stat().st_size > 500 for f in results["files"].values())
