"""Convolutional VAE (Kingma & Welling 2014): the demo. Quick on `digits`; use
--config.data.name=fashion_mnist for the real thing."""

import functools

import ml_collections
import optax

from jaxgen import data, train
from jaxgen.models import vae


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "digits", "batch_size": 64}
    c.model = {"latent_dim": 16, "widths": (32, 64), "likelihood": "bernoulli"}
    c.loss = {"beta": 1.0, "warmup_steps": 0}
    c.train = {
        "steps": 3000,
        "learning_rate": 1e-3,
        "ema_decay": 0.999,
        "log_every": 50,
        "checkpoint_every": 1000,
        "sample_every": 500,
        "num_samples": 64,
    }
    return c


def make_task(c):
    model = vae.ConvVAE(data.dataset_spec(c.data.name).shape, c.model.latent_dim, c.model.widths)
    likelihood = c.model.likelihood
    objective = functools.partial(vae.objective, model, likelihood=likelihood, **c.loss)
    return train.Task(
        init=lambda key, x: (model.init(key, x, key)["params"], {}),
        tx=optax.adam(c.train.learning_rate),
        step=train.loss_step(objective),
        sample=lambda state, key: vae.sample(
            model, state.ema_params, key, c.train.num_samples, likelihood=likelihood
        ),
    )


if __name__ == "__main__":
    from jaxgen.cli import main

    main(["train", __file__])
