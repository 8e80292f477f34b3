"""evaluate_samples, its inputs and JSON output, mode coverage and the FID sanity protocol."""

import json

import numpy as np
import pytest
from PIL import Image

from jaxgen import data, files
from jaxgen.metrics import classifier, evaluate
from jaxgen.metrics.modes import mode_coverage
from tests.metrics.test_classifier import FASHION_MNIST


def test_mode_coverage_closed_forms():
    collapsed = mode_coverage(np.full(50, 3), 10)
    assert collapsed.classes_covered == 1
    assert collapsed.kl_to_uniform == pytest.approx(np.log(10))
    np.testing.assert_array_equal(collapsed.histogram, np.eye(10)[3])
    uniform = mode_coverage(np.repeat(np.arange(10), 7), 10)
    assert uniform.classes_covered == 10
    assert uniform.kl_to_uniform == pytest.approx(0.0, abs=1e-12)
    half = mode_coverage(np.array([0, 1]), 4)  # p = (1/2, 1/2, 0, 0): KL = log 4 - log 2
    assert half.classes_covered == 2 and half.kl_to_uniform == pytest.approx(np.log(2))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        mode_coverage(np.array([0, 10]), 10)


@pytest.fixture(scope="module")
def digits_test(data_dir):
    return data.load_split("digits", "test", data_dir)[0]


def test_evaluate_samples_on_npz_writes_expected_keys(digits_test, data_dir, tmp_path):
    """The test split scored against itself: each metric's value for identical sets."""
    path = tmp_path / "samples.npz"
    np.savez(path, samples=digits_test)
    kwargs = {"cache_dir": tmp_path / "cache", "data_dir": data_dir}
    results = evaluate.evaluate_samples(
        path, "digits", metrics=(*evaluate.DEFAULT_METRICS, "modes"), **kwargs
    )
    quantities = ["fid", "kid", "kid_std", "is", "is_std", "precision", "recall",
                  "classes_covered", "kl_to_uniform", "class_histogram"]  # fmt: skip
    keys = [f"{q}_digits_classifier" for q in quantities]
    assert sorted(results["labels"]) == sorted(keys) and "fid" not in results
    assert results["labels"]["fid_digits_classifier"] == "FID (digits classifier features)"
    assert results["feature_net"] == "digits_classifier/v1" and results["num_samples"] == 297
    assert results["fid_digits_classifier"] == pytest.approx(0.0, abs=1e-6)  # the floor
    # KID's unbiased MMD^2 of a set with itself (every subset is the whole set, permuted):
    # -2 (mean k(x, x) - mean k(x, y)) / (N - 1), which -> 0 as N grows.
    features = classifier.net_outputs(classifier.load_feature_net("digits").apply, digits_test)[0]
    f = np.asarray(features, np.float64)
    k = (f @ f.T / f.shape[1] + 1.0) ** 3
    kid = -2.0 * (np.mean(np.diag(k)) - np.mean(k)) / (len(f) - 1)
    assert results["kid_digits_classifier"] == pytest.approx(kid, rel=1e-6)
    assert results["kid_std_digits_classifier"] == pytest.approx(0.0, abs=1e-9 * np.mean(k))
    assert results["precision_digits_classifier"] == results["recall_digits_classifier"] == 1.0
    assert results["classes_covered_digits_classifier"] == 10
    assert len(list((tmp_path / "cache").glob("stats_*.npz"))) == 1  # reference stats cached

    out = tmp_path / "eval" / "results.json"
    files.write_json(out, results)
    assert json.loads(out.read_text()) == results
    assert [p.name for p in out.parent.iterdir()] == ["results.json"]  # no temp file left

    as_float = evaluate.evaluate_samples(
        data.to_float(digits_test), "digits", metrics=("fid",), **kwargs
    )
    assert as_float["fid_digits_classifier"] == pytest.approx(results["fid_digits_classifier"])


def test_accuracy_for_the_classes_the_samples_were_drawn_for(digits_test, data_dir, tmp_path):
    images, labels = digits_test[:60], data.load_split("digits", "test", data_dir)[1][:60]
    kw = {"metrics": ("fid",), "cache_dir": tmp_path, "data_dir": data_dir}
    net = classifier.load_feature_net("digits")
    for classes in (labels, (labels + 1) % 10):
        results = evaluate.evaluate_samples(images, "digits", classes=classes, **kw)
        expected = classifier.classifier_accuracy(net.apply, data.to_float(images), classes)
        assert results["accuracy_digits_classifier"] == pytest.approx(expected)
        assert "accuracy_digits_classifier" in results["labels"]
    assert results["accuracy_digits_classifier"] < 0.1  # the shifted labels are wrong
    with pytest.raises(ValueError, match=r"one class per sample: \(60,\)"):
        evaluate.evaluate_samples(images, "digits", classes=labels[:59], **kw)


def test_png_directory_reads_as_array(digits_test, tmp_path):
    for i, image in enumerate(digits_test[:5]):
        Image.fromarray(image[..., 0]).save(tmp_path / f"{i:03d}.png")
    np.testing.assert_array_equal(evaluate.load_samples(tmp_path, channels=1), digits_test[:5])


def test_bad_samples_get_clear_errors(digits_test, tmp_path):
    with pytest.raises(ValueError, match=r"unknown metrics \['fd'\]"):
        evaluate.evaluate_samples(digits_test, "digits", metrics=("fd",))
    with pytest.raises(ValueError, match="no split 'valid'"):
        evaluate.evaluate_samples(digits_test, "digits", reference_split="valid")
    with pytest.raises(ValueError, match=r"must be \[N, 8, 8, 1\]"):
        evaluate.check_samples(np.zeros((4, 28, 28, 1), np.uint8), (8, 8, 1))
    with pytest.raises(ValueError, match=r"in \[-1, 1\], got values in \[0, 255\]"):
        evaluate.check_samples(digits_test.astype(np.float32), (8, 8, 1))
    np.savez(tmp_path / "wrong.npz", images=digits_test)
    with pytest.raises(ValueError, match="expected an array named 'samples'"):
        evaluate.load_samples(tmp_path / "wrong.npz", channels=1)
    with pytest.raises(FileNotFoundError, match="no .png files"):
        evaluate.load_samples(tmp_path, channels=1)


@FASHION_MNIST
def test_fid_rises_monotonically_with_noise():
    """On 2,000 train vs 2,000 test images (the full protocol: experiments/fid_protocol.py)."""
    net = classifier.load_feature_net("fashion_mnist")
    train_images = data.load_split("fashion_mnist", "train")[0][:2000]
    test_images = data.load_split("fashion_mnist", "test")[0][:2000]
    results = evaluate.fid_sanity_protocol(
        net, train_images, test_images, noise_sigmas=(0.05, 0.1, 0.2, 0.4), blur_sigmas=()
    )
    fids = [results["floor"], *(row["fid"] for row in results["noise"])]
    assert np.all(np.diff(fids) > 0), fids
