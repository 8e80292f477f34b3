"""One process of a multi-process run: `python multiprocess_worker.py WORKDIR DATA_DIR OUT`.

Distributed settings come from the environment (JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES,
JAX_PROCESS_ID), as for a user's run; writes this process's copy of the final params."""

import sys

import jax
import numpy as np

from jaxgen import train
from tests.train import toy

if __name__ == "__main__":
    workdir, data_dir, out = sys.argv[1:]
    train.maybe_initialize_distributed()
    state = train.run_experiment(toy.config(data_dir, steps=6), toy.make_task(), workdir)
    leaves = [np.asarray(x.addressable_data(0)) for x in jax.tree.leaves(state.params)]
    np.savez(out, *leaves)
