"""The benchmark harness: jaxgen's standard models against their PyTorch references, in one
process, at the same batch size and precision.

For every (model, batch size) it measures, for jaxgen:
  compile time (trace + XLA compile of the built train step),
  train throughput (images/s, median over `windows` timed windows after warm-up) with a
    device-resident batch and with the real input pipeline (`jaxgen.data.load`),
  sampling throughput of each sampler (images/s, the whole chain per call),
  peak host memory (growth of the process's peak RSS while building, compiling and
    warming up), XLA's planned device memory of the step (arguments + outputs + temporaries)
    and, on GPU/TPU, the device's peak bytes in use,
  FLOPs per step from XLA's cost analysis, the achieved FLOP/s and, on a GPU/TPU of a known
    kind, its ratio to the device's peak dense FLOP/s (MFU; TF32 peak for fp32 on GPU, the
    precision XLA uses for float32 convolutions and matmuls there by default);
and the same throughputs and memory for the PyTorch reference, its timed windows interleaved
with jaxgen's (the order alternating from round to round) so that load from other processes
hits both alike; ratios are the medians of the per-round ratios.

The timed train loop is the `fit` loop's: dispatch a step, then fetch the previous step's
metrics to the host. Every jaxgen step runs under `jax.transfer_guard("disallow")`: any
implicit host <-> device copy inside the step raises.
"""

import contextlib
import dataclasses
import datetime
import json
import math
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import ml_collections
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxgen import data, train
from jaxgen.bench import profile
from jaxgen.bench.cases import CASES, PRECISIONS, get_case
from jaxgen.models import conv
from jaxgen.train.provenance import environment, usable_cpus

# Peak dense FLOP/s per device {precision: FLOP/s}, matched by substring of device_kind
# (first match wins). fp32 on GPU: TF32 tensor cores; TPU: bf16 passes.
PEAK_FLOPS = (
    ("H100 PCIe", {"bf16": 756e12, "fp32": 378e12}),
    ("H100", {"bf16": 989e12, "fp32": 494e12}),
    ("H200", {"bf16": 989e12, "fp32": 494e12}),
    ("A100", {"bf16": 312e12, "fp32": 156e12}),
    ("L4", {"bf16": 121e12, "fp32": 60e12}),
    ("TPU v4", {"bf16": 275e12, "fp32": 275e12}),
    ("TPU v5 lite", {"bf16": 197e12, "fp32": 197e12}),
    ("TPU v5", {"bf16": 459e12, "fp32": 459e12}),
    ("TPU v6 lite", {"bf16": 918e12, "fp32": 918e12}),
)


def default_config():
    """The benchmark's settings (`jaxgen bench` takes them as --config.KEY=VALUE)."""
    c = ml_collections.ConfigDict()
    c.models = tuple(CASES)
    c.batch_sizes = (64, 128)
    c.dataset = "fashion_mnist"  # the real input pipeline's data; also sets the image shape
    c.data_dir = ""  # TFDS data_dir ("" = default)
    c.precision = "fp32"  # or "bf16"
    c.seed = 0
    c.warmup_steps = 2
    c.windows = 5  # timed windows per measurement; the median is reported
    c.window_seconds = 2.0  # each window runs as many steps/calls as fill about this long
    c.samplers = ("prior", "ddim_50", "ddpm_1000")  # those of each model that it has
    c.sample_windows = 3
    # A sampler call longer than this (T = 1000 on a CPU) is timed once: its first call.
    c.sample_max_seconds = 30.0
    c.torch = True  # measure the PyTorch references (when torch is installed)
    c.torch_threads = 0  # torch.set_num_threads; 0: the CPUs this process may use
    c.conv_transpose = "model"  # "model" (as the models define it), "jaxgen" or "xla"
    # > 0: after timing, profile this many jaxgen train steps per op (on CPU this needs
    # profile.TRACEME_FLAG in XLA_FLAGS, which `configure` adds)
    c.profile_steps = 0
    c.peak_tflops = 0.0  # the device's peak for MFU; 0: from PEAK_FLOPS by device kind
    c.out = "bench.json"
    return c


# ---------------------------------------------------------------------------------------------
# Environment.


class HostMemory:
    """Peak resident memory of this process: `reset()` (Linux: clears the kernel's peak, so
    each phase is measured alone) then `growth()`, the peak's growth in bytes since."""

    def __init__(self):
        self.start = 0

    @staticmethod
    def _status(field):
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return None

    def peak(self):
        hwm = self._status("VmHWM")
        if hwm is None:  # not Linux: the lifetime peak (kilobytes on Linux, bytes on macOS)
            scale = 1 if sys.platform == "darwin" else 1024
            hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
        return hwm

    def reset(self):
        with contextlib.suppress(OSError):  # Linux: reset the peak to the current RSS
            Path("/proc/self/clear_refs").write_text("5")
        self.start = self._status("VmRSS") or self.peak()

    def growth(self):
        return max(0, self.peak() - self.start)


def device_peak_bytes():
    """Peak bytes in use on the first device (GPU/TPU), None where not reported (CPU)."""
    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def peak_flops(precision, override_tflops=0.0):
    if override_tflops:
        return override_tflops * 1e12
    kind = jax.devices()[0].device_kind
    if jax.default_backend() == "cpu":
        return None
    for name, peaks in PEAK_FLOPS:
        if name in kind:
            return peaks[precision]
    return None


def _cost(compiled):
    """(FLOPs, planned bytes) of a compiled executable, None where XLA does not say."""
    flops = None
    try:
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list | tuple) else cost
        flops = float(cost["flops"]) if cost and cost.get("flops", -1) >= 0 else None
    except Exception:  # noqa: BLE001  (backends without cost analysis)
        pass
    planned = None
    try:
        m = compiled.memory_analysis()
        planned = int(
            m.argument_size_in_bytes
            + m.output_size_in_bytes
            + m.temp_size_in_bytes
            - m.alias_size_in_bytes
        )
    except Exception:  # noqa: BLE001
        pass
    return flops, planned


# ---------------------------------------------------------------------------------------------
# Timing.


@dataclasses.dataclass
class Timed:
    """A workload run in windows: `run(n)` does n units (steps or sampler calls) and returns
    once they are done; `images` per unit."""

    name: str
    run: Callable
    images: int
    per_window: int = 1
    rates: list = dataclasses.field(default_factory=list)

    def calibrate(self, window_seconds):
        """Runs one unit, sets `per_window` to fill `window_seconds`; returns its seconds."""
        t = time.perf_counter()
        self.run(1)
        dt = time.perf_counter() - t
        self.first_rate = self.images / dt
        self.per_window = max(1, math.ceil(window_seconds / max(dt, 1e-6)))
        return dt

    def window(self):
        t = time.perf_counter()
        self.run(self.per_window)
        self.rates.append(self.per_window * self.images / (time.perf_counter() - t))


def interleave(timed, rounds):
    """`rounds` windows of each workload, the order rotating from round to round."""
    for r in range(rounds):
        k = r % len(timed)
        for t in timed[k:] + timed[:k]:
            t.window()


def median_ratio(a, b):
    """Median of the per-round ratios a_r / b_r."""
    return statistics.median(x / y for x, y in zip(a.rates, b.rates, strict=True))


# ---------------------------------------------------------------------------------------------
# jaxgen side.


class JaxRun:
    """A standard model's train step and samplers, compiled, with its state and data."""

    def __init__(self, case, cfg, batch_size, mesh, image_shape, memory):
        self.batch_size = batch_size
        memory.reset()
        self.model = case.build_jax(image_shape, cfg.precision, batch_size)
        task = self.model.task
        init_key, root_key = jax.random.split(jax.random.PRNGKey(cfg.seed))
        local = batch_size // mesh.devices.size
        shape = (local, *image_shape)
        params, model_state = jax.jit(lambda key: task.init(key, jax.numpy.zeros(shape)))(init_key)
        state = train.TrainState.create(
            params=params, tx=task.tx, key=root_key, model_state=model_state
        )
        self.num_params = sum(x.size for x in jax.tree.leaves(params))
        self.state = jax.device_put(state, NamedSharding(mesh, P()))
        self.batches = data.load(
            cfg.dataset, "train", batch_size, cfg.seed, mesh=mesh, data_dir=cfg.data_dir or None
        )
        self.batch = next(self.batches)  # the device-resident batch
        t = time.perf_counter()
        self.step = train.build_step(task.step, mesh).lower(self.state, self.batch).compile()
        self.compile_s = time.perf_counter() - t
        self.flops, self.planned_bytes = _cost(self.step)
        self.pending = None
        self.run_steps(cfg.warmup_steps, self.batch)
        self.host_bytes = memory.growth()
        self.key = jax.device_put(jax.random.PRNGKey(cfg.seed + 1), NamedSharding(mesh, P()))

    def run_steps(self, n, batch=None):
        """n steps of the `fit` loop (metrics fetched one step behind), under the transfer
        guard; batch None: the real input pipeline."""
        for _ in range(n):
            b = next(self.batches) if batch is None else batch
            with jax.transfer_guard("disallow"):
                self.state, metrics = self.step(self.state, b)
            if self.pending is not None:
                jax.device_get(self.pending)
            self.pending = metrics
        jax.device_get(self.pending)
        self.pending = None

    def sampler(self, name):
        """(compile seconds, run(n)) of sampler `name` with the EMA params."""
        fn = self.model.samplers[name]
        args = (self.state.ema_params, self.state.model_state, self.key)
        t = time.perf_counter()
        compiled = fn.lower(*args).compile()
        compile_s = time.perf_counter() - t

        def run(n):  # the current EMA params (training donates the state it started from)
            args = (self.state.ema_params, self.state.model_state, self.key)
            for _ in range(n):
                with jax.transfer_guard("disallow"):
                    out = compiled(*args)
            out.block_until_ready()

        return compile_s, run


# ---------------------------------------------------------------------------------------------
# PyTorch side.


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_device():
    import torch

    if jax.default_backend() == "gpu" and torch.cuda.is_available():
        return "cuda"
    return "cpu"


class TorchRun:
    def __init__(self, case, cfg, batch_size, image_shape, memory, host_batch):
        import torch

        self.torch = torch
        self.device = torch_device()
        if self.device == "cuda":  # XLA's default for float32 matmuls on GPU is TF32
            torch.set_float32_matmul_precision("high")
            torch.cuda.reset_peak_memory_stats()
        memory.reset()
        torch.manual_seed(cfg.seed)
        self.ref = case.build_torch(image_shape, cfg.precision, self.device)
        self.num_params = self.ref.num_params
        x = torch.from_numpy(np.array(host_batch)).permute(0, 3, 1, 2).contiguous()
        self.batch = x.to(self.device)
        t = time.perf_counter()
        self.run_steps(1)
        self.first_step_s = time.perf_counter() - t
        self.run_steps(max(0, cfg.warmup_steps - 1))
        self.host_bytes = memory.growth()
        self.device_bytes = torch.cuda.max_memory_allocated() if self.device == "cuda" else None

    def sync(self):
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def run_steps(self, n):
        pending = None
        for _ in range(n):
            loss = self.ref.train_step(self.batch)
            if pending is not None:
                pending.item()
            pending = loss.detach()
        if pending is not None:
            pending.item()
        self.sync()

    def sampler(self, name, batch_size):
        fn = self.ref.samplers[name]

        def run(n):
            for _ in range(n):
                fn(batch_size)
            self.sync()

        return run


# ---------------------------------------------------------------------------------------------
# The benchmark.


def _mib(b):
    return None if b is None else b / 2**20


def bench_model(case, cfg, batch_size, mesh, use_torch, log):
    """The train row and the sampler rows of one model at one batch size."""
    image_shape = data.dataset_spec(cfg.dataset).shape
    memory = HostMemory()
    impl = (
        contextlib.nullcontext()
        if cfg.conv_transpose == "model"
        else conv.conv_transpose_impl(cfg.conv_transpose)
    )
    with impl:
        j = JaxRun(case, cfg, batch_size, mesh, image_shape, memory)
        samplers = {s: j.sampler(s) for s in case.samplers if s in cfg.samplers}
    log(f"  jaxgen: {j.num_params:,} params, compiled in {j.compile_s:.1f} s")
    t = None
    if use_torch:
        t = TorchRun(case, cfg, batch_size, image_shape, memory, j.batch["image"])
    if t is not None:
        log(f"  torch:  {t.num_params:,} params, first step {t.first_step_s:.2f} s")
        if t.num_params != j.num_params:
            raise RuntimeError(
                f"{case.name}: the PyTorch reference has {t.num_params:,} parameters, jaxgen "
                f"{j.num_params:,}; the architectures differ."
            )

    resident = Timed("jaxgen", lambda n: j.run_steps(n, j.batch), batch_size)
    pipeline = Timed("jaxgen_pipeline", lambda n: j.run_steps(n), batch_size)
    timed = [resident, pipeline]
    if t is not None:
        timed.append(Timed("torch", t.run_steps, batch_size))
    step_s = {x.name: x.calibrate(cfg.window_seconds) for x in timed}
    interleave(timed, cfg.windows)
    jax_rate = statistics.median(resident.rates)
    step_time = batch_size / jax_rate
    peak = peak_flops(cfg.precision, cfg.peak_tflops)
    achieved = None if j.flops is None else j.flops / step_time
    row = {
        "model": case.name,
        "description": case.description,
        "batch_size": batch_size,
        "precision": cfg.precision,
        "params_jaxgen": j.num_params,
        "params_torch": None if t is None else t.num_params,
        "compile_s": j.compile_s,
        "steps_per_window": {x.name: x.per_window for x in timed},
        "calibration_step_s": step_s,
        "img_per_s": statistics.median(resident.rates),
        "img_per_s_pipeline": statistics.median(pipeline.rates),
        "pipeline_over_resident": median_ratio(pipeline, resident),
        "windows": {x.name: x.rates for x in timed},
        "host_peak_growth_mib": _mib(j.host_bytes),
        "xla_planned_step_mib": _mib(j.planned_bytes),
        "device_peak_mib": _mib(device_peak_bytes()),
        "flops_per_step": j.flops,
        "achieved_tflops": None if achieved is None else achieved / 1e12,
        "peak_tflops": None if peak is None else peak / 1e12,
        "mfu": None if achieved is None or peak is None else achieved / peak,
        "torch_img_per_s": None,
        "ratio_jaxgen_over_torch": None,
        "torch_host_peak_growth_mib": None,
        "torch_device_peak_mib": None,
    }
    if t is not None:
        torch_timed = timed[2]
        row |= {
            "torch_img_per_s": statistics.median(torch_timed.rates),
            "ratio_jaxgen_over_torch": median_ratio(resident, torch_timed),
            "torch_host_peak_growth_mib": _mib(t.host_bytes),
            "torch_device_peak_mib": _mib(t.device_bytes),
            "torch_first_step_s": t.first_step_s,
        }

    if cfg.profile_steps > 0:
        n = cfg.profile_steps
        row["profile"] = profile.profile(j.step, lambda: j.run_steps(n, j.batch), n)
        if row["profile"]["ops"]:
            log(f"  profile of {n} jaxgen steps (top ops):\n" + profile.table(row["profile"]))
        else:
            log(f"  no per-op trace events (XLA_FLAGS needs {profile.TRACEME_FLAG} on CPU)")

    sample_rows = []
    for name, (compile_s, run) in samplers.items():
        js = Timed("jaxgen", run, batch_size)
        pair = [js]
        if t is not None:
            pair.append(Timed("torch", t.sampler(name, batch_size), batch_size))
        call_s = {x.name: x.calibrate(cfg.window_seconds) for x in pair}
        if max(call_s.values()) > cfg.sample_max_seconds:  # one call each, not interleaved
            for x in pair:
                x.rates = [x.first_rate]
        else:
            interleave(pair, cfg.sample_windows)
        srow = {
            "model": case.name,
            "sampler": name,
            "batch_size": batch_size,
            "precision": cfg.precision,
            "compile_s": compile_s,
            "windows": {x.name: x.rates for x in pair},
            "img_per_s": statistics.median(js.rates),
            "torch_img_per_s": None,
            "ratio_jaxgen_over_torch": None,
        }
        if t is not None:
            srow |= {
                "torch_img_per_s": statistics.median(pair[1].rates),
                "ratio_jaxgen_over_torch": median_ratio(js, pair[1]),
            }
        sample_rows.append(srow)
    return row, sample_rows


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def train_table(rows):
    head = (
        "| model | batch | params (jaxgen = torch) | compile s | jaxgen img/s | torch img/s "
        "| jaxgen / torch | pipeline / resident | host MiB jaxgen / torch | TFLOP/s | MFU |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        same = "" if r["params_torch"] in (None, r["params_jaxgen"]) else " (DIFFER)"
        lines.append(
            f"| {r['model']} | {r['batch_size']} | {r['params_jaxgen']:,}{same} "
            f"| {r['compile_s']:.1f} | {r['img_per_s']:.0f} | {_fmt(r['torch_img_per_s'], '.0f')} "
            f"| {_fmt(r['ratio_jaxgen_over_torch'], '.2f')} "
            f"| {r['pipeline_over_resident']:.3f} "
            f"| {_fmt(r['host_peak_growth_mib'], '.0f')} / "
            f"{_fmt(r['torch_host_peak_growth_mib'], '.0f')} "
            f"| {_fmt(r['achieved_tflops'], '.3f')} | {_fmt(r['mfu'], '.1%')} |"
        )
    return "\n".join(lines)


def sample_table(rows):
    lines = [
        "| model | sampler | batch | compile s | jaxgen img/s | torch img/s | jaxgen / torch |",
        "|" + "---|" * 7,
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['sampler']} | {r['batch_size']} | {r['compile_s']:.1f} "
            f"| {r['img_per_s']:.2f} | {_fmt(r['torch_img_per_s'], '.2f')} "
            f"| {_fmt(r['ratio_jaxgen_over_torch'], '.2f')} |"
        )
    return "\n".join(lines)


def check_config(cfg):
    """One clear error for bad settings, before anything is built."""
    for name in cfg.models:
        get_case(name)
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {cfg.precision!r}.")
    if cfg.conv_transpose not in ("model", "jaxgen", "xla"):
        raise ValueError(f"conv_transpose must be model, jaxgen or xla, got {cfg.conv_transpose!r}")
    if cfg.windows < 1 or cfg.sample_windows < 1 or cfg.warmup_steps < 1:
        raise ValueError("windows, sample_windows and warmup_steps must be >= 1.")
    if not cfg.batch_sizes or min(cfg.batch_sizes) < 1:
        raise ValueError(f"batch_sizes must be positive, got {cfg.batch_sizes}.")
    data.dataset_spec(cfg.dataset)


def configure(args):
    """The config of `jaxgen bench --config.KEY=VALUE ...` (and experiments/bench.py):
    default_config() with `args` applied and checked; ValueError names a bad key or value.
    profile_steps > 0 adds profile.TRACEME_FLAG to XLA_FLAGS (read when the backend starts,
    so call this before anything touches a device)."""
    cfg, rest = train.apply_overrides(default_config(), args)
    if rest:
        raise ValueError(f"unexpected arguments {rest}; use --config.KEY=VALUE.")
    check_config(cfg)
    if cfg.profile_steps > 0:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} {profile.TRACEME_FLAG}".strip()
    return cfg


def run(cfg, log=print):
    """Runs the benchmark of `cfg` (see `default_config`); prints the tables and writes
    cfg.out (JSON, written atomically). Returns the result dict."""
    check_config(cfg)
    use_torch = bool(cfg.torch) and torch_available()
    if cfg.torch and not use_torch:
        log("PyTorch is not installed (pip install 'jaxgen[bench]'): jaxgen numbers only.")
    if use_torch:
        import torch

        torch.set_num_threads(cfg.torch_threads or usable_cpus())
    result = {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **environment(),
        "config": cfg.to_dict(),
        "torch_threads": torch.get_num_threads() if use_torch else None,
        "batch_sizes": list(cfg.batch_sizes),
        "train": [],
        "sample": [],
    }
    mesh = data.data_mesh()
    data.load_split(cfg.dataset, "train", cfg.data_dir or None)  # loaded once, before measuring
    for name in cfg.models:
        for batch_size in cfg.batch_sizes:
            log(f"{name}, batch {batch_size} ({cfg.precision}):")
            row, sample_rows = bench_model(get_case(name), cfg, batch_size, mesh, use_torch, log)
            result["train"].append(row)
            result["sample"].extend(sample_rows)
    result["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    m = result["machine"]
    log(
        f"\n{m['cpu']} ({m['cpus_usable']} usable CPUs), {m['backend']} {m['devices'][0]}; "
        f"jax {result['versions']['jax']}, torch {result['versions']['torch']} "
        f"({result['torch_threads']} threads); load average {m['load_average'][0]:.1f} -> "
        f"{result['load_average_end'][0]:.1f}\n"
    )
    log("Training (images/s, median of windows):\n" + train_table(result["train"]))
    if result["sample"]:
        log("\nSampling (images/s):\n" + sample_table(result["sample"]))
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(out)
    log(f"\nWrote {out}")
    return result
