"""Where a number came from: the machine, the commit and the library versions of the process
that trains, benchmarks or exports (run.json, result.json and the benchmarks' JSON files)."""

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import jax


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), else all."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def environment() -> dict:
    """Machine (CPU, devices, load average), git commit of this checkout (None outside one)
    and whether it has uncommitted changes, package versions and XLA_FLAGS."""
    devices = jax.devices()
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "machine": {
            "hostname": platform.node(),
            "platform": platform.platform(),
            "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(),
            "cpus_usable": usable_cpus(),
            "backend": jax.default_backend(),
            "devices": [d.device_kind for d in devices],
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
        "versions": {
            "python": platform.python_version(),
            **{p: _version(p) for p in ("jax", "jaxlib", "flax", "optax", "numpy", "torch")},
        },
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
