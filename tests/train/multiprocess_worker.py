"""One process of a multi-process run: `python multiprocess_worker.py WORKDIR DATA_DIR OUT
[STEPS]` (default 6).

Distributed settings come from the environment (JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES,
JAX_PROCESS_ID), as for a user's run; writes this process's copy of the final params, or
exits with `jaxgen train`'s status when a signal stops the run (143 for SIGTERM)."""

import sys

import jax
import numpy as np

from jaxgen import train
from tests.train import toy

if __name__ == "__main__":
    workdir, data_dir, out, *steps = sys.argv[1:]
    train.maybe_initialize_distributed()
    config = toy.config(data_dir, steps=int(steps[0]) if steps else 6)
    try:
        state = train.run_experiment(config, toy.make_task(), workdir)
    except train.Preempted as e:
        sys.exit(e.exit_status)
    leaves = [np.asarray(x.addressable_data(0)) for x in jax.tree.leaves(state.params)]
    np.savez(out, *leaves)
