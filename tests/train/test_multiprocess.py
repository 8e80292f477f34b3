"""Two processes with two CPU devices each (gloo collectives) train like one process with
four devices: same global batches, same parameters."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np

from jaxgen import train
from tests.train import toy

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one_process(data_dir, tmp_path):
    port, n = free_port(), 2
    procs = []
    for pid in range(n):
        env = {
            **os.environ,
            "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
            "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
            "JAX_NUM_PROCESSES": str(n),
            "JAX_PROCESS_ID": str(pid),
            "PYTHONPATH": str(ROOT),
        }
        cmd = [
            sys.executable,
            "-m",
            "tests.train.multiprocess_worker",
            str(tmp_path / "run"),
            data_dir,
            str(tmp_path / f"p{pid}.npz"),
        ]
        procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    assert jax.device_count() == 4
    single = train.run_experiment(toy.config(data_dir, steps=6), toy.make_task(), tmp_path / "one")
    expected = [np.asarray(x) for x in jax.tree.leaves(single.params)]
    for pid in range(n):
        got = np.load(tmp_path / f"p{pid}.npz")
        for i, e in enumerate(expected):
            np.testing.assert_allclose(got[f"arr_{i}"], e, rtol=1e-5, atol=1e-6)
    assert train.Checkpointer(tmp_path / "run" / "checkpoints").steps() == [3, 6]
