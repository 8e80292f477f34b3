"""KL-regularised conv autoencoder with a spatial latent: the first stage of latent diffusion.

Rombach et al. 2022's "KL-f4" autoencoder (jaxgen.models.ldm_autoencoder): a conv encoder
with residual blocks to a diagonal Gaussian q(z|x) per pixel of a latent grid downsampled 4x
(28x28 -> 7x7 x model.latent_channels; 8x8 digits -> 2x2), a conv decoder back, trained with
Adam on sum_i |x_i - D(z)_i| + loss.kl_weight KL(q(z|x) || N(0, I)), z ~ q(z|x)
(loss.distance l1 or l2; the KL weight small, so q(z|x) stays nearly deterministic). The
sample hook shows test images and their reconstructions D(mu(x)); `latent_diffusion`
trains a U-Net on its latents z_0 = s * mu(x).

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits, 8x8 -> 2x2x4, widths 16/32, 2,000 steps (the default; tests, smoke runs)
  cpu    fashion_mnist, 28x28 -> 7x7x4, widths 32/64, one residual block per level,
         batch 64, 6,000 steps
  gpu    fashion_mnist, 28x28 -> 7x7x4, widths 64/128, two residual blocks per level,
         batch 128, 40,000 steps

Run (the same as `jaxgen train ldm_autoencoder`; the run directory defaults to
runs/ldm_autoencoder):
  python experiments/ldm_autoencoder.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/ldm_autoencoder.py eval DIR [--step N] [--config.eval.KEY=VALUE ...]
writes DIR/eval/step_N/: eval.json (test-set reconstruction MSE per pixel on the [-1, 1]
scale, through the posterior mean) and reconstructions.png.
"""

import functools

import ml_collections
import optax

from jaxgen import data, runs, train
from jaxgen.evaluation import common, latent
from jaxgen.models import autoencoder, ldm_autoencoder

SAMPLE_HOOK_SHOWS = "test images and their reconstructions"  # no prior to sample from

PRESETS = {
    "quick": {},
    "cpu": {
        "data.name": "fashion_mnist",
        "model.widths": (32, 64),
        "train.steps": 6000,
        "train.checkpoint_every": 2000,
        "train.sample_every": 2000,
    },
    "gpu": {
        "data.name": "fashion_mnist",
        "data.batch_size": 128,
        "model.widths": (64, 128),
        "model.num_res_blocks": 2,
        "model.norm_groups": 32,
        "train.steps": 40000,
        "train.checkpoint_every": 5000,
        "train.sample_every": 5000,
    },
}


def get_config(preset="quick"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "digits", "batch_size": 64}
    c.model = {"latent_channels": 4, "widths": (16, 32), "num_res_blocks": 1, "norm_groups": 8}
    # LDM's KL-f4 weighs the summed L1 against 1e-6 KL; on 784 pixels against 196 latent
    # dimensions a larger weight keeps the posterior from collapsing to a point as fast.
    c.loss = {"kl_weight": 1e-4, "distance": "l1"}
    c.train = train.train_config(steps=2000, learning_rate=1e-3, checkpoint_every=1000)
    c.eval = train.eval_config(num_rows=8)
    return train.with_preset(c, preset, PRESETS)


def make_model(c):
    """The autoencoder of config c for its dataset's image shape."""
    m = c.model
    shape = data.dataset_spec(c.data.name).shape
    return ldm_autoencoder.KLAutoencoder(
        shape, m.latent_channels, tuple(m.widths), m.num_res_blocks, m.norm_groups
    )


def make_task(c):
    """Adam on ``ldm_autoencoder.objective`` (c.loss); the hook: test images / reconstructions."""
    model = make_model(c)
    reconstruct = functools.partial(ldm_autoencoder.reconstruct, model)
    hook = functools.cache(
        lambda: autoencoder.comparison_sample_fn(
            reconstruct,
            common.load_test_split(c.data.name, c.data.get("data_dir"))[0],
            c.train.num_samples,
        )
    )
    return train.Task(
        init=lambda key, x: (model.init(key, x, key)["params"], {}),
        tx=optax.adam(c.train.learning_rate),
        step=train.loss_step(functools.partial(ldm_autoencoder.objective, model, **c.loss)),
        sample=lambda state, key: hook()(state.ema_params, key),
    )


def evaluate(workdir, step=None, overrides=()):
    """Test-set numbers and pictures of run WORKDIR -> WORKDIR/eval/step_N/ (module doc)."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    return latent.evaluate_reconstructions(
        functools.partial(ldm_autoencoder.reconstruct, make_model(c)),
        state.ema_params,
        common.eval_dir(workdir, state.step),
        dataset=c.data.name,
        data_dir=c.data.get("data_dir"),
        step=int(state.step),
        **c.eval,
    )


if __name__ == "__main__":
    runs.script_main()
