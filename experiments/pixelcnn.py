"""Gated PixelCNN (van den Oord et al. 2016): exact log-likelihood of 8-bit images, on `digits`.

Vertical and horizontal stacks of masked convolutions with gated activations (mask A in the
first block, B after), trained on the exact negative log-likelihood of the pixels.
--config.model.output=logistic_mixture for PixelCNN++'s discretized logistic mixture instead
of the 256-way softmax; --config.model.class_conditional=True conditions every gated block
on the class; --config.model.arch=row_lstm is PixelRNN (van den Oord et al. 2016: a mask-A
7x7 input convolution, then num_layers Row LSTM layers) in place of the gated blocks.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits, 5 gated blocks of 32 features, batch 64, 2,000 steps (the default)
  cpu    fashion_mnist, 5 blocks of 32 features, batch 32, 2,500 steps; 16 eval samples
  gpu    fashion_mnist, 12 blocks of 128 features, batch 128, 50,000 steps; 100 eval samples

Run (the same as `jaxgen train pixelcnn`; the run directory defaults to runs/pixelcnn):
  python experiments/pixelcnn.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/pixelcnn.py eval DIR [--step N] [--config.eval.num_samples=16 ...]
writes DIR/eval/step_N/: eval.json (test-set NLL in nats and bits/dim over the 256
levels of the 8-bit pixels, exact; the sampling time of eval.num_samples images, one
network pass per pixel) and samples.png (for class-conditional models column j is class j).
"""

import functools

import jax
import ml_collections

from jaxgen import data, runs, train
from jaxgen.evaluation import common, likelihood
from jaxgen.metrics import SCALE_8BIT
from jaxgen.models import pixelcnn

PRESETS = {
    "quick": {},
    "cpu": {
        "data.name": "fashion_mnist",
        "data.batch_size": 32,
        "train.steps": 2500,
        "train.checkpoint_every": 500,
        "train.sample_every": 0,
        "train.num_samples": 16,
        "eval.num_samples": 16,
    },
    "gpu": {
        "data.name": "fashion_mnist",
        "data.batch_size": 128,
        "model.features": 128,
        "model.num_layers": 12,
        "train.steps": 50000,
        "train.checkpoint_every": 5000,
        "train.sample_every": 5000,
        "eval.num_samples": 100,
    },
}


def get_config(preset="quick"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "digits", "batch_size": 64}
    c.model = {
        "features": 32,
        "num_layers": 5,  # gated blocks: one with mask A, then mask B
        "kernel_size": 3,
        "output": "softmax",  # or "logistic_mixture"
        "num_mixtures": 5,
        "class_conditional": False,
        # "row_lstm": PixelRNN's Row LSTM layers (num_layers of them) for the gated blocks
        "arch": "gated",
    }
    c.train = train.train_config(steps=2000, learning_rate=1e-3, grad_clip=1.0, sample_every=1000)
    c.eval = train.eval_config(num_samples=64)
    return train.with_preset(c, preset, PRESETS)


ARCHS = {"gated": pixelcnn.PixelCNN, "row_lstm": pixelcnn.PixelRNN}


def make_model(c):
    m = c.model
    spec = data.dataset_spec(c.data.name)
    arch = m.get("arch", "gated")  # runs from before PixelRNN have no model.arch
    if arch not in ARCHS:
        raise ValueError(f"model.arch={arch!r}: choose one of {', '.join(ARCHS)}.")
    return ARCHS[arch](
        spec.shape,
        features=m.features,
        num_layers=m.num_layers,
        kernel_size=m.kernel_size,
        output=m.output,
        num_mixtures=m.num_mixtures,
        num_classes=spec.num_classes if m.class_conditional else 0,
    )


def make_task(c):
    model = make_model(c)
    pixelcnn.get_output(model.output)  # an unknown output name fails here, before training
    sample = jax.jit(functools.partial(pixelcnn.sample, model), static_argnums=2)

    def init(key, x):
        labels = pixelcnn.sample_labels(model, x.shape[0])
        return model.init(key, x, labels)["params"], {}

    return train.Task(
        init=init,
        tx=train.adam(c.train.learning_rate, c.train.grad_clip),
        step=train.loss_step(functools.partial(pixelcnn.objective, model)),
        sample=lambda state, key: sample(state.ema_params, key, c.train.num_samples),
    )


def evaluate(workdir, step=None, overrides=()):
    """Test-set bits/dim, sampling time and samples of run WORKDIR -> WORKDIR/eval/step_N/."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    model, params, e = make_model(c), state.ema_params, c.eval
    conditional = model.num_classes > 0
    return likelihood.evaluate_likelihood_model(
        lambda x, y, key: pixelcnn.log_likelihood(model, params, x, y if conditional else None),
        lambda key: pixelcnn.sample(model, params, key, e.num_samples),
        params,
        common.eval_dir(workdir, state.step),
        dataset=c.data.name,
        data_scale=SCALE_8BIT,
        discretization="exact: a distribution over the 256 levels of each 8-bit pixel",
        data_dir=c.data.get("data_dir"),
        seed=e.seed,
        num_examples=e.num_examples,
        batch_size=e.batch_size,
        sample_ncol=model.num_classes or 8,
        step=int(state.step),
    )


if __name__ == "__main__":
    runs.script_main()
