"""jaxgen where TensorFlow is not installed, as on many accelerator images (JAX, flax, optax
and orbax, no TensorFlow): subprocesses whose `import tensorflow` and `import
tensorflow_datasets` fail as for a missing package train and sample a digits run, read the
offline datasets, and get one clear error for a dataset that needs TensorFlow Datasets."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxgen import data
from tests.compile_flags import COMPILE_FLAGS

BLOCKED = ("tensorflow", "tensorflow_datasets")
# Imported at start-up by every Python on PYTHONPATH: the finder of installed packages no
# longer finds TensorFlow or TFDS, so `import` raises ModuleNotFoundError and
# importlib.util.find_spec returns None, as for packages that are not installed.
SITECUSTOMIZE = f"""
import importlib.machinery
import sys


class PathFinderWithout(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            return None
        return super().find_spec(name, path, target)


sys.meta_path[:] = [
    PathFinderWithout if f is importlib.machinery.PathFinder else f for f in sys.meta_path
]
"""


@pytest.fixture(scope="module")
def no_tensorflow(tmp_path_factory):
    """Environment of a Python in which TensorFlow and TFDS cannot be imported."""
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
    }
    env["XLA_FLAGS"] = COMPILE_FLAGS  # one device
    return env


def python(env, *args):
    return subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, env=env, timeout=600
    )


def digest(images, labels):
    return hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()


def test_the_blocker_blocks(no_tensorflow):
    for module in BLOCKED:
        found = python(
            no_tensorflow, "-c", f"import importlib.util as u; print(u.find_spec({module!r}))"
        )
        assert found.stdout == "None\n", found.stderr[-2000:]
        result = python(no_tensorflow, "-c", f"import {module}")
        assert result.returncode == 1 and "ModuleNotFoundError" in result.stderr


def test_train_and_sample_a_digits_run(no_tensorflow, tmp_path):
    workdir = tmp_path / "run"
    train = ["train", "vae", "--workdir", workdir, "--config.train.steps=2"]
    result = python(no_tensorflow, "-m", "jaxgen", *train)
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))  # tensorboardX
    out = tmp_path / "samples.npz"
    sample = ["sample", workdir, "--n", 8, "--seed", 0, "--out", out]
    result = python(no_tensorflow, "-m", "jaxgen", *sample)
    assert result.returncode == 0, result.stderr[-3000:]
    samples = np.load(out)["samples"]
    assert samples.shape == (8, 8, 8, 1) and np.isfinite(samples).all()


def test_offline_datasets_load_the_same_arrays(no_tensorflow):
    """Each offline split as the process without TensorFlow reads it (shape, dtype and a
    digest of its bytes) is the split as this process reads it; tests/data checks that
    equals what TFDS serves."""
    names = ["digits"] + (["fashion_mnist"] if data.dataset_spec("fashion_mnist").offline() else [])
    script = (
        "import hashlib, sys; from jaxgen import data\n"
        "for name in sys.argv[1:]:\n"
        "    for split in ('train', 'test'):\n"
        "        x, y = data.load_split(name, split)\n"
        "        h = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()\n"
        "        print(name, split, x.shape, x.dtype, y.dtype, h)\n"
    )
    result = python(no_tensorflow, "-c", script, *names)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = []
    for name in names:
        for split in ("train", "test"):
            x, y = data.load_split(name, split)
            expected.append(f"{name} {split} {x.shape} uint8 int32 {digest(x, y)}")
    assert result.stdout.splitlines() == expected


def test_a_tfds_dataset_names_the_fix(no_tensorflow):
    script = "from jaxgen import data; data.load_split('mnist', 'train')"
    result = python(no_tensorflow, "-c", script)
    assert result.returncode == 1
    (line,) = [
        x for x in result.stderr.splitlines() if x.startswith("jaxgen.data.offline.DataError")
    ]
    assert "'mnist'" in line and "pip install tensorflow-cpu tensorflow-datasets" in line
    assert "digits" in line  # the datasets that do work here


def test_training_path_imports_no_tensorflow():
    """With TensorFlow installed, importing the training and sampling path (data, train,
    runs, cli, every experiment) loads none of it."""
    script = (
        "import sys, jaxgen.data, jaxgen.train, jaxgen.runs, jaxgen.cli\n"
        "for name in jaxgen.runs.experiment_names(): jaxgen.runs.load_experiment(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {BLOCKED!r})\n"
        "print(bad); sys.exit(bool(bad))\n"
    )
    result = python(os.environ, "-c", script)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
