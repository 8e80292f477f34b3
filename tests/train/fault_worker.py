"""A training process to be killed or signalled: `python -m tests.train.fault_worker WORKDIR
DATA_DIR SERVED`. Trains the toy task for STEPS steps, checkpointing every 10, then saves its
params; writes the data position of each batch it draws to SERVED, one a line, as it draws
it. Stopped by SIGTERM or SIGINT, it exits with the status `jaxgen train` gives (143, 130)."""

import sys

import jax
import numpy as np

from jaxgen import train
from tests.train import toy

STEPS = 300


def config(data_dir):
    cfg = toy.config(data_dir, steps=STEPS)
    cfg.train.checkpoint_every = 10
    cfg.train.sample_every = 0
    return cfg


if __name__ == "__main__":
    workdir, data_dir, served = sys.argv[1:]
    with open(served, "w") as f, toy.serving(lambda position: print(position, file=f, flush=True)):
        try:
            state = train.run_experiment(config(data_dir), toy.make_task(), workdir)
        except train.Preempted as e:
            sys.exit(e.exit_status)
    np.savez(f"{workdir}/final.npz", *[np.asarray(x) for x in jax.tree.leaves(state)])
