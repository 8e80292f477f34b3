import gzip
import struct

import jax
import numpy as np
import pytest

from jaxgen import data
from jaxgen.data import offline


def write_idx(path, array, compress):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = header + array.astype(np.uint8).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(payload)


@pytest.fixture
def fake_fashion_mnist(tmp_path):
    """A tiny Fashion-MNIST in the real IDX format: 12 train and 8 test images."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n, compress in (("train", 12, True), ("test", 8, False)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        img_stem, lbl_stem = offline.FASHION_MNIST_FILES[split]
        suffix = ".gz" if compress else ""
        write_idx(tmp_path / (img_stem + suffix), images, compress)
        write_idx(tmp_path / (lbl_stem + suffix), labels, compress)
        arrays[split] = images, labels
    return tmp_path, arrays


def sorted_rows(images, labels):
    """(image bytes, label) pairs in a canonical order: TFDS keeps its own example order."""
    return sorted(zip(map(bytes, images.reshape(len(images), -1)), labels.tolist(), strict=True))


def test_digits_split_is_fixed_and_scaled(data_dir):
    from sklearn.datasets import load_digits

    images, labels = data.load_split("digits", "test", data_dir)
    assert images.shape == (297, 8, 8, 1) and images.dtype == np.uint8
    ref = load_digits()
    test_idx = offline.digits_split_indices()["test"]
    expected = np.round(ref.images[test_idx] * 255 / 16).astype(np.uint8)[..., None]
    assert sorted_rows(images, labels) == sorted_rows(expected, ref.target[test_idx])
    train_images, _ = data.load_split("digits", "train", data_dir)
    assert len(train_images) == 1500


def test_fashion_mnist_is_read_from_idx_files(fake_fashion_mnist, monkeypatch):
    directory, arrays = fake_fashion_mnist
    monkeypatch.setenv("JAXGEN_FASHION_MNIST_DIR", str(directory))
    for split, (images, labels) in arrays.items():
        got_images, got_labels = offline.read_split("fashion_mnist", split)
        assert got_images.shape == (*images.shape, 1) and got_images.dtype == np.uint8
        assert sorted_rows(got_images[..., 0], got_labels) == sorted_rows(images, labels)


def test_offline_readers_match_tfds_row_for_row(fake_fashion_mnist, monkeypatch, tmp_path):
    """The numpy readers give the arrays the TFDS builders jaxgen used before gave, in the
    same row order (TFDS orders rows by a hash of their keys), so runs read the same batches
    with or without TensorFlow."""
    pytest.importorskip("tensorflow_datasets")
    from tests.data import tfds_reference

    directory, _ = fake_fashion_mnist
    monkeypatch.setenv("JAXGEN_FASHION_MNIST_DIR", str(directory))
    references = {
        "digits": tfds_reference.Digits(data_dir=str(tmp_path / "d")),
        "fashion_mnist": tfds_reference.FashionMnistIdx(
            idx_dir=directory, data_dir=str(tmp_path / "f")
        ),
    }
    for name, builder in references.items():
        for split in ("train", "test"):
            want_images, want_labels = tfds_reference.read(builder, split)
            images, labels = offline.read_split(name, split)
            np.testing.assert_array_equal(images, want_images)
            np.testing.assert_array_equal(labels, want_labels)


def test_fashion_mnist_env_dir_is_used(fake_fashion_mnist, monkeypatch):
    directory, _ = fake_fashion_mnist
    monkeypatch.setenv("JAXGEN_FASHION_MNIST_DIR", str(directory))
    assert offline.fashion_mnist_dir() == directory
    assert data.DATASETS["fashion_mnist"].offline()


def test_corrupt_and_missing_idx_files_name_the_path(fake_fashion_mnist):
    directory, _ = fake_fashion_mnist
    stem = offline.FASHION_MNIST_FILES["test"][0]
    raw = (directory / stem).read_bytes()
    (directory / stem).write_bytes(raw[:-100])
    with pytest.raises(offline.DataError, match=f"{stem}.*truncated"):
        offline.read_fashion_mnist(directory, "test")
    (directory / stem).unlink()
    with pytest.raises(offline.DataError, match=f"{stem}.*missing.*apt-get install"):
        offline.read_fashion_mnist(directory, "test")


REAL_FASHION_MNIST = pytest.mark.skipif(
    offline.fashion_mnist_dir() is None,
    reason="real Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)


@REAL_FASHION_MNIST
def test_real_fashion_mnist(data_dir):
    for split, n in (("train", 60000), ("test", 10000)):
        images, labels = data.load_split("fashion_mnist", split, data_dir)
        assert images.shape == (n, 28, 28, 1) and images.dtype == np.uint8
        assert labels.shape == (n,) and labels.dtype == np.int32
        np.testing.assert_array_equal(np.bincount(labels), np.full(10, n // 10))


@REAL_FASHION_MNIST
def test_real_fashion_mnist_test_split_matches_tfds_row_for_row(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    from tests.data import tfds_reference

    builder = tfds_reference.FashionMnistIdx(
        idx_dir=offline.fashion_mnist_dir(), splits=("test",), data_dir=str(tmp_path)
    )
    want_images, want_labels = tfds_reference.read(builder, "test")
    images, labels = offline.read_split("fashion_mnist", "test")
    np.testing.assert_array_equal(images, want_images)
    np.testing.assert_array_equal(labels, want_labels)


def batches(it, n):
    return [jax.device_get(next(it)) for _ in range(n)]


def test_iterator_layout_and_range(data_dir):
    it = data.load("digits", "train", 16, seed=0, data_dir=data_dir)
    batch = next(it)
    assert batch["image"].shape == (16, 8, 8, 1) and batch["image"].dtype == np.float32
    assert batch["label"].shape == (16,)
    assert batch["image"].sharding.spec == jax.sharding.PartitionSpec("data")
    assert len(batch["image"].sharding.device_set) == jax.device_count() == 4
    assert float(batch["image"].min()) >= -1.0 and float(batch["image"].max()) <= 1.0


def test_iterator_is_deterministic_and_seeded(data_dir):
    a = batches(data.load("digits", "train", 16, seed=3, data_dir=data_dir), 4)
    b = batches(data.load("digits", "train", 16, seed=3, data_dir=data_dir), 4)
    c = batches(data.load("digits", "train", 16, seed=4, data_dir=data_dir), 4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x["image"], y["image"])
    assert not np.array_equal(a[0]["image"], c[0]["image"])


def test_epoch_is_a_permutation_and_epochs_differ(data_dir):
    it = data.load("digits", "train", 500, seed=0, data_dir=data_dir)
    epoch0 = np.concatenate([it.indices(p) for p in range(3)])
    assert sorted(epoch0) == list(range(1500))
    assert not np.array_equal(it.indices(0), it.indices(3))


def test_iterator_save_restore(data_dir):
    it = data.load("digits", "train", 64, seed=1, data_dir=data_dir)
    batches(it, 30)  # crosses an epoch boundary (23 batches per epoch)
    state = it.get_state()
    expected = batches(it, 3)
    fresh = data.load("digits", "train", 64, seed=1, data_dir=data_dir)
    fresh.set_state(state)
    for x, y in zip(expected, batches(fresh, 3), strict=True):
        np.testing.assert_array_equal(x["image"], y["image"])


def test_one_and_four_devices_see_the_same_global_batch(data_dir):
    one = data.load("digits", "train", 16, seed=0, mesh=data.data_mesh(1), data_dir=data_dir)
    four = data.load("digits", "train", 16, seed=0, mesh=data.data_mesh(4), data_dir=data_dir)
    np.testing.assert_array_equal(np.asarray(next(one)["image"]), np.asarray(next(four)["image"]))


def test_bad_inputs_get_clear_errors(data_dir):
    with pytest.raises(ValueError, match="Unknown dataset 'digitz'. Available: .*digits"):
        data.load("digitz", "train", 16, 0, data_dir=data_dir)
    with pytest.raises(ValueError, match="not divisible by the 4 devices"):
        data.load("digits", "train", 18, 0, data_dir=data_dir)
    with pytest.raises(ValueError, match="no split 'validation'"):
        data.load("digits", "validation", 16, 0, data_dir=data_dir)
    with pytest.raises(ValueError, match="must be positive"):
        data.load("digits", "train", 0, 0, data_dir=data_dir)


def test_mock_data_pipeline_for_download_only_datasets(tmp_path):
    """mnist/cifar10 go through standard TFDS; their pipeline is tested on mock data."""
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=40):
        data.load_split.cache_clear()
        it = data.load("cifar10", "train", 8, seed=0, data_dir=str(tmp_path))
        batch = next(it)
    data.load_split.cache_clear()
    assert batch["image"].shape == (8, 32, 32, 3)
    assert float(batch["image"].min()) >= -1.0 and float(batch["image"].max()) <= 1.0


def test_processes_preparing_one_dataset_at_once_both_succeed(tmp_path):
    """Two runs started together on a fresh machine used to race to rename TFDS's
    incomplete directory (FileExistsError in one of them); prepare_lock serializes them.
    The dataset is the reference TFDS digits builder (registered as 'digits' on import)."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("tensorflow_datasets")
    script = (
        "import sys; from tests.data import tfds_reference; from jaxgen import data; "
        "builder = data.prepared_builder('digits', sys.argv[1]); "
        "x, y = tfds_reference.read(builder, 'train'); print(int(x.sum()), int(y.sum()))"
    )
    root = Path(__file__).parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0].splitlines()[-1] for p in procs]  # the sums
    assert [p.returncode for p in procs] == [0, 0]
    assert len(set(outputs)) == 1 and (tmp_path / "digits.lock").exists()
