"""The README's demo command, end to end with a tiny step count."""

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_make_demo_runs_end_to_end(tmp_path):
    workdir = tmp_path / "demo"
    args = (
        f"--workdir {workdir} --config.train.steps=20 --config.train.sample_every=10 "
        "--config.train.log_every=5"
    )
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)  # the demo runs as a user would, on the real device count
    result = subprocess.run(
        ["make", "-s", "demo", f"DEMO_ARGS={args}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "20/20" in result.stderr  # the progress bar reached the end
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 20 and rows[-1]["loss"] < rows[0]["loss"]
    assert sorted(p.name for p in (workdir / "samples").glob("*.png")) == [
        "step_000010.png",
        "step_000020.png",
    ]
