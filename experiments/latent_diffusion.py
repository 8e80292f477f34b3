"""Latent diffusion (Rombach et al. 2022): DDPM in a frozen VAE-family autoencoder's latents.

--config.autoencoder.workdir is the run directory of a `vae`, `beta_vae`, `vae_latent`, `ae`
or `dae` run on the same dataset (a path relative to the current directory; it must stay
there: the checkpoints of this run hold only the denoiser). Its EMA weights are restored;
training images are encoded to z_0 = s * mu(x) (the posterior mean; s = 1 / std of the
latents of the first autoencoder.scale_examples training images, so z_0 has unit variance as
in the paper) in every step; the denoiser is an MLP with a time embedding over the latent
vector (`jaxgen.models.latent_diffusion`: these autoencoders have a dense bottleneck, no
spatial latent for a U-Net), trained with L_simple and decoded to images. Schedule, sampler,
optimizer and training length as in `ddpm`'s cpu preset (jaxgen.tasks.diffusion); no
presets of its own.

    jaxgen train vae --workdir runs/vae
    jaxgen train latent_diffusion --workdir runs/ldm --config.autoencoder.workdir=runs/vae

(or python experiments/latent_diffusion.py [--workdir DIR] [--config.KEY=VALUE ...]).
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/latent_diffusion.py eval DIR [--step N] [--config.eval.KEY=VALUE ...]
writes DIR/eval/step_N/: eval.json with `ddpm`'s steps table on the decoded samples
(FID, precision/recall, mode coverage; sampling seconds per image, decoding included) and
training seconds per step, and steps.png. With --config.eval.pixel_run=DIR (a `ddpm` run
already evaluated with `python experiments/ddpm.py eval DIR`) eval.json also compares the
two: FID and sampling seconds per image per sampler, training seconds per step, parameters.
"""

import functools

from jaxgen import data, runs, train
from jaxgen.evaluation import common
from jaxgen.evaluation import diffusion as diffusion_eval
from jaxgen.models import latent_diffusion
from jaxgen.tasks import diffusion  # the schedule, sampler, optimizer and evaluation of ddpm


def get_config():
    c = diffusion.base_config()
    del c["preset"]
    c.autoencoder = {"workdir": "runs/vae", "scale_examples": 1000}
    c.model = {"width": 256, "depth": 3}
    for key in ("pictures", "num_rows", "num_frames", "inpaint_mask", "inpaint_resample"):
        del c.eval[key]  # the pixel-space pictures
    c.eval.pictures = ("steps",)
    c.eval.pixel_run = ""  # a ddpm run directory, evaluated, to compare with
    return c


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


def make_model(c):
    return latent_diffusion.LatentDenoiser(c.model.width, c.model.depth)


def build(c):
    """(denoiser, autoencoder, scale, decode: z_0 -> images)."""
    ae, scale = restore_autoencoder(c)
    return make_model(c), ae, scale, lambda z_0: ae.decode(z_0 / scale)


def make_task(c):
    denoiser, ae, scale, decode = build(c)
    schedule = diffusion.make_noise_schedule(c)
    objective = functools.partial(latent_diffusion.objective, denoiser, schedule, ae.encode, scale)
    return diffusion.diffusion_task(c, denoiser, objective, (ae.latent_dim,), decode)


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
        (ae.latent_dim,),
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
