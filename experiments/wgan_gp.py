"""WGAN-GP (Gulrajani et al. 2017): a Wasserstein critic with a gradient penalty, on `digits`.

A critic trained n_critic = 5 times per generator step on the Wasserstein loss
f(G(z)) - f(x) + lambda (||grad f(x_hat)|| - 1)^2, lambda = 10, with layer norm instead of
batch norm in the critic (the penalty is per example); Adam 1e-4, beta1 0, beta2 0.9 as in
the paper. d_real_logit - d_fake_logit in metrics.jsonl is the critic's estimate of the
Wasserstein distance. The dcgan networks and wiring (jaxgen.tasks.gan) otherwise.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win), with
fewer generator steps than dcgan's (each runs 5 critic updates and the penalty):
  quick   8x8 digits, 300 steps
  digits  8x8 digits, 1,200 steps (the default)
  cpu     dcgan's cpu preset (Fashion-MNIST 28x28), 1,800 steps
  gpu     dcgan's gpu preset (fashion_mnist, wider networks), 15,000 steps

Run (the same as `jaxgen train wgan_gp`; the run directory defaults to runs/wgan_gp):
  python experiments/wgan_gp.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate: `jaxgen eval DIR [--n 10000] [--step N]` writes DIR/eval.json: FID, KID, IS,
precision/recall and mode coverage of EMA samples with the dataset's classifier features.
"""

from jaxgen import runs, train
from jaxgen.tasks import gan

make_task = gan.make_task
# 5 critic updates + GP per generator step: 3/20 of dcgan's steps (digits, cpu), 1/2 (gpu).
PRESETS = gan.critic_presets(cpu_steps=1_800, gpu_steps=15_000)


def get_config(preset="digits"):
    c = gan.base_config()
    c.model.d_normalization = "layer"
    c.loss.update(
        {"discriminator": "wasserstein", "generator": "wasserstein", "k": 5, "gp_weight": 10.0}
    )
    c.optimizer.update({"g_learning_rate": 1e-4, "d_learning_rate": 1e-4, "b1": 0.0, "b2": 0.9})
    c.train.update({"steps": 1_200, "checkpoint_every": 600, "sample_every": 200})
    return train.with_preset(c, preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
