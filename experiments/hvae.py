"""Hierarchical VAE with two stochastic layers (z1 conditioned on z2); NLL against `vae`.

p(z2) p(z1|z2) p(x|z1) with top-down inference q(z2|x) q(z1|x, z2), trained on its -ELBO.
The learned prior p(z1) = E_p(z2)[p(z1|z2)] replaces the single-layer VAE's N(0, I). With
the cpu/gpu presets z1 has the `vae` presets' latent size (32) and z2 adds 8 on top; the
conv stack, bottom-up head, decoder, likelihood (discretized logistic), optimiser and KL
warm-up are the VAE's (jaxgen.tasks.vae), and the two MLPs (q(z2|x) and p(z1|z2), width 64)
add 5% to its parameters: compare eval.json's iwae_nll_nats / iwae_nll_bpd of the two runs
(same seeds).

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits, z1 12 + z2 4, 3,000 steps (the default)
  cpu    fashion_mnist, z1 32 + z2 8, KL warm-up over 1,000 steps, 12,000 steps; IWAE on
         the first 1,000 test images, samples.npz of 10,000 samples
  gpu    fashion_mnist, as cpu with a wider conv stack, batch 128, KL warm-up over 5,000
         steps, 50,000 steps

Run (the same as `jaxgen train hvae`; the run directory defaults to runs/hvae):
  python experiments/hvae.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/hvae.py eval DIR [--step N] [--config.eval.KEY=VALUE ...]
writes DIR/eval/step_N/: eval.json (test-set -ELBO and IWAE NLL with k = eval.iwae_k, in
nats and bits/dim; reconstruction MSE), samples.png (ancestral), reconstructions.png.
"""

import functools

from jaxgen import data, runs, train
from jaxgen.evaluation import latent
from jaxgen.models import hvae
from jaxgen.tasks import presets, vae  # the task of a latent-variable model and its evaluation

PRESETS = presets.fashion_mnist(
    cpu={
        "model.z1_dim": 32,
        "model.z2_dim": 8,
        "loss.warmup_steps": 1000,
        "eval.iwae_num_examples": 1000,
        "eval.num_fid_samples": 10000,
    },
    gpu={
        "model.z1_dim": 32,
        "model.z2_dim": 8,
        "loss.warmup_steps": 5000,
        "eval.iwae_batch_size": 100,
        "eval.num_fid_samples": 10000,
    },
)


def get_config(preset="quick"):
    c = vae.base_config()
    c.model = {
        "z1_dim": 12,
        "z2_dim": 4,
        "hidden": 64,
        "widths": (32, 64),
        "likelihood": "discretized_logistic",
        "upsample": "transpose",
    }
    c.loss.warmup_steps = 500
    c.eval.pictures = ("samples", "reconstructions")
    return train.with_preset(c, preset, PRESETS)


def make_model(c):
    shape = data.dataset_spec(c.data.name).shape
    m = c.model
    return hvae.HierarchicalVAE(
        shape, m.z1_dim, m.z2_dim, m.hidden, tuple(m.widths), m.likelihood, m.upsample
    )


def make_task(c):
    return vae.latent_task(c, hvae, make_model(c))


evaluate = functools.partial(vae.evaluate_with, make_model, latent.hierarchical_vae)


if __name__ == "__main__":
    runs.script_main()
