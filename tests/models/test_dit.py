"""DiT: patchify against numpy, the sin-cos position embedding in closed form, a block
against a numpy transcription of its adaLN-Zero equations, the zero start (every block the
identity, the output 0), and DiT in the DDPM pipeline in place of the U-Net."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import train
from jaxgen.models.dit import DiT, DiTBlock, patchify, position_embedding_2d, unpatchify
from jaxgen.runs import load_experiment
from jaxgen.tasks import diffusion
from tests.models.test_transformer import attention, gelu

from ..diffusion.helpers import tiny_config


def test_patchify_is_the_row_major_patches_and_unpatchify_inverts_it():
    x = np.random.default_rng(0).standard_normal((2, 6, 4, 3)).astype(np.float32)
    tokens = np.asarray(patchify(jnp.asarray(x), 2))
    assert tokens.shape == (2, 6, 12)
    for i in range(3):
        for j in range(2):  # patch (i, j) is token 2 i + j, its pixels row-major
            np.testing.assert_array_equal(
                tokens[:, 2 * i + j], x[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].reshape(2, -1)
            )
    np.testing.assert_array_equal(unpatchify(jnp.asarray(tokens), 2, 6, 4), x)


def test_position_embedding_is_sin_cos_of_row_and_column():
    e = position_embedding_2d(3, 5, 8)  # w_k = 10000^(-k/2), k = 0, 1
    w = np.array([1.0, 0.01])
    for i in range(3):
        for j in range(5):
            want = np.concatenate([np.sin(i * w), np.cos(i * w), np.sin(j * w), np.cos(j * w)])
            np.testing.assert_allclose(e[5 * i + j], want, atol=1e-6)
    assert len({tuple(row) for row in e.round(6)}) == 15  # every place its own code
    with pytest.raises(ValueError, match="multiple of 4"):
        position_embedding_2d(2, 2, 6)


def block_reference(x, c, p):
    """adaLN-Zero block in float64 numpy (module docstring of jaxgen.models.dit)."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), p)
    silu = c / (1 + np.exp(-c))
    ada = silu @ p["adaLN"]["kernel"] + p["adaLN"]["bias"]
    s1, a1, g1, s2, a2, g2 = np.split(ada[:, None], 6, axis=-1)
    norm = lambda v: (v - v.mean(-1, keepdims=True)) / np.sqrt(v.var(-1, keepdims=True) + 1e-6)  # noqa: E731
    h = norm(x) * (1 + a1) + s1
    x = x + g1 * attention(h, h, p["attn"])
    h = norm(x) * (1 + a2) + s2
    mlp = gelu(h @ p["mlp"]["fc1"]["kernel"] + p["mlp"]["fc1"]["bias"])
    return x + g2 * (mlp @ p["mlp"]["fc2"]["kernel"] + p["mlp"]["fc2"]["bias"])


def test_block_matches_its_equations_and_starts_as_the_identity():
    kx, kc, kp = jax.random.split(jax.random.key(0), 3)
    x, c = jax.random.normal(kx, (2, 5, 8)), jax.random.normal(kc, (2, 8))
    block = DiTBlock(num_heads=2)
    params = block.init(kp, x, c)["params"]
    np.testing.assert_array_equal(block.apply({"params": params}, x, c), x)  # adaLN-Zero
    params = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(kp, a.shape), params)
    want = block_reference(np.asarray(x, np.float64), np.asarray(c, np.float64), params)
    np.testing.assert_allclose(block.apply({"params": params}, x, c), want, rtol=1e-4, atol=1e-5)


def test_dit_predicts_zero_at_init_and_refuses_partial_patches():
    model = DiT(patch_size=2, width=16, depth=2, num_heads=2, num_classes=10)
    x, t, y = jnp.ones((3, 8, 8, 1)), jnp.array([0, 5, 99]), jnp.array([1, 2, 10])
    params = model.init(jax.random.key(0), x, t, y)["params"]
    eps = model.apply({"params": params}, x, t, y)
    assert eps.shape == x.shape and not bool(jnp.any(eps))
    with pytest.raises(ValueError, match="not a whole number of 3x3 patches"):
        DiT(patch_size=3, width=16, depth=1).init(jax.random.key(0), x, t)


def test_dit_trains_in_the_ddpm_pipeline(data_dir, tmp_path):
    """model.arch=dit: the DDPM objective trains it (the loss falls) and its sampler draws
    images of the data's shape, as with the U-Net."""
    experiment = load_experiment("ddpm_cond")
    c = tiny_config(experiment, data_dir)
    c.model.update({"arch": "dit", "dit": {"patch_size": 2, "depth": 2, "num_heads": 2}})
    c.train.update({"steps": 30, "log_every": 1, "checkpoint_every": 30, "sample_every": 0})
    assert isinstance(diffusion.make_model(c), DiT)
    with jax.threefry_partitionable(False):
        task = experiment.make_task(c)
        state = train.run_experiment(c, task, tmp_path, experiment="ddpm_cond")
        images = task.sample(state, jax.random.key(1))
    rows = map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines())
    losses = [r["loss"] for r in rows if "loss" in r]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    assert images.shape == (20, 8, 8, 1) and bool(jnp.all(jnp.isfinite(images)))
    c.model.arch = "vit"
    with pytest.raises(ValueError, match="model.arch='vit': choose unet or dit"):
        diffusion.make_model(c)
