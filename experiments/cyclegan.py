"""CycleGAN (Zhu et al. 2017) on unpaired Fashion-MNIST "sneaker" (class 7) <-> "ankle boot"
(class 9): ResNet generators G: A -> B and F: B -> A (instance norm), PatchGAN
discriminators D_A, D_B, the least-squares GAN loss + lambda_cyc = 10 times the cycle-
consistency loss, Adam 2e-4, beta1 0.5. Each step draws a batch of each class at random
from the training split (data.batch_size per domain; no image is paired with another).
The sample hook shows rows a, G(a), F(G(a)), b, F(b), G(F(b)) of test images: a good
translation keeps the pose and sole of its input and changes the shaft.

CPU preset (default): 28x28, small widths, ~20 min on 2 cores. GPU preset:
--config.preset=gpu, i.e. --config.train.steps=20000 --config.model.widths="(64, 128)"
--config.model.num_res_blocks=6 --config.model.d_widths="(64, 128)"
"""

import sys

import ml_collections

from jaxgen import data, train
from jaxgen.data import paired
from jaxgen.models import cyclegan, gan, pix2pix

# What the sample hook shows instead of samples of a model: `jaxgen eval` refuses the run.
SAMPLE_HOOK_SHOWS = "translations a -> b -> a and b -> a -> b of test images"
PRESETS = {
    "cpu": {},
    "gpu": {
        "train.steps": 20_000,
        "model.widths": (64, 128),
        "model.num_res_blocks": 6,
        "model.d_widths": (64, 128),
    },
}


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.preset = "cpu"
    # domains: the class labels of A and B; batch_size: images per domain and step.
    c.data = {"name": "fashion_mnist", "batch_size": 16, "domains": (7, 9)}
    c.model = {"widths": (32, 64), "num_res_blocks": 3, "d_widths": (32, 64)}
    c.loss = {"gan": "least_squares", "cycle_weight": 10.0, "identity_weight": 0.0}
    c.optimizer = {"g_learning_rate": 2e-4, "d_learning_rate": 2e-4, "b1": 0.5, "b2": 0.999}
    c.train = {
        "steps": 4_000,
        "ema_decay": 0.999,
        "log_every": 50,
        "checkpoint_every": 1000,
        "sample_every": 500,
        "num_samples": 36,  # 6 rows of a, G(a), F(G(a)), b, F(b), G(F(b))
    }
    return c


def make_task(c):
    train.apply_preset(c, PRESETS, get_config())
    channels = data.dataset_spec(c.data.name).shape[-1]
    m, loss = c.model, c.loss
    generator = pix2pix.EncoderDecoder(
        channels,
        m.widths,
        skip_connections=False,
        num_res_blocks=m.num_res_blocks,
        normalization="instance",
        dropout_rate=0.0,
    )
    discriminator = gan.Discriminator(m.d_widths, "instance", patch=True)
    domains = lambda split: paired.class_domains(
        c.data.name, split, *c.data.domains, c.data.get("data_dir")
    )
    train_a, train_b = domains("train")
    o = c.optimizer
    return train.Task(
        init=gan.jit_init(lambda key, x: cyclegan.init(generator, discriminator, key, x, x)),
        tx=gan.optimizers("adam", o.g_learning_rate, o.d_learning_rate, b1=o.b1, b2=o.b2),
        step=cyclegan.make_step(
            generator,
            discriminator,
            train_a,
            train_b,
            kind=loss.gan,
            cycle_weight=loss.cycle_weight,
            identity_weight=loss.identity_weight,
        ),
        sample=cyclegan.sample_hook(generator, *domains("test"), c.train.num_samples),
    )


if __name__ == "__main__":
    from jaxgen.cli import main

    main(["train", __file__, *sys.argv[1:]])
