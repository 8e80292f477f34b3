"""Two processes with two CPU devices each (gloo collectives) train like one process with
four devices: same global batches, same parameters; SIGTERM to one of them stops both at one
step, with a checkpoint."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from jaxgen import train
from tests.compile_flags import COMPILE_FLAGS
from tests.train import toy

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_processes(tmp_path, data_dir, n, steps, tag, run="run"):
    """n processes of one distributed run of the toy task (2 CPU devices each) in
    tmp_path/`run`; process i writes its final params to tmp_path/<tag>i.npz."""
    port, procs = free_port(), []
    for pid in range(n):
        env = {
            **os.environ,
            "XLA_FLAGS": f"--xla_force_host_platform_device_count=2 {COMPILE_FLAGS}",
            "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
            "JAX_NUM_PROCESSES": str(n),
            "JAX_PROCESS_ID": str(pid),
            "PYTHONPATH": str(ROOT),
        }
        cmd = [
            sys.executable,
            "-m",
            "tests.train.multiprocess_worker",
            str(tmp_path / run),
            data_dir,
            str(tmp_path / f"{tag}{pid}.npz"),
            str(steps),
        ]
        procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True))
    return procs


def assert_equal_to_one_process(data_dir, tmp_path, steps, tag, n):
    single = train.run_experiment(
        toy.config(data_dir, steps=steps), toy.make_task(), tmp_path / "one"
    )
    expected = [np.asarray(x) for x in jax.tree.leaves(single.params)]
    for pid in range(n):
        got = np.load(tmp_path / f"{tag}{pid}.npz")
        for i, e in enumerate(expected):
            np.testing.assert_allclose(got[f"arr_{i}"], e, rtol=1e-5, atol=1e-6)


def test_two_processes_equal_one_process(data_dir, tmp_path):
    n = 2
    for p in start_processes(tmp_path, data_dir, n, 6, "p"):
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    assert jax.device_count() == 4
    assert_equal_to_one_process(data_dir, tmp_path, 6, "p", n)
    assert train.Checkpointer(tmp_path / "run" / "checkpoints").steps() == [3, 6]


def test_sigterm_to_one_process_stops_all_at_one_step(data_dir, tmp_path):
    """SIGTERM to process 1 only: JAX's preemption service has both processes save the
    same step and exit 143; the resumed pair ends bit-identical to an uninterrupted pair."""
    n, steps = 2, 60
    procs = start_processes(tmp_path, data_dir, n, steps, "p")
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and procs[1].poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 10:
            break
        time.sleep(0.01)
    procs[1].send_signal(signal.SIGTERM)
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 143, err[-3000:]
    stopped = train.Checkpointer(tmp_path / "run" / "checkpoints").steps()[-1]
    logged = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    assert 10 <= stopped < steps and logged[-1] == stopped  # the step both processes reached
    resumed = start_processes(tmp_path, data_dir, n, steps, "p")
    uninterrupted = start_processes(tmp_path, data_dir, n, steps, "u", run="ref")
    for p in resumed + uninterrupted:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    for pid in range(n):
        got, expected = np.load(tmp_path / f"p{pid}.npz"), np.load(tmp_path / f"u{pid}.npz")
        for name in expected:
            np.testing.assert_array_equal(got[name], expected[name])
