"""SRResNet and SRGAN (Ledig et al. 2017): 4x super-resolution of Fashion-MNIST, 7x7 -> 28x28.

The input is the 4x4 block mean of the image (jaxgen.models.cascade.downsample; the paper
downsamples bicubically). The generator is jaxgen.models.srgan.SRResNet (residual blocks at
7x7, two sub-pixel convolutions). With model.adversarial=false it is SRResNet, trained on
the pixel MSE alone (the paper's eq. 4); with true, SRGAN: the content loss plus 10^-3 times
the non-saturating adversarial loss of a DCGAN discriminator on the 28x28 image (eq. 3),
through jaxgen.train.pix2pix's step. loss.content "features" measures the content loss on
the penultimate features of the project's Fashion-MNIST classifier (VGG-19 is the paper's;
no ImageNet network ships here), "pixels" on the pixels. Adam 1e-4 (beta1 0.9), as the
paper; SRGAN starts from scratch, not from a trained SRResNet.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick     digits 8x8 from 2x2 (factor 4), width 16, 2 blocks, 200 steps (tests)
  srresnet  fashion_mnist, width 32, 4 residual blocks, batch 32, 3,000 steps, pixel MSE
  cpu       the same generator and budget as SRGAN with the classifier-feature content loss
            and a DCGAN discriminator (widths 32, 64) (the default)

Run (the same as `jaxgen train srgan`; the run directory defaults to runs/srgan):
  python experiments/srgan.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/srgan.py eval DIR [--step N] [--config.eval.num_examples=1000]
writes DIR/eval/step_N/eval.json: PSNR, SSIM and FID (jaxgen.evaluation.superres) of the
first eval.num_examples test images super-resolved by bicubic interpolation and by the
model; and superresolved.png (rows: input, bicubic, the model, the original).
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgen import data, losses, runs, train
from jaxgen.evaluation import common, grids, superres
from jaxgen.metrics.classifier import load_feature_net
from jaxgen.models import cascade, gan, srgan
from jaxgen.train import gan as gan_train
from jaxgen.train import pix2pix as pix2pix_train
from jaxgen.train.gan import GENERATOR

# What the sample hook shows instead of samples of a model: `jaxgen eval` refuses the run.
SAMPLE_HOOK_SHOWS = "(input, output, original) triplets of test images"
PRESETS = {
    "quick": {
        "data.name": "digits",
        "model.width": 16,
        "model.num_blocks": 2,
        "model.d_widths": (16,),
        "train.steps": 200,
        "train.num_samples": 9,
    },
    "srresnet": {"model.adversarial": False, "loss.content": "pixels"},
    "cpu": {},
}


def get_config(preset="cpu"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "fashion_mnist", "batch_size": 32}
    c.model = {"factor": 4, "width": 32, "num_blocks": 4, "adversarial": True, "d_widths": (32, 64)}
    # content: "features" (the classifier's penultimate layer) or "pixels"; its weight against
    # the adversarial loss (the paper's 1 / 10^-3).
    c.loss = {"content": "features", "content_weight": 1000.0}
    c.optimizer = {"g_learning_rate": 1e-4, "d_learning_rate": 1e-4, "b1": 0.9, "b2": 0.999}
    c.train = train.train_config(steps=3000, num_samples=36, sample_every=1000)
    c.eval = train.eval_config(num_examples=1000, batch_size=500)
    return train.with_preset(c, preset, PRESETS)


def content_loss(c):
    """(G(x), y) -> [B]: srgan_content_loss on the classifier's features or the pixels."""
    if c.loss.content == "pixels":
        return losses.srgan_content_loss
    if c.loss.content != "features":
        raise ValueError(f"loss.content={c.loss.content!r}: choose features or pixels.")
    features = load_feature_net(c.data.name).apply
    return lambda fake, real: losses.srgan_content_loss(features(fake)[0], features(real)[0])


def make_generator(c):
    channels = data.dataset_spec(c.data.name).shape[-1]
    return srgan.SRResNet(channels, c.model.width, c.model.num_blocks, c.model.factor)


def make_task(c):
    generator, f = make_generator(c), c.model.factor
    make_source = lambda y: cascade.downsample(y, f)  # noqa: E731
    images = common.load_test_split(c.data.name, c.data.get("data_dir"), 1000)[0]
    show = lambda x: jnp.repeat(jnp.repeat(x, f, axis=1), f, axis=2)  # noqa: E731
    sample = grids.pix2pix_hook(generator, make_source(images), images, c.train.num_samples, show)
    content, o = content_loss(c), c.optimizer
    if c.model.adversarial:
        discriminator = gan.Discriminator(c.model.d_widths, "batch")
        return train.Task(
            init=lambda key, y: pix2pix_train.init(
                generator, discriminator, key, make_source(y), y, conditional=False),
            tx=gan_train.optimizers("adam", o.g_learning_rate, o.d_learning_rate, b1=o.b1, b2=o.b2),
            step=pix2pix_train.make_step(generator, discriminator, make_source,
                                         c.loss.content_weight, content, conditional=False),
            sample=sample,
        )  # fmt: skip

    def init(key, y):
        return {GENERATOR: generator.init(key, make_source(y))["params"]}, {GENERATOR: {}}

    def objective(params, model_state, batch, key, step):
        y = batch["image"]
        y_fake = generator.apply({"params": params[GENERATOR]}, make_source(y))
        return jnp.mean(content(y_fake, y)), ({}, model_state)

    return train.Task(
        init=init,
        tx=train.adam(o.g_learning_rate, b1=o.b1, b2=o.b2),
        step=train.loss_step(objective),
        sample=sample,
    )


def evaluate(workdir, step=None, overrides=()):
    """Bicubic against the model -> WORKDIR/eval/step_N/ (module doc)."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    e, f, generator = c.eval, c.model.factor, make_generator(c)
    originals = common.load_test_split(c.data.name, c.data.get("data_dir"), e.num_examples)[0]
    low = np.asarray(cascade.downsample(originals, f))
    bicubic = np.clip(jax.image.resize(low, originals.shape, "bicubic"), -1.0, 1.0)
    translate = jax.jit(
        lambda x, key: pix2pix_train.translate(
            generator, state.ema_params, state.model_state, x, key
        )
    )
    drawn = common.batched(translate, low, e.batch_size, jax.random.PRNGKey(e.seed))
    results = {"step": int(state.step), "num_examples": len(originals), "factor": f}
    results |= superres.table(
        {"bicubic": np.asarray(bicubic), "model": drawn}, originals, c.data.name, e.batch_size
    )
    out = common.eval_dir(workdir, state.step)
    shown = np.repeat(np.repeat(low[:8], f, axis=1), f, axis=2)
    rows = np.concatenate([shown, bicubic[:8], drawn[:8], originals[:8]])
    common.save_grid(out / "superresolved.png", rows, ncol=8)
    return common.write_results(out, results)


if __name__ == "__main__":
    runs.script_main()
