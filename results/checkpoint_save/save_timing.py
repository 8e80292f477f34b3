"""First and later save times of a 600-array replicated state on 4 CPU devices with Orbax's
default ArrayHandler (replica-parallel) and with jaxgen's (one replica writes each array):
`python save_timing.py orbax_default|jaxgen` in a fresh process each."""

import os
import sys
import tempfile
import time

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import orbax.checkpoint as ocp  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

orbax_default = ocp.type_handlers.get_type_handler(jax.Array)
from jaxgen import data  # noqa: E402
from jaxgen.train.checkpoint import Checkpointer  # noqa: E402  (registers jaxgen's handler)

if sys.argv[1] == "orbax_default":
    ocp.type_handlers.register_type_handler(jax.Array, orbax_default, override=True)
mesh = data.data_mesh()
rng = np.random.default_rng(0)
shapes = [tuple(int(s) for s in rng.integers(1, 64, size=rng.integers(1, 5))) for _ in range(600)]
replicated = NamedSharding(mesh, P())
state = {f"a{i}": jax.device_put(jnp.ones(s), replicated) for i, s in enumerate(shapes)}
ckpt = Checkpointer(tempfile.mkdtemp())
seconds = []
for step in (1, 2, 3):
    t = time.perf_counter()
    ckpt.save(step, state, {"position": step})
    ckpt.wait()
    seconds.append(round(time.perf_counter() - t, 2))
print(sys.argv[1], seconds, os.getloadavg())
