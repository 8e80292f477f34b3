"""Every GAN experiment with tiny networks on `digits`: a few sharded steps (finite metrics,
both parts updated), the sample hook's grid; the k-step schedule, determinism under a seed."""

import jax
import numpy as np
import optax
import pytest

from jaxgen import data, train
from jaxgen.evaluation import grids
from jaxgen.runs import load_experiment
from jaxgen.tasks import gan as gan_task
from jaxgen.train import gan as gan_train

BATCH = 16  # 4 per device


def tiny_config(name, data_dir, **model):
    c = load_experiment(name).get_config()
    c.data.update({"name": "digits", "batch_size": BATCH, "data_dir": data_dir})
    c.model.update(model)
    c.train.ema_decay = 0.5
    return c


DCGAN_TINY = {"widths": (8, 16), "latent_dim": 8}
CONFIGS = {  # experiment -> (model overrides, expected grid of the sample hook)
    "gan": ({"hidden": (16,), "latent_dim": 8}, (64, 8, 8, 1)),
    "dcgan": (DCGAN_TINY, (64, 8, 8, 1)),
    "cgan": (DCGAN_TINY, (100, 8, 8, 1)),  # 10 classes x 10
    "sngan": (DCGAN_TINY, (64, 8, 8, 1)),
    "msggan": (DCGAN_TINY, (64, 8, 8, 1)),  # 3 scales (2, 4, 8) x 8 columns, padded to 8 x 8
    "stylegan": ({"widths": (8, 16), "w_dim": 8, "mapping_depth": 1}, (64, 8, 8, 1)),
    "pix2pix": ({"widths": (8, 16), "d_widths": (8,)}, (36, 8, 8, 1)),  # 12 triplets
    "cyclegan": ({"widths": (8,), "num_res_blocks": 1, "d_widths": (8,)}, (36, 8, 8, 1)),
}


def train_steps(task, cfg, steps, step=None):
    """(state, metrics per step) after `steps` steps from the init of cfg.seed; `step` (a
    built step) is reused when given, so a second run costs no compilation."""
    mesh = data.data_mesh()
    state = train.init_state(task, cfg, mesh)
    step = step or train.build_step(task.step, mesh, donate=False)
    batches = data.load("digits", "train", BATCH, cfg.seed, mesh=mesh, data_dir=cfg.data.data_dir)
    history = []
    for _ in range(steps):
        state, metrics = step(state, next(batches))
        history.append(jax.device_get(metrics))
    return state, history


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_experiment_trains_samples_and_is_deterministic(name, data_dir):
    model, grid_shape = CONFIGS[name]
    cfg = tiny_config(name, data_dir, **model)
    if name == "cyclegan":
        cfg.data.domains = (0, 1)
    task = load_experiment(name).make_task(cfg)
    mesh = data.data_mesh()
    init = train.init_state(task, cfg, mesh)
    step = train.build_step(task.step, mesh, donate=False)
    state, history = train_steps(task, cfg, 2, step)
    assert int(state.step) == 2
    for metrics in history:
        assert {"d_loss", "g_loss", "d_grad_norm", "g_grad_norm"} <= set(metrics)
        assert all(np.isfinite(v).all() for v in metrics.values()), metrics
    for part in (gan_train.GENERATOR, gan_train.DISCRIMINATOR):  # both players moved
        before, after = leaves(init.params[part]), leaves(state.params[part])
        assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True)), part
    key = jax.random.PRNGKey(0)
    images = np.asarray(task.sample(state, key))
    assert images.shape == grid_shape
    assert np.isfinite(images).all() and np.abs(images).max() <= 1.0
    # The same seed gives the same run and samples, another seed another run.
    again, _ = train_steps(task, cfg, 2, step)
    for a, b in zip(leaves(state), leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(task.sample(again, key), images)
    cfg.seed = 1
    other, _ = train_steps(task, cfg, 2, step)
    assert not np.array_equal(leaves(other.params)[0], leaves(state.params)[0])


def test_k_discriminator_updates_per_generator_update_and_gradient_penalty(data_dir):
    """WGAN-GP with n_critic = 3: the critic's Adam count advances 3 per step, the
    generator's 1; the penalty is computed and finite."""
    k, steps = 3, 2
    cfg = tiny_config("wgan_gp", data_dir, **DCGAN_TINY)
    cfg.loss.k = k
    state, history = train_steps(load_experiment("wgan_gp").make_task(cfg), cfg, steps)

    def counts(part):  # the step counts of every optax state of the part
        found = optax.tree_utils.tree_get_all_with_path(state.opt_state[part], "count")
        return {int(count) for _, count in found}

    assert counts(gan_train.DISCRIMINATOR) == {k * steps}
    assert counts(gan_train.GENERATOR) == {steps}
    for metrics in history:
        assert np.isfinite(metrics["d_gradient_penalty"]) and metrics["d_gradient_penalty"] >= 0
        assert all(np.isfinite(v).all() for v in metrics.values()), metrics


def test_wgan_clips_every_critic_weight_after_each_update(data_dir):
    """WGAN (weight clipping, RMSProp, n_critic 5): after 2 steps every critic parameter is
    in [-c, c] and some sit at the bound (clipping acted); the generator is not clipped."""
    cfg = tiny_config("wgan", data_dir, **DCGAN_TINY)
    c = cfg.optimizer.weight_clip
    state, history = train_steps(load_experiment("wgan").make_task(cfg), cfg, 2)
    critic = np.concatenate([x.ravel() for x in leaves(state.params[gan_train.DISCRIMINATOR])])
    assert np.abs(critic).max() <= c + 1e-7 and np.isclose(np.abs(critic), c).sum() > 10
    generator = np.concatenate([x.ravel() for x in leaves(state.params[gan_train.GENERATOR])])
    assert np.abs(generator).max() > 10 * c
    assert all(np.isfinite(v).all() for m in history for v in m.values())


def test_dualgan_is_cyclegan_with_clipped_wasserstein_critics(data_dir):
    """DualGAN: CycleGAN's wiring with U-Net generators and Wasserstein critics, clipped to
    [-0.01, 0.01] after 2 steps of n_critic = 2 updates each (some weights at the bound);
    the generators are not clipped."""
    cfg = tiny_config("dualgan", data_dir, **CONFIGS["cyclegan"][0])
    cfg.data.domains = (0, 1)
    assert (cfg.loss.gan, cfg.loss.n_critic, cfg.model.generator) == ("wasserstein", 2, "unet")
    state, history = train_steps(load_experiment("dualgan").make_task(cfg), cfg, 2)
    critic = np.concatenate([x.ravel() for x in leaves(state.params[gan_train.DISCRIMINATOR])])
    assert np.abs(critic).max() <= 0.01 + 1e-7 and np.isclose(np.abs(critic), 0.01).sum() > 10
    generator = np.concatenate([x.ravel() for x in leaves(state.params[gan_train.GENERATOR])])
    assert np.abs(generator).max() > 0.1
    assert all(np.isfinite(v).all() for m in history for v in m.values())


def test_clip_weights_update_lands_on_the_clipped_weights():
    tx = train.optim.clip_weights(0.5)
    w = {"a": np.array([0.2, -0.4, 0.45]), "b": np.array([[1.0]])}
    u = {"a": np.array([0.1, -0.3, 0.0]), "b": np.array([[-0.2]])}
    new, _ = tx.update(u, tx.init(w), w)
    after = optax.apply_updates(w, new)
    np.testing.assert_allclose(after["a"], [0.3, -0.5, 0.45])
    np.testing.assert_allclose(after["b"], [[0.5]])
    with pytest.raises(ValueError, match="needs the params"):
        tx.update(u, tx.init(w))


def test_demo_grids(data_dir):
    """Interpolation, latent arithmetic and multi-scale grids of an (untrained) MSG-GAN."""
    cfg = tiny_config("msggan", data_dir, **DCGAN_TINY)
    model = gan_task.make_gan(cfg)
    state = train.init_state(load_experiment("msggan").make_task(cfg), cfg, data.data_mesh())
    images, labels = data.load_split("digits", "train", data_dir)
    label_fn = grids.nearest_neighbour_labels(data.to_float(images[:500]), labels[:500])
    np.testing.assert_array_equal(label_fn(data.to_float(images[:50])), labels[:50])

    @jax.jit
    def draw(params, model_state, key):
        model_state = gan_train.ema_model_state(model, params, model_state, key)
        args = (model, params, model_state, key)
        return (
            grids.interpolation_grid(*args, num_rows=3, num_steps=5, spherical=True),
            grids.arithmetic_grid(*args, label_fn, (7, 1), num_candidates=64),
            grids.multiscale_grid(*args, num_columns=4, num_groups=2),
        )

    interpolation, arithmetic, multiscale = draw(
        state.ema_params, state.model_state, jax.random.PRNGKey(0)
    )
    assert interpolation.shape == (3, 5, 8, 8, 1)
    assert arithmetic.shape == (4, 4, 8, 8, 1)  # 3 exemplars + their mean; result + 3 variants
    assert multiscale.shape == (6, 4, 8, 8, 1)  # 2 groups of scales 2x2, 4x4, 8x8
    coarse = np.asarray(multiscale[0])  # 2x2 images upsampled by 4: constant 4x4 blocks
    np.testing.assert_array_equal(coarse, np.repeat(np.repeat(coarse[:, ::4, ::4], 4, 1), 4, 2))
    for grid in (interpolation, arithmetic, multiscale):
        assert np.isfinite(grid).all() and np.abs(grid).max() <= 1.0
