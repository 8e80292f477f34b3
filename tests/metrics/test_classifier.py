"""The versioned classifier feature networks: committed accuracy, weights format, sha256."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import data
from jaxgen.metrics import classifier
from jaxgen.models.classifier import ConvClassifier

FASHION_MNIST = pytest.mark.skipif(
    not data.dataset_spec("fashion_mnist").offline(),
    reason="Fashion-MNIST is not installed (Debian package dataset-fashion-mnist, or the IDX "
    "files under /usr/share/datasets/fashion-mnist)",
)
# Accuracy each committed network is stated to reach on its whole test split.
STATED_ACCURACY = [
    pytest.param("fashion_mnist", 0.93, marks=FASHION_MNIST),
    pytest.param("digits", 0.99),
]


@pytest.mark.parametrize(("dataset", "accuracy"), STATED_ACCURACY)
def test_committed_classifier_reaches_stated_test_accuracy(dataset, accuracy, data_dir):
    net = classifier.load_feature_net(dataset)
    images, labels = data.load_split(dataset, "test", data_dir)
    measured = classifier.classifier_accuracy(net.apply, images, labels)
    assert measured >= accuracy
    assert measured == pytest.approx(net.info["test_accuracy"], abs=1e-3)  # as the sidecar says
    assert net.info["test_images"] == len(images)


@pytest.mark.parametrize("dataset", ["fashion_mnist", "digits"])
def test_weights_files_are_small_and_documented(dataset):
    path = classifier.weights_path(dataset)
    assert path.stat().st_size < 4 * 2**20  # float32 weights of a ~0.55M-parameter network
    info = json.loads(path.with_suffix(".json").read_text())
    assert info["version"] == classifier.version(dataset) and info["dataset"] == dataset
    assert info["command"].startswith("python experiments/train_classifier.py")
    assert {"seed", "steps", "test_accuracy", "sha256", "model"} <= info.keys()
    with np.load(path) as npz:
        assert all(npz[k].dtype == np.float32 for k in npz.files)


def test_modified_weights_are_rejected(tmp_path):
    source = classifier.weights_path("digits")
    for suffix in (".npz", ".json"):
        shutil.copy(source.with_suffix(suffix), tmp_path)
    copy = tmp_path / source.name
    classifier.load_feature_net("digits", tmp_path)  # the intact copy loads
    content = bytearray(copy.read_bytes())
    content[len(content) // 2] ^= 1
    copy.write_bytes(bytes(content))
    with pytest.raises(ValueError, match="modified or corrupted.*git checkout"):
        classifier.load_feature_net("digits", tmp_path)


def test_missing_network_names_the_training_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--config.data.name=mnist"):
        classifier.load_feature_net("mnist")
    with pytest.raises(FileNotFoundError, match="Available: none"):
        classifier.load_feature_net("digits", tmp_path)


def test_save_load_round_trip_and_shape_check(tmp_path):
    model = ConvClassifier(
        widths=(4, 8), feature_dim=6, num_groups=2, convs_per_block=2, dropout_rate=0.5
    )
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, size=(4, 8, 8, 1)).astype(np.float32)
    shapes = jax.eval_shape(model.init, jax.random.key(0), images)["params"]
    # Random values of the right shapes: a real init costs seconds of compiling on CPU.
    params = jax.tree.map(lambda x: rng.normal(size=x.shape).astype(np.float32), shapes)
    info = {"seed": 0, "steps": 0, "test_accuracy": 0.0, "command": "test"}
    classifier.save_feature_net("digits", model, params, info, tmp_path)
    net = classifier.load_feature_net("digits", tmp_path)
    assert net.id == "digits_classifier/v1" and net.info["num_params"] > 0
    assert net.info["model"]["convs_per_block"] == 2
    features, logits = net.apply(images)
    want_features, want_logits = jax.jit(model.apply)({"params": params}, images)
    assert features.shape == (4, 6) and logits.shape == (4, 10)
    np.testing.assert_allclose(features, want_features, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, want_logits, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"expects images \[B, 8, 8, 1\]"):
        net.apply(jnp.zeros((4, 28, 28, 1)))
