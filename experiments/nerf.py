"""NeRF (Mildenhall et al. 2020) on the project's own scene (jaxgen.data.scenes: three
spheres and a box rendered exactly, white background): 64 training views at 10-60 degrees
elevation around the scene, 20 held-out test views between them, known cameras.

Coarse and fine radiance fields (positional encoding with L = model.num_freqs_x for the
position and model.num_freqs_d for the direction; L = 0: the ablation without it),
stratified coarse samples, hierarchical fine samples, volume rendering onto white; Adam
with the learning rate decayed exponentially to a tenth, train.rays random rays a step.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  16x16 views, width 32, 8 + 8 samples, 300 steps (the default; tests)
  cpu    32x32 views, width 128, 32 + 32 samples, 1,024 rays, 3,000 steps
  gpu    64x64 views, width 256, depth 8, 64 + 128 samples, 4,096 rays, 50,000 steps

Run (the same as `jaxgen train nerf`; the run directory defaults to runs/nerf):
  python experiments/nerf.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (the newest checkpoint unless --step):
  python experiments/nerf.py eval DIR [--step N]
writes DIR/eval/step_N/: eval.json (PSNR of each held-out test view and their mean),
test_views.png (truth above, NeRF below) and path.png (novel views around the scene).
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgen import runs, train
from jaxgen.data import scenes
from jaxgen.evaluation import common
from jaxgen.evaluation import nerf as nerf_eval
from jaxgen.models import nerf

SAMPLE_HOOK_SHOWS = "test views: the truth, then NeRF's rendering"
PRESETS = {
    "quick": {},
    "cpu": {
        "data.size": 32,
        "model.width": 128,
        "model.num_coarse": 32,
        "model.num_fine": 32,
        "train.rays": 1024,
        "train.learning_rate": 5e-4,
        "train.steps": 3000,
        "train.checkpoint_every": 1000,
        "train.sample_every": 1000,
    },
    "gpu": {
        "data.size": 64,
        "model.width": 256,
        "model.depth": 8,
        "model.skips": (4,),
        "model.num_freqs_x": 10,
        "model.num_coarse": 64,
        "model.num_fine": 128,
        "train.rays": 4096,
        "train.learning_rate": 5e-4,
        "train.steps": 50_000,
        "train.checkpoint_every": 10_000,
        "train.sample_every": 10_000,
    },
}


def get_config(preset="quick"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.preset = "quick"
    c.data = {"size": 16}
    c.model = {
        "width": 32,
        "depth": 4,
        "skips": (2,),
        "num_freqs_x": 6,
        "num_freqs_d": 4,
        "num_coarse": 8,
        "num_fine": 8,
    }
    c.train = train.train_config(
        300, learning_rate=5e-3, rays=256, ema_decay=0.0, log_every=20, sample_every=150,
        checkpoint_every=300, num_samples=4,
    )  # fmt: skip
    return train.with_preset(c, preset, PRESETS)


def make_model(c):
    m = c.model
    field = nerf.RadianceField(m.width, m.depth, tuple(m.skips), m.num_freqs_x, m.num_freqs_d)
    return nerf.NeRF(field, scenes.NEAR, scenes.FAR, m.num_coarse, m.num_fine)


def make_task(c):
    model, views = make_model(c), scenes.views("train", c.data.size)
    origins, directions = scenes.camera_rays(views.c2w, c.data.size, c.data.size, views.focal)
    origins, directions = (
        jnp.asarray(origins.reshape(-1, 3)),
        jnp.asarray(directions.reshape(-1, 3)),
    )
    test = scenes.views("test", c.data.size, num_views=c.train.num_samples)

    def init(key, images):
        del images
        return model.init(key, origins[:2], directions[:2], key)["params"], {}

    @jax.jit
    def sample(params):
        o, d = scenes.camera_rays(test.c2w, c.data.size, c.data.size, test.focal)
        fine, _ = nerf.render_views(model, params, jnp.asarray(o), jnp.asarray(d))
        return jnp.concatenate([jnp.asarray(test.images) / 127.5 - 1.0, 2.0 * fine - 1.0])

    schedule = optax.exponential_decay(c.train.learning_rate, c.train.steps, 0.1)
    return train.Task(
        init=init,
        tx=optax.adam(schedule),
        step=train.loss_step(
            functools.partial(nerf.objective, model, origins, directions, c.train.rays)
        ),
        sample=lambda state, key: sample(state.params),
        images=views.images,
    )


def evaluate(workdir, step=None, overrides=()):
    """Test-view PSNR and pictures of run WORKDIR -> WORKDIR/eval/step_N/."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    out = common.eval_dir(workdir, state.step)
    return nerf_eval.evaluate(make_model(c), state.params, c.data.size, out, step=int(state.step))


if __name__ == "__main__":
    runs.script_main()
