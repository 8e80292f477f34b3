"""Bad configs and inputs get one clear error, raised before training starts.

Each case of the `jaxgen` table runs `cli.main` in this process (the code path of the
command, without a new interpreter per case); two cases run the command as a subprocess.
Every case checks the exit status (2), that stderr holds one `jaxgen: error:` line naming
the problem and no traceback, and that nothing was written: the existing run directory it
points at is byte-for-byte unchanged and no new run directory appears.
"""

import json

import numpy as np
import pytest

from jaxgen import cli, data, metrics, runs, train
from jaxgen.metrics import evaluate
from jaxgen.metrics.classifier import load_feature_net
from tests.test_cli import jaxgen, tree_digest

CLI_CASES = {
    # unknown model / dataset / option names
    "unknown-experiment": (["train", "vea"], "unknown experiment 'vea'. Did you mean vae?"),
    "unknown-dataset": (["train", "vae", "--config.data.name=mnistt"], "Unknown dataset 'mnistt'"),
    "unknown-likelihood": (
        ["train", "vae", "--config.model.likelihood=bernouli"],
        "Unknown likelihood 'bernouli'",
    ),
    "unknown-schedule": (
        ["train", "ddpm", "--config.diffusion.schedule=cosin"],
        "Unknown noise schedule 'cosin'",
    ),
    "unknown-gan-loss": (
        ["train", "dcgan", "--config.loss.discriminator=minmax"],
        "unknown kind 'minmax'",
    ),
    "unknown-preset": (["train", "vae", "--config.preset=quik"], "Unknown preset 'quik'"),
    "unknown-gan-preset": (["train", "wgan_gp", "--config.preset=gpuu"], "Unknown preset 'gpuu'"),
    "bench-unknown-config-key": (
        ["bench", "--config.windowz=2"],
        "Unknown config key 'windowz'. Did you mean windows?",
    ),
    "bench-unknown-precision": (["bench", "--config.precision=fp8"], "precision must be one of"),
    "bench-unknown-family": (
        ["bench", "--quality", "--families", "vae,gann"],
        "unknown families ['gann']",
    ),
    "bench-unknown-quality-preset": (
        ["bench", "--quality", "--preset", "quik"],
        "unknown preset 'quik'; choose from quick,cpu,gpu",
    ),
    "bench-seeds-not-integers": (["bench", "--quality", "--seeds", "0,a"], "--seeds 0,a"),
    "bench-quality-option-without-quality": (
        ["bench", "--seeds", "3"],
        "--seeds: options of `jaxgen bench --quality`",
    ),
    # values that do not parse as the key's type
    "steps-not-an-integer": (
        ["train", "vae", "--config.train.steps=abc"],
        "--config.train.steps=abc: train.steps takes an integer, e.g. --config.train.steps=",
    ),
    "steps-a-fraction": (["train", "vae", "--config.train.steps=1.5"], "takes an integer"),
    "learning-rate-not-a-number": (
        ["train", "vae", "--config.train.learning_rate=fast"],
        "train.learning_rate takes a number, e.g. --config.train.learning_rate=",
    ),
    "flag-not-a-bool": (
        ["train", "ddpm", "--config.model.class_conditional=maybe"],
        "model.class_conditional takes true or false",
    ),
    "widths-not-a-tuple": (
        ["train", "dcgan", "--config.model.widths=64"],
        'model.widths takes a tuple, e.g. --config.model.widths="(',
    ),
    "widths-unclosed": (["train", "dcgan", "--config.model.widths=(8,"], "takes a tuple"),
    # negative or zero sizes
    "zero-batch": (["train", "vae", "--config.data.batch_size=0"], "batch_size must be positive"),
    "bench-repeated-seed": (["bench", "--quality", "--seeds", "0,0"], "seeds must be distinct"),
    "zero-steps": (["train", "vae", "--config.train.steps=0"], "--config.train.steps=0 is out"),
    "negative-steps": (["train", "ddpm", "--config.train.steps=-5"], "train.steps=-5 is out"),
    "zero-latent-dim": (["train", "vae", "--config.model.latent_dim=0"], "model.latent_dim=0"),
    "zero-width": (["train", "dcgan", "--config.model.widths=(0,128)"], "model.widths=(0, 128)"),
    "negative-learning-rate": (
        ["train", "vae", "--config.train.learning_rate=-0.001"],
        "train.learning_rate=-0.001 is out of range: it must be > 0",
    ),
    "ema-decay-above-1": (["train", "vae", "--config.train.ema_decay=1.5"], "in [0, 1)"),
    # training options out of range or not applicable
    "zero-grad-accum-steps": (
        ["train", "vae", "--config.train.grad_accum_steps=0"],
        "--config.train.grad_accum_steps=0 is out of range: it must be an integer >= 1",
    ),
    "steps-not-a-multiple-of-grad-accum-steps": (
        ["train", "vae", "--config.train.steps=100", "--config.train.grad_accum_steps=3"],
        "--config.train.steps=100 is not a multiple of --config.train.grad_accum_steps=3",
    ),
    "unknown-precision": (
        ["train", "vae", "--config.train.precision=fp16"],
        "--config.train.precision='fp16' is out of range: it must be one of 'fp32', 'bf16'",
    ),
    "gan-grad-accum-steps": (
        ["train", "dcgan", "--config.train.grad_accum_steps=2"],
        "--config.train.grad_accum_steps=2 is not supported by this experiment: it trains "
        "several optimizers (generator, discriminator)",
    ),
    "zero-sampler-steps": (["train", "ddpm", "--config.sample.num_steps=0"], "DDIM num_steps"),
    "zero-samples": (["sample", "{run}", "--n", "0"], "--n 0: the number of samples must be"),
    "negative-eval-samples": (["eval", "{run}", "--n", "-1"], "--n -1"),
    # a batch the 4 devices cannot share evenly
    "batch-not-divisible": (
        ["train", "vae", "--config.data.batch_size=6"],
        "batch_size=6 is not divisible by the 4 devices",
    ),
    # image shapes a model cannot take
    "vae-too-deep-for-8x8": (
        ["train", "vae", "--config.model.widths=(16,32,64,128)"],
        "Image size 8x8 must be divisible by 2^len(widths) = 16",
    ),
    "vae-too-deep-for-28x28": (
        ["train", "vae", "--config.data.name=fashion_mnist", "--config.model.widths=(8,16,32)"],
        "Image size 28x28 must be divisible by 2^len(widths) = 8",
    ),
    "dcgan-too-deep-for-8x8": (
        ["train", "dcgan", "--config.model.widths=(8,16,32,64)"],
        "Image size 8x8 is not divisible by 2^4 = 16",
    ),
    # missing files
    "missing-run-dir": (["sample", "{missing}"], "is not a jaxgen run directory"),
    "no-classifier-weights": (["eval", "{mnist_run}"], "no classifier feature network"),
    "run-from-an-older-jaxgen": (
        ["sample", "{old_run}"],
        "the config has no sample.arithmetic_classes, which dcgan reads now: the run is from an "
        "older jaxgen. Add sample.arithmetic_classes=[7, 1] (the defaults) to its config.json, "
        "or train it again.",
    ),
    # a run whose sample hook draws no samples to score
    "eval-of-a-translation-run": (
        ["eval", "{pix2pix_run}"],
        "pix2pix's sample hook shows (edges, output, target) triplets of test pairs, not "
        "samples of a model, so jaxgen eval has nothing to score; score it with "
        "`python experiments/pix2pix.py eval",
    ),
}


@pytest.fixture
def run_dir(tmp_path):
    """An existing (fake) vae run directory: run.json, config.json and a checkpoint."""
    workdir = tmp_path / "run"
    (workdir / "checkpoints" / "3").mkdir(parents=True)
    (workdir / "checkpoints" / "3" / "state").write_bytes(b"weights")
    (workdir / "run.json").write_text(json.dumps({"experiment": "vae"}))
    config = runs.load_experiment("vae").get_config().to_dict()
    (workdir / "config.json").write_text(json.dumps(config))
    mnist_run = tmp_path / "mnist_run"  # a dataset without a classifier feature network
    mnist_run.mkdir()
    (mnist_run / "run.json").write_text(json.dumps({"experiment": "vae"}))
    mnist_config = {**config, "data": {**config["data"], "name": "mnist"}}
    (mnist_run / "config.json").write_text(json.dumps(mnist_config))
    pix2pix_run = tmp_path / "pix2pix_run"
    pix2pix_run.mkdir()
    (pix2pix_run / "run.json").write_text(json.dumps({"experiment": "pix2pix"}))
    pix2pix_config = runs.load_experiment("pix2pix").get_config().to_dict()
    (pix2pix_run / "config.json").write_text(json.dumps(pix2pix_config))
    # config.json from before dcgan read a key, of a preset since removed (a key missing
    # from a run of a current preset reads as its default)
    old_run = tmp_path / "old_run"
    old_run.mkdir()
    (old_run / "run.json").write_text(json.dumps({"experiment": "dcgan"}))
    old_config = runs.load_experiment("dcgan").get_config().to_dict()
    del old_config["sample"]["arithmetic_classes"]
    old_config["preset"] = "retired"
    (old_run / "config.json").write_text(json.dumps(old_config))
    return {
        "run": workdir,
        "missing": tmp_path / "nope",
        "mnist_run": mnist_run,
        "pix2pix_run": pix2pix_run,
        "old_run": old_run,
    }


def fill(args, paths):
    """Case arguments with the paths of `run_dir` ({run}, {missing}, ...) filled in; a train
    case gets the existing run directory as --workdir (the error must come before it is
    touched)."""
    args = [a.format(**paths) for a in args]
    return [*args, "--workdir", str(paths["run"])] if args[0] == "train" else args


def assert_one_line_error(returncode, stderr, message):
    assert returncode == 2, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.startswith("jaxgen: error:")]
    assert len(lines) == 1 and message in lines[0], stderr[-2000:]
    assert "Traceback" not in stderr


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_rejects_before_training(case, run_dir, tmp_path, monkeypatch, capsys):
    args, message = CLI_CASES[case]
    monkeypatch.chdir(tmp_path)
    before = {name: tree_digest(path) for name, path in run_dir.items() if path.exists()}
    with pytest.raises(SystemExit) as exit_info:
        cli.main(fill(args, run_dir))
    assert_one_line_error(exit_info.value.code, capsys.readouterr().err, message)
    assert {name: tree_digest(path) for name, path in run_dir.items() if path.exists()} == before
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("case", ["zero-latent-dim", "unknown-dataset"])
def test_command_rejects_before_training(case, run_dir, tmp_path):
    """The same as a user runs it: a new process (1 device), one line, exit status 2."""
    args, message = CLI_CASES[case]
    before = tree_digest(run_dir["run"])
    result = jaxgen(*fill(args, run_dir), cwd=tmp_path)
    assert_one_line_error(result.returncode, result.stderr, message)
    assert tree_digest(run_dir["run"]) == before


IMAGES, LABELS = np.zeros((12, 8, 8, 1), np.uint8), np.zeros(12, np.int32)


def train_config(experiment, **train):
    config = runs.load_experiment(experiment).get_config()
    config.train.update(train)
    return config


PYTHON_CASES = {
    "run-experiment-zero-steps": (  # no task needed: the config is checked first
        lambda tmp: train.run_experiment(train_config("vae", steps=0), None, tmp / "run"),
        train.ConfigError,
        "--config.train.steps=0 is out of range: it must be an integer >= 1",
    ),
    "run-experiment-negative-log-every": (
        lambda tmp: train.run_experiment(train_config("vae", log_every=-1), None, tmp / "run"),
        train.ConfigError,
        "--config.train.log_every=-1 is out of range: it must be >= 0",
    ),
    "run-experiment-negative-grad-clip": (
        lambda tmp: train.run_experiment(train_config("glow", grad_clip=-1.0), None, tmp / "run"),
        train.ConfigError,
        "--config.train.grad_clip=-1.0 is out of range: it must be >= 0",
    ),
    "iterator-batch-not-divisible": (
        lambda tmp: data.BatchIterator(IMAGES, LABELS, 6, seed=0, mesh=data.data_mesh()),
        ValueError,
        "batch_size=6 is not divisible by the 4 devices",
    ),
    "iterator-batch-exceeds-split": (
        lambda tmp: data.BatchIterator(IMAGES, LABELS, 16, seed=0, mesh=data.data_mesh()),
        ValueError,
        "batch_size=16 exceeds the 12 examples",
    ),
    "samples-of-the-wrong-shape": (
        lambda tmp: evaluate.evaluate_samples(np.zeros((4, 28, 28, 1), np.uint8), "digits"),
        ValueError,
        "samples must be [N, 8, 8, 1] images, got shape (4, 28, 28, 1)",
    ),
    "missing-inception-weights": (
        lambda tmp: metrics.load_inception_variables(tmp / "pt_inception.npz"),
        FileNotFoundError,
        "InceptionV3 weights file not found",
    ),
    "missing-classifier-weights": (
        lambda tmp: load_feature_net("cifar10"),
        FileNotFoundError,
        "for dataset 'cifar10'",
    ),
}


@pytest.mark.parametrize("case", PYTHON_CASES)
def test_python_entry_points_reject(case, tmp_path):
    fn, error, message = PYTHON_CASES[case]
    with pytest.raises(error) as info:
        fn(tmp_path)
    assert message in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_optional_layer_counts_may_be_zero():
    """Counts of optional layers accept 0 (deep image prior: no skip at a level); sizes do not."""
    c = runs.load_experiment("dip").get_config()
    c.model.widths_skip = (0, 4, 0, 4, 0)
    train.check_config(c)
    c.model.widths_down = (0, 128, 128, 128, 128)
    with pytest.raises(train.ConfigError, match="model.widths_down"):
        train.check_config(c)
