"""CycleGAN (Zhu et al. 2017): unpaired Fashion-MNIST sneaker <-> ankle boot translation.

Domains "sneaker" (class 7) and "ankle boot" (class 9): ResNet generators G: A -> B and
F: B -> A (instance norm), PatchGAN discriminators D_A, D_B, the least-squares GAN loss +
lambda_cyc = 10 times the cycle-consistency loss, Adam 2e-4, beta1 0.5. Each step draws a
batch of each class at random from the training split (data.batch_size per domain; no image
is paired with another). The sample hook shows rows a, G(a), F(G(a)), b, F(b), G(F(b)) of
test images: a good translation keeps the pose and sole of its input and changes the shaft.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  cpu    28x28, widths (32, 64) for G, F and the Ds, 3 residual blocks, 16 images per
         domain and step, 4,000 steps (the default)
  gpu    widths (64, 128), 6 residual blocks, 20,000 steps

Run (the same as `jaxgen train cyclegan`; the run directory defaults to runs/cyclegan):
  python experiments/cyclegan.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/cyclegan.py eval DIR [--step N] [--config.eval.KEY=VALUE ...]
scores G and F on the 1,000 test images of each class and writes DIR/eval/step_N/:
eval.json (the feature classifier's accuracy for the target class, FID against the target
class's test images next to the FID of the untranslated inputs, and the cycle L1;
jaxgen.evaluation.gan.cycle_scores) and translations.png (12 rows).
"""

import functools

import jax
import ml_collections

from jaxgen import data, runs, train
from jaxgen.data import paired
from jaxgen.evaluation import common, grids
from jaxgen.evaluation import gan as gan_eval
from jaxgen.models import gan, pix2pix
from jaxgen.train import cyclegan
from jaxgen.train import gan as gan_train

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


def get_config(preset="cpu"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    # domains: the class labels of A and B; batch_size: images per domain and step.
    c.data = {"name": "fashion_mnist", "batch_size": 16, "domains": (7, 9)}
    # generator: "resnet" (CycleGAN's) or "unet" (pix2pix's, DualGAN's)
    c.model = {"widths": (32, 64), "num_res_blocks": 3, "d_widths": (32, 64), "generator": "resnet"}
    # n_critic: discriminator updates per generator update
    c.loss = {"gan": "least_squares", "cycle_weight": 10.0, "identity_weight": 0.0, "n_critic": 1}
    # name: "adam" or "rmsprop" (WGAN's); weight_clip > 0 clips every critic weight (WGAN)
    c.optimizer = {"name": "adam", "g_learning_rate": 2e-4, "d_learning_rate": 2e-4, "b1": 0.5,
                   "b2": 0.999, "weight_clip": 0.0}  # fmt: skip
    c.train = train.train_config(
        steps=4_000,
        num_samples=36,  # 6 rows of a, G(a), F(G(a)), b, F(b), G(F(b))
    )
    c.eval = {"seed": 0, "batch_size": 500}
    return train.with_preset(c, preset, PRESETS)


def make_generator(c):
    """The generator architecture of G and F: CycleGAN's ResNet generator, or the U-Net."""
    m = c.model
    channels = data.dataset_spec(c.data.name).shape[-1]
    if m.generator not in ("resnet", "unet"):
        raise ValueError(f"model.generator={m.generator!r}: choose resnet or unet.")
    unet = m.generator == "unet"
    return pix2pix.EncoderDecoder(
        channels,
        m.widths,
        skip_connections=unet,
        num_res_blocks=0 if unet else m.num_res_blocks,
        normalization="instance",
        dropout_rate=0.0,
    )


def domains(c, split):
    """(images of class A, of class B) of a split, uint8."""
    return paired.class_domains(c.data.name, split, *c.data.domains, c.data.get("data_dir"))


def make_task(c):
    generator, loss = make_generator(c), c.loss
    discriminator = gan.Discriminator(c.model.d_widths, "instance", patch=True)
    train_a, train_b = domains(c, "train")
    o = c.optimizer
    return train.Task(
        init=lambda key, x: cyclegan.init(generator, discriminator, key, x, x),
        tx=gan_train.optimizers(
            o.name,
            o.g_learning_rate,
            o.d_learning_rate,
            b1=o.b1,
            b2=o.b2,
            weight_clip=o.weight_clip,
        ),  # fmt: skip
        step=cyclegan.make_step(
            generator,
            discriminator,
            train_a,
            train_b,
            kind=loss.gan,
            cycle_weight=loss.cycle_weight,
            identity_weight=loss.identity_weight,
            k=loss.n_critic,
        ),
        sample=grids.cyclegan_hook(generator, *domains(c, "test"), c.train.num_samples),
    )


def evaluate(workdir, step=None, overrides=()):
    """Target-class accuracy, FID and cycle L1 of G and F on the test domains ->
    WORKDIR/eval/step_N/."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    grid = jax.jit(functools.partial(grids.translation_grid, make_generator(c)))
    translate = lambda pairs, key: grid(
        state.ema_params, state.model_state, key, pairs[:, 0], pairs[:, 1]
    )
    x_a, x_b = map(data.to_float, domains(c, "test"))
    rows, results = gan_eval.cycle_scores(
        translate, x_a, x_b, c.data.domains, jax.random.PRNGKey(c.eval.seed),
        dataset=c.data.name, batch_size=c.eval.batch_size,
    )  # fmt: skip
    return gan_eval.write(
        common.eval_dir(workdir, state.step),
        results,
        "translations",
        rows[:12].reshape(-1, *rows.shape[2:]),
        12,
        state.step,
    )


if __name__ == "__main__":
    runs.script_main()
