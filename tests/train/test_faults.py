"""Faults: kill -9 at random points (some during a checkpoint write), SIGTERM / SIGINT
(preemption, Ctrl-C), corrupt checkpoints, a disk that fills up (ENOSPC injected: no
privileges needed). Nothing written before the fault is lost; resuming is exact."""

import builtins
import errno
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxgen import data, runs, train
from tests.train import fault_worker, toy

ROOT = Path(__file__).resolve().parents[2]
TMP_MARK = ".orbax-checkpoint-tmp"


def start(workdir, data_dir, served):
    cmd = [sys.executable, "-m", "tests.train.fault_worker", str(workdir), data_dir, str(served)]
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def logged_steps(workdir):
    path = workdir / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def newest_checkpoint(ckpt_dir):
    """The newest complete checkpoint's step, 0 if none (Orbax renames a save's temporary
    folder to <step> once it is complete)."""
    names = [p.name for p in ckpt_dir.iterdir()] if ckpt_dir.is_dir() else []
    return max((int(n) for n in names if n.isdigit()), default=0)


def served_positions(path):
    """The data positions a fault_worker drew, one a line (a line cut off by a kill dropped)."""
    return [int(line) for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]


def saving(ckpt_dir, served):
    """True while the fault_worker drawing into `served` writes a checkpoint: there is the
    temporary folder of a step whose batch it has drawn (not a killed process's leftover,
    which the next process finds at its start and removes)."""
    tmp = [p.name for p in ckpt_dir.iterdir() if TMP_MARK in p.name] if ckpt_dir.is_dir() else []
    drawn = served_positions(served) if tmp and served.exists() else []
    return bool(drawn) and any(int(name.split(".")[0]) <= drawn[-1] + 1 for name in tmp)


def kill_when(proc, condition, timeout=120):
    """SIGKILL `proc` as soon as `condition()` holds; False if it exited first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if condition():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.0005)
    return False


def signal_when(proc, condition, signals, timeout=120):
    """Sends `signals` to `proc` one after the other as soon as `condition()` holds; waits
    for it to exit and returns its exit status (None if it exited before the condition)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if condition():
            for s in signals:
                proc.send_signal(s)
            return proc.wait(timeout=timeout)
        time.sleep(0.0005)
    return None


def assert_same_as_uninterrupted(workdir, data_dir, reference_dir):
    reference = train.run_experiment(fault_worker.config(data_dir), toy.make_task(), reference_dir)
    got = np.load(workdir / "final.npz")
    for i, expected in enumerate(jax.tree.leaves(reference)):
        np.testing.assert_array_equal(got[f"arr_{i}"], np.asarray(expected))


def test_kills_and_signals_then_resume_is_bit_identical(data_dir, tmp_path):
    """One run stopped five ways before it ends: kill -9 at a random step, kill -9 while a
    checkpoint is written, SIGTERM at a random step, SIGINT and at once a second SIGINT
    (which must not cut off the checkpoint being written); then it trains to the end. Each
    process resumes at its newest whole checkpoint and that checkpoint's data position; each
    signalled one exits 128 + signum after a checkpoint of the last step it drew a batch for
    (no step lost); the end is bit-identical to an uninterrupted run."""
    workdir, rng = tmp_path / "run", np.random.default_rng(0)
    ckpt_dir = workdir / "checkpoints"
    plan = ["kill", "kill in save", (signal.SIGTERM,), (signal.SIGINT, signal.SIGINT), ()]
    resumed_from = []
    for i, stop in enumerate(plan):
        resumed_from.append(newest_checkpoint(ckpt_dir))
        served_file = tmp_path / f"served{i}"
        proc = start(workdir, data_dir, served_file)
        target = logged_steps(workdir) + int(rng.integers(5, 40))
        if stop == "kill":
            killed = kill_when(proc, lambda t=target: logged_steps(workdir) >= t)
        elif stop == "kill in save":
            killed = kill_when(proc, lambda f=served_file: saving(ckpt_dir, f))
        elif stop:
            status = signal_when(proc, lambda t=target: logged_steps(workdir) >= t, stop)
            stderr = proc.stderr.read()
            assert status == 128 + stop[0], stderr[-3000:]
            served = served_positions(served_file)
            assert served[-1] + 1 > target - 1  # stopped after the signal, not before
            assert newest_checkpoint(ckpt_dir) == served[-1] + 1, i  # the step in flight saved
            assert signal.Signals(stop[0]).name in stderr and "Traceback" not in stderr
            assert not [p for p in ckpt_dir.iterdir() if TMP_MARK in p.name]
            continue
        else:  # the last process runs to the end
            assert proc.wait(timeout=300) == 0, proc.stderr.read()[-3000:]
            break
        assert killed, f"run {i} finished or hung before the kill: {proc.stderr.read()[-2000:]}"
    # Each process drew batches from its newest checkpoint's data position on (step s draws
    # position s - 1), and the last one ran only the remaining steps.
    for i, start_position in enumerate(resumed_from):
        served = served_positions(tmp_path / f"served{i}")
        assert served == list(range(start_position, start_position + len(served))), i
    assert served == list(range(resumed_from[-1], fault_worker.STEPS))
    assert resumed_from == sorted(resumed_from) and resumed_from[-1] > 0
    steps = [json.loads(line)["step"] for line in (workdir / "metrics.jsonl").open()]
    assert steps == list(range(1, fault_worker.STEPS + 1))  # no rows logged twice
    assert not [p for p in ckpt_dir.iterdir() if TMP_MARK in p.name]
    started = json.loads((workdir / "run.json").read_text())["trained_with"]
    assert len(started) == len(plan)  # run.json records every process that trained
    assert_same_as_uninterrupted(workdir, data_dir, tmp_path / "ref")
    ckpt = train.Checkpointer(ckpt_dir)
    template = train.init_state(toy.make_task(), fault_worker.config(data_dir), data.data_mesh())
    for step in ckpt.steps():  # every checkpoint left behind reads back
        assert int(ckpt.restore(template, step)[0].step) == step


def test_signal_handlers_are_restored_and_the_cli_reports_the_stop(data_dir, tmp_path, capsys):
    """In this process: SIGTERM sent while batch 3 is drawn stops run_experiment after step
    4 with checkpoint 4; `jaxgen train`'s wrapper turns that into one line and status 143;
    the handlers that were installed before come back."""
    before = [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)]

    def preempt(position):
        if position == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    module = types.SimpleNamespace(
        __file__="toy.py",
        get_config=lambda: toy.config(data_dir, steps=9),
        make_task=lambda config: toy.make_task(),
    )
    with toy.serving(preempt), pytest.raises(SystemExit) as stop:
        runs.train_experiment(module, tmp_path, [])
    assert stop.value.code == 143
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"jaxgen: stopped by SIGTERM after step 4; checkpoint 4 is written in {tmp_path}. "
        "Run the same command to resume."
    )
    assert [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)] == before
    assert train.Checkpointer(tmp_path / "checkpoints").steps() == [3, 4]


def test_truncated_latest_checkpoint_resumes_from_previous(data_dir, tmp_path, caplog):
    task = toy.make_task()
    train.run_experiment(toy.config(data_dir, steps=6), task, tmp_path)
    for f in (tmp_path / "checkpoints" / "6" / "state").rglob("*"):
        if f.is_file():
            f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])
    served = []
    with caplog.at_level("WARNING"), toy.serving(served.append):
        state = train.run_experiment(toy.config(data_dir, steps=6), task, tmp_path)
    assert "Checkpoint 6" in caplog.text and "unreadable" in caplog.text
    assert served == [3, 4, 5]  # resumed at checkpoint 3 and its data position
    full = train.run_experiment(toy.config(data_dir, steps=6), task, tmp_path / "ref")
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(full.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def fill_disk(monkeypatch, full):
    """From fill() on, opening a new file for writing under `full` fails with ENOSPC, as on
    a full disk (Orbax, the PNG and metrics writers all open files with the builtin open)."""
    real_open, filled = builtins.open, []

    def open_on_full_disk(file, mode="r", *args, **kwargs):
        writes = not isinstance(file, int) and bool(set(mode) & set("wax+"))
        if filled and writes and Path(file).absolute().is_relative_to(full):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_on_full_disk)
    monkeypatch.setattr(io, "open", open_on_full_disk)  # pathlib's
    return lambda *_: filled.append(True)


@pytest.mark.parametrize("full", ["checkpoints", "."])
def test_disk_full_stops_with_one_message_and_keeps_previous(data_dir, tmp_path, monkeypatch, full):
    """The disk fills once the resumed run trains (steps 4-6): only the checkpoint folder, or
    the whole run directory, takes no new file. README: 'A full disk stops the run with one
    message naming the run directory and the fix; earlier checkpoints stay valid.'"""
    workdir, task, cfg = tmp_path / "run", toy.make_task(), toy.config(data_dir, steps=6)
    train.run_experiment(toy.config(data_dir, steps=3), task, workdir)
    fill = fill_disk(monkeypatch, (workdir / full).absolute())
    with toy.serving(fill), pytest.raises(train.CheckpointError) as err:
        train.run_experiment(cfg, task, workdir)
    message = str(err.value)
    assert str(workdir) in message and "No space left on device" in message
    assert "free disk space" in message.lower() and "--workdir" in message
    assert "\n" not in message
    monkeypatch.undo()  # space freed
    ckpt = train.Checkpointer(workdir / "checkpoints")
    state, data_state = ckpt.restore(train.init_state(task, cfg, data.data_mesh()))
    assert int(state.step) == 3 and data_state == {"position": 3}
    served = []
    with toy.serving(served.append):  # run again to resume, as the message says
        assert int(train.run_experiment(cfg, task, workdir).step) == 6
    ckpt.manager.reload()
    assert served == [3, 4, 5] and ckpt.steps() == [3, 6]
    ckpt.close()


def test_one_trainer_per_run_directory_readers_see_whole_checkpoints(data_dir, tmp_path, caplog):
    """While a training process runs: a second trainer is refused with one line naming the
    holder's PID and host; read-only restores (what sample / eval / export do) each get a
    complete checkpoint (state step == data position) and leave the directory to the
    trainer. After the holder is killed with kill -9 its lock is stale: the next trainer
    takes it over and resumes."""
    workdir = tmp_path / "run"
    ckpt_dir = workdir / "checkpoints"
    proc = start(workdir, data_dir, tmp_path / "served")
    module = types.SimpleNamespace(
        __file__="custom.py",  # fault_worker's runs are of experiment 'custom'
        get_config=lambda: fault_worker.config(data_dir),
        make_task=lambda config: toy.make_task(),
    )
    template = train.init_state(toy.make_task(), fault_worker.config(data_dir), data.data_mesh())
    read, deadline = [], time.monotonic() + 120
    while len(read) < 6 and proc.poll() is None and time.monotonic() < deadline:
        if newest_checkpoint(ckpt_dir) > (read[-1] if read else 0):
            if not read:
                with pytest.raises(runs.UsageError) as refused:
                    runs.train_experiment(module, workdir, [])
            reader = train.Checkpointer(ckpt_dir, read_only=True)
            state, data_state = reader.restore(template)
            reader.close()
            assert data_state == {"position": int(state.step)}
            read.append(int(state.step))
    assert proc.poll() is None, proc.stderr.read()[-2000:]
    assert len(read) == 6 and read == sorted(read), read
    message = str(refused.value)
    assert f"is being trained by PID {proc.pid} on host {socket.gethostname()}" in message
    assert "choose another --workdir" in message and "\n" not in message
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resume_at = newest_checkpoint(ckpt_dir) + 1
    with caplog.at_level("INFO"):
        state = runs.train_experiment(module, workdir, [f"--config.train.steps={resume_at}"])
    assert int(state.step) == resume_at
    assert f"Took over the lock of PID {proc.pid}" in caplog.text
