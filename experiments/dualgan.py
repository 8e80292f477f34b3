"""DualGAN (Yi et al. 2017): unpaired translation between CycleGAN's domains (Fashion-MNIST
sneaker <-> ankle boot) by the dual-learning game: primal G: A -> B and dual F: B -> A,
each judged by a Wasserstein critic (losses "wasserstein", every critic weight clipped to
[-0.01, 0.01], n_critic = 2 critic updates per generator update, RMSProp 5e-5: the paper's
Algorithm 1 and settings) and tied by the reconstruction losses
lambda (||F(G(a)) - a||_1 + ||G(F(b)) - b||_1) with lambda = 100 (the paper: 100 to 1,000);
U-Net generators (without the paper's dropout), PatchGAN critics. The wiring, sample hook
and evaluation are CycleGAN's (experiments/cyclegan.py, jaxgen.train.cyclegan), so its
numbers sit beside CycleGAN's.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  cpu    28x28, widths (32, 64) for G, F and the critics, 16 images per domain and step,
         4,000 generator steps (the default)

Run (the same as `jaxgen train dualgan`; the run directory defaults to runs/dualgan):
  python experiments/dualgan.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/dualgan.py eval DIR [--step N]
as CycleGAN's: target-class accuracy, FID and cycle L1 of G and F on the test domains.
"""

from jaxgen_experiments import cyclegan

from jaxgen import runs, train

SAMPLE_HOOK_SHOWS = cyclegan.SAMPLE_HOOK_SHOWS
PRESETS = {"cpu": {}}
DUAL = {
    "model.generator": "unet",
    "loss.gan": "wasserstein",
    "loss.cycle_weight": 100.0,
    "loss.n_critic": 2,
    "optimizer.name": "rmsprop",
    "optimizer.g_learning_rate": 5e-5,
    "optimizer.d_learning_rate": 5e-5,
    "optimizer.weight_clip": 0.01,
}


def get_config(preset="cpu"):
    c = cyclegan.get_config("cpu")
    c.update_from_flattened_dict(DUAL)
    return train.with_preset(c, preset, PRESETS)


make_task = cyclegan.make_task
evaluate = cyclegan.evaluate

if __name__ == "__main__":
    runs.script_main()
