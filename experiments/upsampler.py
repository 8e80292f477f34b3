"""Super-resolution diffusion (Imagen's and unCLIP's upsamplers; Saharia et al. 2022,
sec. 2.4): a U-Net f_theta([x_t, up(low_a)], t, a) (predicting v: model.target) drawing an
image at f times the resolution of a given one, trained with noise conditioning augmentation
(jaxgen.models.cascade): the low-resolution input is noised at one of the levels
augmentation.steps (indices of the diffusion schedule, 0: almost none), the level an input
of the network. Sampling corrupts the input at level sample.aug_level alike.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits_captions 16 -> 32 with a width-8 U-Net, 200 steps (tests, smoke runs)
  cpu    fashion_captions 16 -> 32, a 0.17M-parameter U-Net (width 16, mults (1, 2), one
         res block per level, no attention), batch 64, 3,000 steps (the default)

Run (the same as `jaxgen train upsampler`; the run directory defaults to runs/upsampler):
  python experiments/upsampler.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/upsampler.py eval DIR [--step N] [--config.eval.num_examples=1000]
writes DIR/eval/step_N/eval.json: PSNR, SSIM (jaxgen.metrics.ssim) and FID (the dataset's
classifier features, against the test split) of the first eval.num_examples test images
upsampled from their f x f means, for the bilinear upsampling and for the model; and
upsampled.png (rows: low resolution, bilinear, the model, the original).
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgen import data, runs, train
from jaxgen.evaluation import common, superres
from jaxgen.models import cascade, diffusion, unet
from jaxgen.tasks import diffusion as diffusion_task
from jaxgen.tasks import text_to_image

PRESETS = {
    "quick": {
        "data.name": "digits_captions",
        "model.width": 8,
        "train.steps": 200,
        "train.checkpoint_every": 100,
        "train.sample_every": 100,
        "train.num_samples": 8,
        "sample.num_steps": 4,
    },
    "cpu": {},
}


def get_config(preset="cpu"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "fashion_captions", "batch_size": 64}
    c.diffusion = {"schedule": "linear", "num_steps": 1000}
    c.model = {
        "factor": 2,  # 16 -> 32
        "width": 16,
        "width_mults": (1, 2),
        "num_res_blocks": 1,
        "attention_resolutions": (),
        "norm_groups": 8,
        "target": "v",  # what it predicts: "eps", "v" or "x0" (jaxgen.models.cascade)
    }
    # Noise conditioning augmentation levels (diffusion indices; std 0.01 .. 0.69 for the
    # linear schedule) and the one sampling uses (index into the tuple).
    c.augmentation = {"steps": (0, 50, 100, 150, 200, 250)}
    c.sample = {"sampler": "ddim", "num_steps": 25, "eta": 0.0, "variance": "beta",
                "threshold": "none", "aug_level": 1}  # fmt: skip
    c.train = train.train_config(
        steps=3000, learning_rate=1e-3, warmup_steps=200, grad_clip=1.0, sample_every=1500
    )
    c.eval = train.eval_config(num_examples=1000)
    return train.with_preset(c, preset, PRESETS)


def make_model(c):
    """The upsampler's U-Net: channels C out of [x_t, up(low)], the level's embedding."""
    return unet.from_config(
        c.model,
        num_classes=len(c.augmentation.steps),
        out_channels=data.dataset_spec(c.data.name).shape[-1],
    )


def make_upsample(c):
    """jit of (params, low [B, h, w, C], key) -> [B, f h, f w, C]: ``cascade.upsample`` with
    the run's sampler and augmentation level."""
    model, schedule = make_model(c), diffusion_task.make_noise_schedule(c)
    reverse = diffusion.configured_reverse(c.sample, schedule)
    aug = jnp.asarray(c.augmentation.steps)
    if not 0 <= c.sample.aug_level < len(aug):
        raise ValueError(
            f"sample.aug_level={c.sample.aug_level} is not an index of augmentation.steps "
            f"{tuple(c.augmentation.steps)}: choose 0..{len(aug) - 1}."
        )

    def upsample(params, low, key):
        f = c.model.factor
        return cascade.upsample(model, params, reverse, schedule, aug, c.sample.aug_level, f,
                                low, key, c.model.target)  # fmt: skip

    return jax.jit(upsample)


@functools.lru_cache(maxsize=2)
def restore(workdir, dataset):
    """(upsample: jit of (params, low, key) -> images, EMA params) of the upsampler run
    `workdir` of `dataset` (the stage of a cascade: jaxgen.tasks.text_to_image's checks)."""
    _, params, _ = text_to_image.restore_frozen(workdir, "upsampler", dataset)
    return make_upsample(runs.run_config(workdir, [])[1]), params


def test_images(c, n):
    """The first n test images in [-1, 1]."""
    return common.load_test_split(c.data.name, c.data.get("data_dir"), n)[0]


def make_task(c):
    model, schedule = make_model(c), diffusion_task.make_noise_schedule(c)
    f, shape = c.model.factor, data.dataset_spec(c.data.name).shape
    aug = jnp.asarray(c.augmentation.steps)
    upsample = make_upsample(c)

    def init(key, images):
        x, t = jnp.zeros((len(images), *shape[:2], 2 * shape[-1])), jnp.zeros(len(images), int)
        return model.init(key, x, t, t)["params"], {}

    def objective(params, model_state, batch, key, step):
        return cascade.upsampler_objective(model, schedule, aug, f, params, model_state, batch,
                                           key, step, c.model.target)  # fmt: skip

    low = cascade.downsample(test_images(c, c.train.num_samples), f)  # the hook's, once

    def sample(state, key):
        return upsample(state.ema_params, low, key)

    return train.Task(
        init=init,
        tx=train.adam(c.train.learning_rate, c.train.grad_clip, c.train.warmup_steps),
        step=train.loss_step(objective),
        sample=sample,
    )


def evaluate(workdir, step=None, overrides=()):
    """Bilinear against the model -> WORKDIR/eval/step_N/ (module doc)."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    e, f = c.eval, c.model.factor
    originals = test_images(c, e.num_examples)
    low = np.asarray(cascade.downsample(originals, f))
    bilinear = np.asarray(cascade.bilinear(low, originals.shape[1:3]))
    upsample = make_upsample(c)
    drawn = common.batched(lambda x, k: upsample(state.ema_params, x, k), low, e.batch_size,
                           jax.random.PRNGKey(e.seed))  # fmt: skip
    results = {"step": int(state.step), "num_examples": len(originals), "factor": f}
    results |= superres.table(
        {"bilinear": bilinear, "model": drawn}, originals, c.data.name, e.batch_size
    )
    out = common.eval_dir(workdir, state.step)
    rows = [np.asarray(jax.image.resize(low[:8], (8, *originals.shape[1:]), "nearest")),
            bilinear[:8], drawn[:8], originals[:8]]  # fmt: skip
    common.save_grid(out / "upsampled.png", np.concatenate(rows), ncol=8)
    return common.write_results(out, results)


if __name__ == "__main__":
    runs.script_main()
