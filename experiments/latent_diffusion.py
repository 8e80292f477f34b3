"""Latent diffusion (Rombach et al. 2022): DDPM in a frozen autoencoder's latents.

--config.autoencoder.workdir is the run directory of an autoencoder on the same dataset (a
path relative to the current directory; it must stay there: the checkpoints of this run
hold only the denoiser): an `ldm_autoencoder` run (the paper's KL-regularised first stage,
a spatial latent: 7x7xC for Fashion-MNIST, 2x2xC for digits) or a `vae`, `beta_vae`,
`vae_latent`, `ae` or `dae` run (a latent vector). Its EMA weights are restored; training
images are encoded to z_0 = s * mu(x) (the posterior mean; s = 1 / std of the latents of
the first autoencoder.scale_examples training images, so z_0 has unit variance as in the
paper) in every step. The denoiser follows the latent: on a grid, `ddpm`'s U-Net (config
block `model`; class-conditional with classifier-free guidance as in `ddpm_cond` by
--config.model.class_conditional=true, loss.p_uncond (e.g. 0.1) and sample.guidance_w); on
a vector, an MLP with a time embedding (block `mlp`, jaxgen.models.latent_diffusion;
unconditional). Trained with L_simple and decoded to images; schedule, sampler and
optimizer as in `ddpm` (jaxgen.tasks.diffusion).

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  digits  the default: ddpm's cpu preset (batch 128, 5,000 steps; the U-Net of width 24,
          or the MLP of width 256, depth 3), autoencoder runs/vae
  quick   digits, a one-level U-Net of width 16 on ldm_autoencoder's quick 2x2x4 latents,
          batch 64, 2,000 steps, autoencoder runs/ldm_autoencoder (tests, smoke runs)
  cpu     fashion_mnist, the U-Net of width 32, mults (1, 2) (7x7 then 4x4), two residual
          blocks per level, attention at 4x4, on ldm_autoencoder's cpu 7x7x4 latents,
          batch 128, 5,000 steps, autoencoder runs/ldm_autoencoder; the steps table of
          ddpm's cpu preset (DPM-Solver++(2M) rows too)
  gpu     fashion_mnist, the U-Net of width 128, two residual blocks per level, attention
          at 7x7 and 4x4, 100,000 steps, autoencoder runs/ldm_autoencoder

    jaxgen train vae --workdir runs/vae
    jaxgen train latent_diffusion --workdir runs/ldm --config.autoencoder.workdir=runs/vae
    jaxgen train ldm_autoencoder --config.preset=cpu            # -> runs/ldm_autoencoder
    jaxgen train latent_diffusion --config.preset=cpu           # -> runs/latent_diffusion

(or python experiments/latent_diffusion.py [--workdir DIR] [--config.KEY=VALUE ...]).
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/latent_diffusion.py eval DIR [--step N] [--config.eval.KEY=VALUE ...]
writes DIR/eval/step_N/: eval.json with `ddpm`'s steps table on the decoded samples
(FID, precision/recall, mode coverage; sampling seconds per image, decoding included) and
training seconds per step, and steps.png; a class-conditional model adds `ddpm_cond`'s
guidance table (eval.guidance_ws; also guidance.png with
--config.eval.pictures="('steps','guidance')"). With --config.eval.pixel_run=DIR (a `ddpm` run
already evaluated with `python experiments/ddpm.py eval DIR`) eval.json also compares the
two: FID and sampling seconds per image per sampler, training seconds per step, parameters.
"""

import functools

from jaxgen import data, runs, train
from jaxgen.evaluation import common
from jaxgen.evaluation import diffusion as diffusion_eval
from jaxgen.models import latent_diffusion
from jaxgen.tasks import diffusion  # ddpm's U-Net, schedule, sampler, optimizer, evaluation

SPATIAL = {"autoencoder.workdir": "runs/ldm_autoencoder"}  # ldm_autoencoder's run directory
PRESETS = {
    "digits": {},
    "quick": {
        **SPATIAL,
        "data.batch_size": 64,
        "model.width": 16,
        "model.width_mults": (1,),
        "model.attention_resolutions": (),
        "train.steps": 2000,
    },
    "cpu": {
        **SPATIAL,
        "data.name": "fashion_mnist",
        "model.width": 32,
        "train.steps": 5000,
        "train.checkpoint_every": 2000,
        "train.sample_every": 2000,
        "eval.dpm_steps": (10, 20, 50, 100),  # the rows of ddpm's cpu preset, to compare
    },
    "gpu": {
        **SPATIAL,
        "data.name": "fashion_mnist",
        "model.width": 128,
        "model.attention_resolutions": (7, 4),
        "model.norm_groups": 32,
        **diffusion.PAPER_SCHEDULE,
    },
}


def get_config(preset="digits"):
    c = diffusion.base_config()
    c.autoencoder = {"workdir": "runs/vae", "scale_examples": 1000}
    c.mlp = {"width": 256, "depth": 3}  # the denoiser of a latent vector; `model`: of a grid
    pictures = ("num_rows", "num_frames", "inpaint_mask", "inpaint_resample")
    for key in (
        "pictures",
        *pictures,
        "sdedit_strengths",
        "sdedit_num_examples",
        "bpd_num_examples",
    ):
        del c.eval[key]  # the pixel-space pictures
    c.eval.pictures = ("steps",)
    c.eval.guidance_ws = (0.0, 0.5, 1.0, 2.0, 4.0)  # class-conditional models only
    c.eval.pixel_run = ""  # a ddpm run directory, evaluated, to compare with
    return train.with_preset(c, preset, PRESETS)


def restore_autoencoder(c):
    """The frozen autoencoder of run c.autoencoder.workdir (EMA weights, newest checkpoint)
    and its scale s; a clear error when that run is missing or of another dataset."""
    workdir = c.autoencoder.workdir
    ae_config, _, state = runs.restore_run(workdir)
    if ae_config.data.name != c.data.name:
        raise ValueError(
            f"The autoencoder run {workdir} was trained on {ae_config.data.name}, this config "
            f"has data.name={c.data.name}: set --config.data.name={ae_config.data.name}."
        )
    experiment, _ = train.read_run(workdir)
    model = runs.load_experiment(experiment).make_model(ae_config)
    ae = latent_diffusion.frozen_autoencoder(model, state.ema_params)
    images, _ = data.load_split(c.data.name, "train", c.data.get("data_dir"))
    x = data.to_float(images[: c.autoencoder.scale_examples])
    z = common.batched(ae.encode, x, 250)
    return ae, latent_diffusion.latent_scale(z)


def make_model(c, latent_shape):
    """The denoiser of latents of `latent_shape`: on a grid (h, w, C) the U-Net of c.model
    (ddpm's), on a vector (D,) the MLP of c.mlp (unconditional)."""
    if len(latent_shape) == 3:
        return diffusion.make_model(c)
    if c.model.class_conditional:
        raise ValueError(
            f"The autoencoder run {c.autoencoder.workdir} has a latent vector, whose MLP "
            "denoiser is unconditional: drop --config.model.class_conditional, or use an "
            "ldm_autoencoder run (a latent grid, denoised by a U-Net)."
        )
    return latent_diffusion.LatentDenoiser(c.mlp.width, c.mlp.depth)


def build(c):
    """(denoiser, autoencoder, scale, decode: z_0 -> images)."""
    ae, scale = restore_autoencoder(c)
    return make_model(c, ae.latent_shape), ae, scale, lambda z_0: ae.decode(z_0 / scale)


def make_task(c):
    denoiser, ae, scale, decode = build(c)
    schedule = diffusion.make_noise_schedule(c)
    objective = functools.partial(
        latent_diffusion.objective, denoiser, schedule, ae.encode, scale, p_uncond=c.loss.p_uncond
    )
    return diffusion.diffusion_task(c, denoiser, objective, ae.latent_shape, decode)


def evaluate(workdir, step=None, overrides=()):
    """Tables of a latent_diffusion run WORKDIR (and the comparison with eval.pixel_run) ->
    WORKDIR/eval/step_N/."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    pixel = diffusion_eval.read_eval(c.eval.pixel_run) if c.eval.pixel_run else None
    denoiser, ae, _, decode = build(c)
    trained = diffusion_eval.TrainedDiffusion(
        denoiser,
        diffusion.make_noise_schedule(c),
        state.ema_params,
        ae.latent_shape,
        c.sample,
        c.data.name,
        data_dir=c.data.get("data_dir"),
        decode=decode,
        seed=c.eval.seed,
    )
    return diffusion_eval.evaluate(
        trained,
        c.eval,
        common.eval_dir(workdir, state.step),
        step=int(state.step),
        train_seconds=diffusion_eval.train_seconds_per_step(workdir, c.data.batch_size),
        compare_with=pixel,
    )


if __name__ == "__main__":
    runs.script_main()
