"""Linear autoencoder (the lectures' undercomplete autoencoder): vec(x) -> W_e x + b_e
(bottleneck units) -> W_d z + b_d, no activation, trained on the reconstruction MSE. Its
optimum spans the principal subspace (Baldi & Hornik 1989): the evaluation measures how
closely, against PCA with as many components.

Presets (--config.preset=NAME selects get_config(NAME); other --config overrides win):
  quick  digits (64 pixels), bottleneck 8, 3,000 steps (the default)
  cpu    fashion_mnist (784 pixels), bottleneck 32, 60,000 steps
Both: batch 256, Adam with learning rate 0.03 decayed to 0 by a cosine.

Run (the same as `jaxgen train linear_ae`; the run directory defaults to runs/linear_ae):
  python experiments/linear_ae.py [--workdir DIR] [--config.preset=P] [--config.KEY=VALUE ...]
Evaluate (EMA weights, the newest checkpoint unless --step):
  python experiments/linear_ae.py eval DIR [--step N]
writes DIR/eval/step_N/: eval.json with the conv autoencoder's numbers (test-set
reconstruction MSE per pixel on the [-1, 1] scale) and evaluation.latent.pca_comparison:
the principal angles between the decoder's row space and the top principal components of
the training images (all, max and mean, radians), the relative eigengap after the last
component, and the test MSE of the autoencoder (unclipped) beside PCA's; reconstructions.png.
"""

from jaxgen import data, runs, train
from jaxgen.evaluation import common, latent
from jaxgen.tasks import autoencoder

SAMPLE_HOOK_SHOWS = "test images and their reconstructions"  # no prior to sample from
PRESETS = {
    "quick": {},
    "cpu": {
        "data.name": "fashion_mnist",
        "model.bottleneck": 32,
        "train.steps": 60_000,  # 4 min: the 32nd direction converges slowly (eigengap 0.5%)
        "train.checkpoint_every": 20_000,
        "train.sample_every": 20_000,
    },
}
make_model = autoencoder.make_model
make_task = autoencoder.make_task


def get_config(preset="quick"):
    c = autoencoder.base_config()
    c.model = {"linear": True, "bottleneck": 8}
    c.data.batch_size = 256
    c.train.learning_rate = 0.03
    c.train.cosine_decay = True  # the smallest principal directions need the noise gone
    return train.with_preset(c, preset, PRESETS)


def evaluate(workdir, step=None, overrides=()):
    """The autoencoder's test numbers and the comparison with PCA -> WORKDIR/eval/step_N/."""
    results = autoencoder.evaluate(workdir, step, overrides)
    c, _, state = runs.restore_run(workdir, step, overrides)
    model, params = make_model(c), state.ema_params
    train_images, _ = data.load_split(c.data.name, "train", c.data.get("data_dir"))
    test_images, _ = common.load_test_split(c.data.name, c.data.get("data_dir"))
    results |= latent.pca_comparison(
        params["from_code"]["kernel"],
        lambda x: model.apply({"params": params}, x),
        data.to_float(train_images),
        test_images,
    )
    return common.write_results(common.eval_dir(workdir, state.step), results)


if __name__ == "__main__":
    runs.script_main()
