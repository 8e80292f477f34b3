"""The DCGAN family's config and wiring (Radford et al. 2016), shared by the experiments
dcgan, cgan, wgan_gp, sngan and msggan, which change only its values: the base config (8x8
digits, the digits preset: 8,000 steps), the presets quick (digits, 2,000 steps), cpu
(Fashion-MNIST 28x28, 12,000 steps) and gpu (Fashion-MNIST, wider networks, 30,000 steps),
the GAN of a config and its task. The experiments' docstrings say how to run and evaluate
them.
"""

import ml_collections

from jaxgen import data, train
from jaxgen.evaluation import grids
from jaxgen.models import gan
from jaxgen.train import gan as gan_train

# quick: a digits smoke run; digits: the 8x8 digits setting of the README's digits table
# (the defaults); cpu: Fashion-MNIST 28x28 (7 -> 14 -> 28) sized for a 2-core CPU; gpu: the
# paper-sized networks on Fashion-MNIST.
PRESETS = {
    "quick": {"train.steps": 2000, "train.checkpoint_every": 1000, "train.sample_every": 1000},
    "digits": {},
    "cpu": {
        "data.name": "fashion_mnist",
        "model.latent_dim": 64,
        "train.steps": 12_000,
        "train.checkpoint_every": 2000,
        "train.sample_every": 2000,
        "sample.arithmetic_classes": (0, 1),  # T-shirt, trouser
    },
    "gpu": {
        "data.name": "fashion_mnist",
        "data.batch_size": 128,
        "train.steps": 30_000,
        "model.widths": (128, 256),
        "model.latent_dim": 100,
        "sample.arithmetic_classes": (0, 1),  # T-shirt, trouser
    },
}


def critic_presets(cpu_steps: int, gpu_steps: int) -> dict:
    """The presets of the Wasserstein critics (wgan, wgan_gp): dcgan's data and networks with
    fewer generator steps (each runs n_critic = 5 critic updates), checkpoints every third
    (cpu) or half (gpu) of the steps, pictures every sixth."""
    return {
        "quick": {"train.steps": 300, "train.checkpoint_every": 150, "train.sample_every": 50},
        "digits": {},
        **{
            name: {
                **PRESETS[name],
                "train.steps": steps,
                "train.checkpoint_every": steps // every,
                "train.sample_every": steps // 6,
            }
            for name, steps, every in (("cpu", cpu_steps, 3), ("gpu", gpu_steps, 2))
        },
    }


def base_config():
    """The DCGAN config (the digits preset) shared by dcgan, cgan, wgan_gp, sngan and msggan."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.preset = "digits"
    c.data = {"name": "digits", "batch_size": 64}
    # widths: D's conv widths, G's in reverse; one factor 2 of resolution per width.
    c.model = {
        "latent_dim": 32,
        "widths": (64, 128),
        "g_normalization": "batch",
        "d_normalization": "batch",
        "spectral_norm": False,
        "multi_scale": False,
        "conditional": False,
    }
    # k: D updates per G update; gp_weight: WGAN-GP's lambda; r1_weight: R1's gamma.
    c.loss = {
        "discriminator": "minimax",
        "generator": "non_saturating",
        "k": 1,
        "gp_weight": 0.0,
        "r1_weight": 0.0,
    }
    c.optimizer = {"g_learning_rate": 2e-4, "d_learning_rate": 2e-4, "b1": 0.5, "b2": 0.999}
    # grid: samples | interpolation | arithmetic | class_rows (cgan) | multiscale (msggan)
    c.sample = {"grid": "samples", "arithmetic_classes": (7, 1)}
    c.train = train.train_config(
        steps=8_000, log_every=100, checkpoint_every=2000, sample_every=1000
    )
    return c


def make_gan(c):
    """The GAN of config c: DCGAN networks with c.model's options, c.loss's objectives."""
    spec = data.dataset_spec(c.data.name)
    m, loss = c.model, c.loss
    num_classes = spec.num_classes if m.conditional else 0
    return gan_train.GAN(
        generator=gan.Generator(
            spec.shape, m.widths, m.g_normalization, num_classes, multi_scale=m.multi_scale
        ),
        discriminator=gan.Discriminator(
            m.widths, m.d_normalization, spectral_norm=m.spectral_norm, num_classes=num_classes
        ),
        latent_dim=m.latent_dim,
        d_loss=loss.discriminator,
        g_loss=loss.generator,
        k=loss.k,
        gp_weight=loss.gp_weight,
        r1_weight=loss.r1_weight,
        conditional=m.conditional,
    )


def make_task(c):
    """The Task of config c: the GAN of `make_gan`, c.optimizer's optimizers for G and D
    (name: adam unless set; weight_clip: WGAN's critic clipping), the sample hook of
    c.sample.grid."""
    model = make_gan(c)
    label_fn = None
    if c.sample.grid == "arithmetic":  # labels generated images by their nearest train image
        images, labels = data.load_split(c.data.name, "train", c.data.get("data_dir"))
        label_fn = grids.nearest_neighbour_labels(data.to_float(images[:5000]), labels[:5000])
    o = c.optimizer
    return train.Task(
        init=lambda key, x: gan_train.init(model, key, x),
        tx=gan_train.optimizers(
            o.get("name", "adam"),
            o.g_learning_rate,
            o.d_learning_rate,
            b1=o.b1,
            b2=o.b2,
            weight_clip=o.get("weight_clip", 0.0),
        ),
        step=model.step(),
        sample=grids.sample_hook(
            model,
            c.sample.grid,
            c.train.num_samples,
            num_classes=data.dataset_spec(c.data.name).num_classes,
            label_fn=label_fn,
            classes=c.sample.arithmetic_classes,
        ),
    )
