"""Test session set-up: 4 virtual CPU devices (so every test runs sharded), a private
compilation cache and a private TFDS data directory prepared once per session."""

import os
import tempfile

from tests.compile_flags import COMPILE_FLAGS

# Every test runs sharded over 4 virtual devices, and compiles cheaply (tests/compile_flags.py).
os.environ["XLA_FLAGS"] = (
    f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4 {COMPILE_FLAGS}"
).strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The commands' persistent compilation cache: one per test process (and the commands it
# starts), never the user's ~/.cache.
os.environ.setdefault("JAXGEN_COMPILATION_CACHE", tempfile.mkdtemp(prefix="jaxgen-xla-"))

import jax  # noqa: E402
import pytest  # noqa: E402

# In-process as well: tests build the same programs many times (a fresh jit of the same step
# for each run, the same feature network in each score), and the persistent cache, keyed by
# the program, turns each repeat, in either test process, into a read instead of a compile.
jax.config.update("jax_compilation_cache_dir", os.environ["JAXGEN_COMPILATION_CACHE"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """TFDS data_dir shared by the tests of one session (digits prepared once)."""
    return str(tmp_path_factory.mktemp("tfds"))
