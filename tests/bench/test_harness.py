"""The benchmark harness: a tiny run writes the JSON it promises; the PyTorch references have
the flax models' parameter counts; no standard model's train step copies between host and
device."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxgen import bench, data, train

ROOT = Path(__file__).resolve().parents[2]

needs_torch = pytest.mark.skipif(
    not bench.torch_available(), reason="PyTorch is not installed (optional extra 'bench')"
)


def tiny_config(tmp_path, data_dir, **overrides):
    cfg = bench.default_config()
    cfg.update(
        {
            "models": ("vae",),
            "batch_sizes": (8,),
            "dataset": "digits",
            "data_dir": data_dir,
            "warmup_steps": 1,
            "windows": 2,
            "window_seconds": 0.01,
            "samplers": ("prior",),
            "sample_windows": 2,
            "out": str(tmp_path / "out" / "bench.json"),
            **overrides,
        }
    )
    return cfg


def test_tiny_run_writes_table_and_json(tmp_path, data_dir, capsys):
    cfg = tiny_config(tmp_path, data_dir)
    bench.run(cfg)
    out = json.loads((tmp_path / "out" / "bench.json").read_text())
    for key in ("machine", "commit", "dirty", "versions", "config", "batch_sizes", "train"):
        assert key in out
    assert out["batch_sizes"] == [8] and out["versions"]["jax"] == jax.__version__
    (row,) = out["train"]
    assert row["model"] == "vae" and row["batch_size"] == 8 and row["params_jaxgen"] > 0
    assert len(row["windows"]["jaxgen"]) == 2 and row["img_per_s"] > 0
    assert row["compile_s"] > 0 and row["flops_per_step"] > 0 and row["mfu"] is None  # CPU
    assert row["pipeline_over_resident"] > 0
    (sample,) = out["sample"]
    assert sample["sampler"] == "prior" and sample["img_per_s"] > 0
    if bench.torch_available():
        assert row["params_torch"] == row["params_jaxgen"]
        assert row["ratio_jaxgen_over_torch"] > 0
    printed = capsys.readouterr().out
    assert "| vae | 8 |" in printed and "Wrote" in printed


def test_bad_settings_fail_before_running(tmp_path, data_dir):
    for bad, match in [
        ({"models": ("vea",)}, "Unknown benchmark model"),
        ({"precision": "fp8"}, "precision"),
        ({"conv_transpose": "cudnn"}, "conv_transpose"),
        ({"windows": 0}, "windows"),
    ]:
        with pytest.raises(ValueError, match=match):
            bench.run(tiny_config(tmp_path, data_dir, **bad))
    assert not (tmp_path / "out").exists()


@needs_torch
@pytest.mark.parametrize("shape", [(28, 28, 1), (8, 8, 1)])
def test_torch_references_have_the_flax_parameter_counts(shape):
    for case in bench.CASES.values():
        model = case.build_jax(shape, "fp32", 2)
        params, _ = jax.eval_shape(model.task.init, jax.random.PRNGKey(0), jnp.zeros((2, *shape)))
        n_flax = sum(x.size for x in jax.tree.leaves(params))
        assert case.build_torch(shape, "fp32", "cpu").num_params == n_flax, case.name


SLOW = pytest.mark.skipif(
    os.environ.get("JAXGEN_BENCH_SLOW") != "1",
    reason="compiling this train step takes 30-60 s on 2 cores; every benchmark run checks it "
    "under the same guard; JAXGEN_BENCH_SLOW=1 runs it here",
)


@pytest.mark.parametrize(
    "name,precision",
    [  # the vae's step runs under the same guard in test_tiny_run_writes_table_and_json
        ("dcgan", "fp32"),
        pytest.param("ddpm", "fp32", marks=[pytest.mark.slow, SLOW]),
        pytest.param("dcgan", "bf16", marks=[pytest.mark.slow, SLOW]),
        pytest.param("ddpm", "bf16", marks=[pytest.mark.slow, SLOW]),
    ],
)
def test_train_step_makes_no_host_device_copies(name, precision, data_dir):
    mesh = data.data_mesh()
    model = bench.get_case(name).build_jax((8, 8, 1), precision, 4)
    batch = next(data.load("digits", "train", 8, 0, mesh=mesh, data_dir=data_dir))
    params, model_state = model.task.init(jax.random.PRNGKey(0), jnp.zeros((2, 8, 8, 1)))
    state = train.TrainState.create(
        params=params, tx=model.task.tx, key=jax.random.PRNGKey(1), model_state=model_state
    )
    state = jax.device_put(state, NamedSharding(mesh, P()))
    step = train.build_step(model.task.step, mesh)
    with jax.transfer_guard("disallow"):
        for _ in range(2):
            state, metrics = step(state, batch)
        loss = metrics["loss"] if "loss" in metrics else metrics["d_loss"]
    assert jnp.isfinite(jax.device_get(loss))


# Profiles jit(tanh(conv_transpose(x, w))) in a process whose XLA records per-op events.
PROFILE_SCRIPT = """
import json, jax, jax.numpy as jnp
from jaxgen.bench import profile
x = jnp.ones((2, 6, 6, 3))
f = jax.jit(lambda x: jnp.tanh(jax.lax.conv_transpose(x, jnp.ones((3, 3, 3, 4)), (2, 2), "SAME")))
compiled = f.lower(x).compile()
run = lambda: [compiled(x).block_until_ready() for _ in range(3)]
result = profile.profile(compiled, run, 3)
out = {"ops": profile.hlo_ops(compiled), "result": result, "table": profile.table(result)}
print(json.dumps(out))
"""


def test_profile_times_each_hlo_op_with_its_jax_source():
    from jaxgen.bench import profile

    env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {profile.TRACEME_FLAG}"}
    proc = subprocess.run(
        [sys.executable, "-c", PROFILE_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    ops, result = out["ops"], out["result"]
    assert ["convolution", "jit(<lambda>)/conv_general_dilated"] in ops.values()
    rows, groups = result["ops"], result["by_primitive"]
    assert rows and all(ops[r["op"]] == [r["opcode"], r["source"]] for r in rows)
    assert {"conv_general_dilated", "tanh"} <= {g["primitive"] for g in groups}
    assert [r["ms_per_step"] for r in rows] == sorted(
        (r["ms_per_step"] for r in rows), reverse=True
    )
    total = result["traced_ms_per_step"]
    assert total > 0 and sum(g["share"] for g in groups) == pytest.approx(1.0)
    assert sum(g["ms_per_step"] for g in groups) == pytest.approx(total)
    for r in rows + groups:
        assert r["share"] == pytest.approx(r["ms_per_step"] / total)
    for g in groups:  # each primitive's time is the sum of its ops' times
        mine = [r["ms_per_step"] for r in rows if r["source"].rsplit("/", 1)[-1] == g["primitive"]]
        assert g["ms_per_step"] == pytest.approx(sum(mine))
    assert "| conv_general_dilated |" in out["table"]
