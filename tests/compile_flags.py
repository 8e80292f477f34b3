"""XLA flags that make the tests' compiles cheap, for the test process (tests/conftest.py) and
the commands the tests start as subprocesses.

Backend optimization off: the tests' programs run a few steps each, so compiling dominates,
and XLA's LLVM optimization of every kernel doubles a compile (a quick U-Net's train step:
44 s -> 23 s at level 0, side by side) to halve a run of milliseconds; results differ by float
rounding. XLA:CPU's MLIR fusion emitters off as well, where this jaxlib has the flag (XLA
stops at an unknown one): its older LLVM IR emitters compile these unoptimized programs with
about a quarter less CPU time, and they run faster (tests/models/test_imagen.py alone:
349 -> 257 CPU-s; the quick DDPM's 20 steps: compile 35-36 -> 21 s, 40 -> 58 img/s)."""

import importlib.util
import mmap
from pathlib import Path


def jaxlib_knows(flag: str) -> bool:
    """Whether one of jaxlib's shared libraries holds the name of XLA flag `flag`."""
    for library in Path(importlib.util.find_spec("jaxlib").origin).parent.glob("*.so"):
        with open(library, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            if m.find(flag.encode()) >= 0:
                return True
    return False


COMPILE_FLAGS = " ".join(
    ["--xla_backend_optimization_level=0"]
    + ["--xla_cpu_use_fusion_emitters=false"] * jaxlib_knows("xla_cpu_use_fusion_emitters")
)
