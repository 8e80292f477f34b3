"""Stopping on a signal: SIGTERM (what a cluster scheduler or a preempted VM sends before it
kills a job) and SIGINT (Ctrl-C) end training at a step boundary, after a checkpoint.

On one process, `StopSignals` records the first signal; the fit loop asks `requested(step)`
after every step, finishes that step, writes its checkpoint (data position included) and
raises `Preempted`. Later signals are logged and ignored, so the checkpoint being written
is not cut off (Orbax commits a step by renaming its finished temporary folder, so even
kill -9 leaves the previous checkpoint intact). On several processes JAX's preemption
service (started by jax.distributed.initialize) catches SIGTERM on any of them and picks
the step at which all of them save: `multihost_utils.reached_preemption_sync_point`.
"""

import logging
import signal
import threading

import jax
from jax.experimental import multihost_utils

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(Exception):
    """Training stopped by signal `signum` after writing checkpoint `step` in `workdir`;
    `exit_status` is the shell's convention for it, 128 + signum (143 SIGTERM, 130 SIGINT)."""

    def __init__(self, signum: int, step: int, workdir: str) -> None:
        self.signum, self.step, self.workdir = signum, step, workdir
        self.exit_status = 128 + signum
        name = signal.Signals(signum).name
        super().__init__(
            f"stopped by {name} after step {step}; checkpoint {step} is written in {workdir}. "
            "Run the same command to resume."
        )


class StopSignals:
    """Within the block, SIGTERM and SIGINT ask training to stop (see the module docstring);
    the previous handlers come back at its end. Outside the main thread, and on several
    processes (where JAX's preemption service listens), no handler is installed."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict[int, object] = {}

    def handle(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if self.signum is None:
            self.signum = signum
            log.warning("%s: finishing the step, writing a checkpoint, then stopping.", name)
        else:
            log.warning("%s: already stopping; the checkpoint is being written.", name)

    def __enter__(self) -> "StopSignals":
        single = jax.process_count() == 1
        if single and threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self.handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)

    def requested(self, step: int) -> int | None:
        """The signal to stop on after `step`, or None. Call it at every step on every
        process: on several, all of them get the signal at the same step."""
        if jax.process_count() > 1:
            return signal.SIGTERM if multihost_utils.reached_preemption_sync_point(step) else None
        return self.signum
