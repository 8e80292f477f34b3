"""VQ-VAE (van den Oord et al. 2017): straight-through codes, commitment loss, EMA codebook.

A conv encoder to a map of code vectors, nearest-codeword quantization with the
straight-through gradient, and the codebook learned by gradients or, with
--config.model.ema=true, by exponential moving averages.

Loss: MSE(x, g(z_q)) + ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2 (beta = loss.beta); with the
EMA codebook the middle term is replaced by the EMA update (decay loss.ema_decay) kept in the
model state. The global codebook perplexity is logged each step. No prior over the codes is
trained, so the sample hook shows test images and their reconstructions.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits (2 x 2 codes per image), 64 codes, 3,000 steps (the default)
  cpu    fashion_mnist (7 x 7 codes), 128 codes, 12,000 steps
  gpu    fashion_mnist, wider conv stack, 256 codes, batch 128, 50,000 steps
  captions  fashion_captions (32x32 RGB -> 8 x 8 codes), 128 codes, 6,000 steps: the
            codes of `dalle`

Run (the same as `jaxgen train vqvae`; the run directory defaults to runs/vqvae):
  python experiments/vqvae.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/vqvae.py eval DIR [--step N] [--config.eval.KEY=VALUE ...]
writes DIR/eval/step_N/: eval.json (test-set reconstruction MSE per pixel on the [-1, 1]
scale, codebook perplexity and codes used over the test split) and reconstructions.png.
With the EMA codebook it uses the codebook of the model state (itself a moving average of
the encoder outputs).
"""

import functools

import ml_collections
import optax

from jaxgen import data, runs, train
from jaxgen.evaluation import common, latent
from jaxgen.models import autoencoder, vqvae
from jaxgen.tasks import presets

SAMPLE_HOOK_SHOWS = "test images and their reconstructions"  # no prior to sample from
PRESETS = {
    **presets.fashion_mnist(cpu={"model.num_codes": 128}, gpu={"model.num_codes": 256}),
    # the codes of dalle's cpu preset: 32x32 RGB captioned garments -> 8 x 8 codes of 128
    "captions": {
        **presets.CPU,
        "data.name": "fashion_captions",
        "model.num_codes": 128,
        "train.steps": 6000,
        "train.checkpoint_every": 2000,
        "train.sample_every": 2000,
    },
}


def get_config(preset="quick"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = {"name": "digits", "batch_size": 64}
    c.model = {
        "num_codes": 64,
        "code_dim": 16,
        "widths": (32, 64),
        "ema": False,
        "upsample": "transpose",
    }
    c.loss = {"beta": 0.25, "ema_decay": 0.99}
    c.train = train.train_config(steps=3000, learning_rate=1e-3)
    c.eval = train.eval_config(num_rows=8)
    return train.with_preset(c, preset, PRESETS)


def make_model(c):
    shape = data.dataset_spec(c.data.name).shape
    m = c.model
    return vqvae.VQVAE(shape, tuple(m.widths), m.num_codes, m.code_dim, m.ema, m.upsample)


def make_task(c):
    model = make_model(c)
    hook = functools.cache(
        lambda: autoencoder.comparison_sample_fn(
            lambda variables, x: vqvae.reconstruct(model, *variables, x),
            common.load_test_split(c.data.name, c.data.get("data_dir"))[0],
            c.train.num_samples,
        )
    )
    return train.Task(
        init=functools.partial(vqvae.init, model),
        tx=optax.adam(c.train.learning_rate),
        step=train.loss_step(functools.partial(vqvae.objective, model, **c.loss)),
        sample=lambda state, key: hook()((state.ema_params, state.model_state), key),
    )


def evaluate(workdir, step=None, overrides=()):
    """Test-set numbers and pictures of run WORKDIR -> WORKDIR/eval/step_N/ (module doc)."""
    c, _, state = runs.restore_run(workdir, step, overrides)
    model = make_model(c)
    return latent.evaluate_reconstructions(
        lambda params, x: vqvae.reconstruct(model, params, state.model_state, x),
        state.ema_params,
        common.eval_dir(workdir, state.step),
        dataset=c.data.name,
        data_dir=c.data.get("data_dir"),
        indices_fn=lambda params, x: vqvae.encode_indices(model, params, state.model_state, x),
        num_codes=model.num_codes,
        step=int(state.step),
        **c.eval,
    )


if __name__ == "__main__":
    runs.script_main()
