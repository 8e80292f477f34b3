"""WGAN (Arjovsky et al. 2017): a Wasserstein critic kept Lipschitz by weight clipping.

The critic is trained n_critic = 5 times per generator step on f(G(z)) - f(x), and after
every critic update each of its weights is clipped to [-c, c], c = 0.01
(--config.optimizer.weight_clip); RMSProp with learning rate 5e-5 for both networks, as in
the paper's Algorithm 1. d_real_logit - d_fake_logit in metrics.jsonl is the critic's
estimate of the Wasserstein distance (up to the Lipschitz constant the clipping allows),
the curve the paper plots against sample quality. Compare with `wgan_gp`, which replaces
the clipping by a gradient penalty. The dcgan networks and wiring (jaxgen.tasks.gan)
otherwise, batch norm in the critic as in the paper's DCGAN critic.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick   8x8 digits, 300 steps
  digits  8x8 digits, 1,200 steps (the default)
  cpu     dcgan's cpu preset (Fashion-MNIST 28x28), 3,000 steps
  gpu     dcgan's gpu preset (fashion_mnist, wider networks), 20,000 steps

Run (the same as `jaxgen train wgan`; the run directory defaults to runs/wgan):
  python experiments/wgan.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate: `jaxgen eval DIR [--n 10000] [--step N]` writes DIR/eval.json: FID, KID, IS,
precision/recall and mode coverage of EMA samples with the dataset's classifier features.
"""

from jaxgen import runs, train
from jaxgen.tasks import gan

make_task = gan.make_task
PRESETS = gan.critic_presets(cpu_steps=3_000, gpu_steps=20_000)


def get_config(preset="digits"):
    c = gan.base_config()
    c.loss.update({"discriminator": "wasserstein", "generator": "wasserstein", "k": 5})
    c.optimizer.update(
        {"name": "rmsprop", "g_learning_rate": 5e-5, "d_learning_rate": 5e-5, "weight_clip": 0.01}
    )
    c.train.update({"steps": 1_200, "checkpoint_every": 600, "sample_every": 200})
    return train.with_preset(c, preset, PRESETS)


if __name__ == "__main__":
    runs.script_main()
