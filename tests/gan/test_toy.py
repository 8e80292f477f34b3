"""The GAN train step learns a toy distribution: the original GAN's wiring (experiments/gan.py:
MLP generator and discriminator, the minimax discriminator loss, its generator loss, k D
updates per G update, `gan.optimizers`), built from the library and trained by
`train.build_step` for 400 steps on 1-D Gaussian data N(MU, SIGMA^2), moves the samples of
the generator's EMA params to the data's mean and standard deviation. A generator that
ascends its loss instead (a sign flip) ends elsewhere: the check can fail."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxgen import data, train
from jaxgen.models import gan
from jaxgen.train import gan as gan_train

MU, SIGMA = 0.4, 0.15  # inside tanh's range, away from its saturation at +-1
BATCH, STEPS = 256, 400
MEAN_TOL, STD_RTOL = 0.05, 0.25  # |mean - MU| < SIGMA / 3; std within 25% of SIGMA


def toy_gan(g_loss):
    """experiments/gan.py's GAN at toy size: 1-D 'images', latent_dim 2, k = 3."""
    hidden = (64, 64)
    return gan_train.GAN(
        generator=gan.MLPGenerator((1,), hidden),
        discriminator=gan.MLPDiscriminator(hidden),
        latent_dim=2,
        d_loss="minimax",
        g_loss=g_loss,
        k=3,
    )


def sample_moments(model, state):
    """(mean, std) of 4,096 samples of the EMA generator."""
    x = gan_train.sample(model, state.ema_params, state.model_state, jax.random.PRNGKey(1), 4096)
    return float(jnp.mean(x)), float(jnp.std(x))


def train_toy(model, step_fn, seed=0):
    """(moments before, moments after) STEPS steps of step_fn (built by `train.build_step`,
    scanned in one program) on fresh N(MU, SIGMA^2) batches, on one device (the toy needs
    no collectives; 4 virtual devices only slow it)."""
    mesh = data.data_mesh(1)
    init_key, root_key, data_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    params, model_state = gan_train.init(model, init_key, jnp.zeros((BATCH, 1)))
    state = train.TrainState.create(
        params=params,
        tx=gan_train.optimizers("adam", 1e-3, 1e-3, b1=0.5),
        key=root_key,
        model_state=model_state,
        ema_decay=0.99,
    )
    before = sample_moments(model, state)
    step = train.build_step(step_fn, mesh, donate=False)
    images = MU + SIGMA * jax.random.normal(data_key, (STEPS, BATCH, 1))  # a batch per step
    state, metrics = jax.jit(lambda s, xs: lax.scan(lambda s, x: step(s, {"image": x}), s, xs))(
        state, images
    )
    assert np.isfinite(metrics["d_loss"]).all() and np.isfinite(metrics["g_loss"]).all()
    return before, sample_moments(model, state)


def matches_data(moments):
    mean, std = moments
    return abs(mean - MU) < MEAN_TOL and abs(std / SIGMA - 1.0) < STD_RTOL


@pytest.mark.parametrize("g_loss", ["non_saturating", "saturating"])
def test_gan_step_moves_samples_to_the_data_mean_and_std(g_loss):
    """Both generator losses of the minimax game (Adam rescales the saturating one's small
    gradients) reach the data's moments from an initial generator that does not."""
    model = toy_gan(g_loss)
    before, after = train_toy(model, model.step())
    assert not matches_data(before), before
    assert matches_data(after), (after, (MU, SIGMA))


def test_a_sign_flipped_generator_objective_misses_the_data():
    """The same step with the generator ascending -log D(G(z)) (fleeing what D calls real)."""
    model = toy_gan("non_saturating")

    def flipped(g_params, state, batch, key):
        loss, aux = gan_train.generator_objective(model, g_params, state, batch, key)
        return -loss, aux

    step = gan_train.gan_step(
        lambda p, state, batch, key: gan_train.discriminator_objective(model, p, state, batch, key),
        flipped,
        model.k,
    )
    _, after = train_toy(model, step)
    assert not matches_data(after), after
