"""Shared helpers of the diffusion tests: oracle noise predictors and compiled-graph probes."""

import jax
import jax.numpy as jnp
import numpy as np


def oracle(schedule, x0):
    """The noise predictor that knows x_0: eps = (x_t - sqrt(alpha_bar_t) x_0) /
    sqrt(1 - alpha_bar_t), the exact noise of q(x_t | x_0)."""

    def eps_fn(x_t, t):
        shape = (-1,) + (1,) * (x_t.ndim - 1)
        alpha_bar = schedule.alpha_bar_t[t].reshape(shape)
        one_minus_alpha_bar = schedule.one_minus_alpha_bar_t[t].reshape(shape)
        return (x_t - jnp.sqrt(alpha_bar) * x0) / jnp.sqrt(one_minus_alpha_bar)

    return eps_fn


def squashing(schedule):
    """A nonlinear, x_0-free predictor: the oracle of x_0 = tanh(x_t) (bounded samples)."""

    def eps_fn(x_t, t):
        return oracle(schedule, jnp.tanh(x_t))(x_t, t)

    return eps_fn


def scan_lengths(jaxpr):
    """Lengths of every scan in a jaxpr, nested ones (in jit calls, scan bodies) included."""
    lengths = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "scan":
            lengths.append(eqn.params["length"])
        for param in eqn.params.values():
            for sub in param if isinstance(param, tuple | list) else (param,):
                inner = getattr(sub, "jaxpr", sub)  # ClosedJaxpr -> Jaxpr
                if hasattr(inner, "eqns"):
                    lengths += scan_lengths(inner)
    return lengths


def main_while_loops(lowered):
    """Number of while loops in the entry function of a lowered jit (StableHLO text); the
    private functions it calls (e.g. threefry's rounds) are left out."""
    text = lowered.as_text()
    main = text.split("func.func public @main", 1)[1].split("func.func ", 1)[0]
    return main.count("stablehlo.while")


def random_params(model, *args):
    """Parameters of the model's structure drawn from N(0, 0.2^2) with numpy: no compiled
    init, and no zero-initialized output layer that would make eps_pred identically 0."""
    shapes = jax.eval_shape(model.init, jax.random.key(0), *args)["params"]
    rng = np.random.default_rng(0)
    return jax.tree.map(lambda s: 0.2 * rng.standard_normal(s.shape, np.float32), shapes)


def tiny_config(experiment, data_dir):
    """The config of a ddpm-family experiment module with a tiny U-Net, T = 100, on `digits`."""
    c = experiment.get_config()
    c.data.update({"batch_size": 32, "data_dir": data_dir})
    c.diffusion.num_steps = 100
    c.model.update(
        {"width": 16, "width_mults": (1,), "num_res_blocks": 1, "attention_resolutions": ()}
    )  # attention in the middle block only, at 4x4
    c.sample.num_steps = 5
    c.train.update({"learning_rate": 3e-3, "warmup_steps": 0, "ema_decay": 0.5, "num_samples": 20})
    return c
