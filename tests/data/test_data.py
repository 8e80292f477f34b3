import gzip
import struct

import jax
import numpy as np
import pytest

from jaxgen import data
from jaxgen.data import builders


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
        img_stem, lbl_stem = builders.FASHION_MNIST_FILES[split]
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
    test_idx = builders.digits_split_indices()["test"]
    expected = np.round(ref.images[test_idx] * 255 / 16).astype(np.uint8)[..., None]
    assert sorted_rows(images, labels) == sorted_rows(expected, ref.target[test_idx])
    train_images, _ = data.load_split("digits", "train", data_dir)
    assert len(train_images) == 1500


def test_fashion_mnist_builder_reads_idx_files(fake_fashion_mnist, tmp_path_factory):
    directory, arrays = fake_fashion_mnist
    builder = builders.FashionMnistIdx(
        idx_dir=directory, data_dir=str(tmp_path_factory.mktemp("f"))
    )
    builder.download_and_prepare()
    for split, (images, labels) in arrays.items():
        got = builders.tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
        assert sorted_rows(got["image"][..., 0], got["label"]) == sorted_rows(images, labels)


def test_fashion_mnist_env_dir_is_used(fake_fashion_mnist, monkeypatch):
    directory, _ = fake_fashion_mnist
    monkeypatch.setenv("JAXGEN_FASHION_MNIST_DIR", str(directory))
    assert builders.fashion_mnist_dir() == directory
    assert data.DATASETS["fashion_mnist"].offline()


def test_corrupt_and_missing_idx_files_name_the_path(fake_fashion_mnist):
    directory, _ = fake_fashion_mnist
    stem = builders.FASHION_MNIST_FILES["test"][0]
    raw = (directory / stem).read_bytes()
    (directory / stem).write_bytes(raw[:-100])
    with pytest.raises(builders.DataError, match=f"{stem}.*truncated"):
        builders.read_fashion_mnist(directory, "test")
    (directory / stem).unlink()
    with pytest.raises(builders.DataError, match=f"{stem}.*missing.*apt-get install"):
        builders.read_fashion_mnist(directory, "test")


@pytest.mark.skipif(
    builders.fashion_mnist_dir() is None,
    reason="real Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist(data_dir):
    images, labels = data.load_split("fashion_mnist", "test", data_dir)
    assert images.shape == (10000, 28, 28, 1)
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 1000))


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
    with builders.tfds.testing.mock_data(num_examples=40):
        data.load_split.cache_clear()
        it = data.load("cifar10", "train", 8, seed=0, data_dir=str(tmp_path))
        batch = next(it)
    data.load_split.cache_clear()
    assert batch["image"].shape == (8, 32, 32, 3)
    assert float(batch["image"].min()) >= -1.0 and float(batch["image"].max()) <= 1.0


def test_processes_preparing_one_dataset_at_once_both_succeed(tmp_path):
    """Two runs started together on a fresh machine used to race to rename TFDS's
    incomplete directory (FileExistsError in one of them); prepare_lock serializes them."""
    import subprocess
    import sys

    script = (
        "import sys, numpy as np; from jaxgen import data; "
        "x, y = data.load_split('digits', 'train', sys.argv[1]); print(int(x.sum()), int(y.sum()))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0].splitlines()[-1] for p in procs]  # the sums
    assert [p.returncode for p in procs] == [0, 0]
    assert len(set(outputs)) == 1 and (tmp_path / "digits.lock").exists()
