"""The conv autoencoder's config and wiring, shared by the experiments ae and dae (the
denoising autoencoder, which only changes the config): the model, the task, the evaluation
and the presets quick (digits, 3,000 steps), cpu (fashion_mnist, bottleneck 32, 12,000
steps) and gpu (wider, 50,000 steps). The experiments' docstrings say how to run and
evaluate them.
"""

import functools

import ml_collections
import optax

from jaxgen import data, runs, train
from jaxgen.evaluation import common, latent
from jaxgen.models import autoencoder
from jaxgen.tasks import presets

PRESETS = presets.fashion_mnist(cpu={"model.bottleneck": 32}, gpu={"model.bottleneck": 32})


def base_config():
    """The conv autoencoder config (the quick preset) shared by ae and dae."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.preset = "quick"
    c.data = {"name": "digits", "batch_size": 64}
    c.model = {"bottleneck": 16, "widths": (32, 64), "upsample": "transpose"}
    c.loss = {"corruption": "none", "noise_std": 0.5, "mask_prob": 0.5}
    c.train = train.train_config(steps=3000, learning_rate=1e-3)
    c.eval = train.eval_config(num_rows=8)
    return c


def make_model(c):
    """The autoencoder of config c: the conv one, or the linear one (model.linear)."""
    shape = data.dataset_spec(c.data.name).shape
    m = c.model
    if m.get("linear"):
        return autoencoder.LinearAutoencoder(shape, m.bottleneck)
    return autoencoder.ConvAutoencoder(shape, m.bottleneck, tuple(m.widths), m.upsample)


def learning_rate(t):
    """train block t's learning rate: constant, or with t.cosine_decay from t.learning_rate
    to 0 at step t.steps (optax.cosine_decay_schedule)."""
    if t.get("cosine_decay"):
        return optax.cosine_decay_schedule(t.learning_rate, t.steps)
    return t.learning_rate


def make_task(c):
    """The autoencoder's task of config c: the MSE of reconstructing clean images from
    c.loss's corruption of them."""
    model = make_model(c)
    corrupt = autoencoder.make_corruption(**c.loss)
    reconstruct = functools.partial(autoencoder.reconstruct, model)
    hook = functools.cache(
        lambda: autoencoder.comparison_sample_fn(
            reconstruct,
            common.load_test_split(c.data.name, c.data.get("data_dir"))[0],
            c.train.num_samples,
            None if c.loss.corruption == "none" else corrupt,
        )
    )
    return train.Task(
        init=lambda key, x: (model.init(key, x)["params"], {}),
        tx=optax.adam(learning_rate(c.train)),
        step=train.loss_step(functools.partial(autoencoder.objective, model, corrupt_fn=corrupt)),
        sample=lambda state, key: hook()(state.ema_params, key),
    )


def evaluate(workdir, step=None, overrides=()):
    """Test-set numbers and pictures of run WORKDIR -> WORKDIR/eval/step_N/ (module doc)."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    corruption = c.loss.corruption
    return latent.evaluate_reconstructions(
        functools.partial(autoencoder.reconstruct, make_model(c)),
        state.ema_params,
        common.eval_dir(workdir, state.step),
        dataset=c.data.name,
        data_dir=c.data.get("data_dir"),
        corrupt_fn=None if corruption == "none" else autoencoder.make_corruption(**c.loss),
        step=int(state.step),
        **c.eval,
    )
