"""The conditional and image-to-image GAN evaluations: label accuracy against images of a
known class, L1, FID and cycle scores of known translations, and `experiments/{cgan,
pix2pix,cyclegan}.py eval` on tiny trained runs."""

import json

import jax
import numpy as np
import pytest

from jaxgen import runs, train
from jaxgen.evaluation import common
from jaxgen.evaluation import gan as gan_eval
from jaxgen.metrics import load_feature_net
from jaxgen.runs import load_experiment
from tests.gan.test_experiments import CONFIGS, tiny_config

KEY = jax.random.PRNGKey(0)


@pytest.fixture(scope="module")
def test_split(data_dir):
    return common.load_test_split("digits", data_dir)


def test_label_accuracy_counts_samples_of_the_asked_class(test_split, data_dir):
    images, labels = test_split
    predicted = np.argmax(load_feature_net("digits").apply(images)[1], axis=1)
    well_classified = images[predicted == labels]
    by_class = [well_classified[labels[predicted == labels] == c] for c in range(10)]

    def draw(shift):  # the first well-classified test image of class y + shift
        return lambda y, key: np.stack([by_class[(int(c) + shift) % 10][0] for c in y])

    kw = {"dataset": "digits", "batch_size": 7, "data_dir": data_dir}  # 40 = 5 * 7 + 5
    samples, honest = gan_eval.conditional_scores(draw(0), 10, 40, KEY, **kw)
    _, shifted = gan_eval.conditional_scores(draw(1), 10, 40, KEY, **kw)
    assert samples.shape == (40, 8, 8, 1)
    assert honest["accuracy_digits_classifier"] == 1.0
    assert shifted["accuracy_digits_classifier"] == 0.0
    assert honest["classes_covered_digits_classifier"] == 10
    assert "accuracy_digits_classifier" in honest["labels"]


def test_translation_scores_of_known_translations(test_split, data_dir):
    images, _ = test_split
    kw = {"dataset": "digits", "batch_size": 100, "data_dir": data_dir}  # 297: a padded batch
    outputs, identity = gan_eval.translation_scores(lambda x, k: x, images, images, KEY, **kw)
    np.testing.assert_array_equal(outputs, images)
    assert identity["l1"] == 0.0
    assert identity["fid_digits_classifier"] == pytest.approx(0.0, abs=1e-2)
    _, negated = gan_eval.translation_scores(lambda x, k: -x, images, images, KEY, **kw)
    # |(-y) - y| / 2 = |y|: L1 on the [0, 1] scale.
    assert negated["l1"] == pytest.approx(float(np.mean(np.abs(images))), rel=1e-6)
    assert negated["fid_digits_classifier"] > 1.0


def test_cycle_scores_of_known_translations(test_split, data_dir):
    images, labels = test_split
    predicted = np.argmax(load_feature_net("digits").apply(images)[1], axis=1)
    ok = predicted == labels
    x_a, x_b = images[ok & (labels == 7)], images[ok & (labels == 9)]
    n = min(len(x_a), len(x_b))
    assert len(x_a) != len(x_b)  # the scores use the first n of each

    def oracle(pairs, key):  # G(a) = b and F(b) = a: right class, right distribution, cycles
        a, b = pairs[:, 0], pairs[:, 1]
        return np.stack([a, b, a, b, a, b], axis=1)

    def identity(pairs, key):  # G = F = id
        a, b = pairs[:, 0], pairs[:, 1]
        return np.stack([a, a, a, b, b, b], axis=1)

    kw = {"dataset": "digits", "batch_size": 8}
    rows, right = gan_eval.cycle_scores(oracle, x_a, x_b, (7, 9), KEY, **kw)
    _, still = gan_eval.cycle_scores(identity, x_a, x_b, (7, 9), KEY, **kw)
    assert rows.shape == (n, 6, 8, 8, 1) and right["num_examples"] == n
    np.testing.assert_array_equal(rows[:, 1], x_b[:n])
    for d in ("a_to_b", "b_to_a"):
        assert right[f"accuracy_{d}"] == 1.0 and still[f"accuracy_{d}"] == 0.0
        assert right[f"fid_{d}"] == pytest.approx(0.0, abs=1e-2)
        assert still[f"fid_{d}"] == pytest.approx(still[f"fid_input_{d}"], rel=1e-9)
        assert right[f"fid_input_{d}"] > 1.0
    for s in "ab":
        assert right[f"cycle_l1_{s}"] == 0.0 and still[f"cycle_l1_{s}"] == 0.0
    assert set(right["labels"]) == {
        k for k in right if k.split("_")[0] in ("accuracy", "fid", "cycle")
    }


@pytest.mark.parametrize(
    "name,overrides,picture",
    [
        ("cgan", ["--config.eval.num_samples=50", "--config.eval.batch_size=20"], "samples"),
        ("pix2pix", ["--config.eval.num_examples=60", "--config.eval.batch_size=25"], "triplets"),
        ("cyclegan", ["--config.eval.batch_size=7"], "translations"),
    ],
)
def test_experiment_eval_of_a_trained_run(name, overrides, picture, test_split, data_dir, tmp_path):
    experiment = load_experiment(name)
    c = tiny_config(name, data_dir, **CONFIGS[name][0])
    c.data.domains = (0, 1)  # read by cyclegan only
    c.train.update({"steps": 2, "log_every": 1, "checkpoint_every": 2, "sample_every": 0})
    train.run_experiment(c, experiment.make_task(c), tmp_path, experiment=name)
    results = experiment.evaluate(tmp_path, overrides=overrides)
    out = tmp_path / "eval" / "step_000002"
    assert json.loads((out / "eval.json").read_text()) == results
    assert (out / f"{picture}.png").is_file()
    assert results["step"] == 2 and results["dataset"] == "digits"
    if name == "cgan":
        assert results["num_samples"] == 50
        assert 0.0 <= results["accuracy_digits_classifier"] <= 1.0
    elif name == "pix2pix":
        assert results["num_samples"] == 60 and 0.0 < results["l1"] <= 1.0
    else:  # pairs of a 0 and a 1 of the test split
        n = min(np.sum(test_split[1] == 0), np.sum(test_split[1] == 1))
        assert results["num_examples"] == n and 0.0 < results["cycle_l1_a"] <= 1.0
    assert all(np.isfinite(v) for k, v in results.items() if k.startswith(("fid", "accuracy")))


def test_jaxgen_eval_scores_plain_samples_of_a_gan_with_a_demo_grid(data_dir, tmp_path):
    """msggan's sample hook shows a grid of scales; `jaxgen eval` scores n plain samples."""
    c = tiny_config("msggan", data_dir, **CONFIGS["msggan"][0])
    c.train.update({"steps": 1, "checkpoint_every": 1, "sample_every": 0})
    train.run_experiment(c, load_experiment("msggan").make_task(c), tmp_path, experiment="msggan")
    results = runs.evaluate_run(tmp_path, ["fid", "modes"], 30, seed=0)
    assert results["num_samples"] == 30  # the multiscale grid of 30 would hold 16 cells
    assert json.loads((tmp_path / "config.json").read_text())["sample"]["grid"] == "multiscale"
