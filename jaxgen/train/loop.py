"""The one training loop every experiment goes through."""

import logging
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
from tqdm.auto import tqdm

from jaxgen.data import BatchIterator
from jaxgen.models.types import Batch, Metrics, Sampler
from jaxgen.train.checkpoint import Checkpointer, CheckpointError
from jaxgen.train.preemption import Preempted, StopSignals
from jaxgen.train.state import TrainState
from jaxgen.train.writers import MetricWriter, image_grid, plot_metrics

log = logging.getLogger(__name__)

SAMPLE_STREAM = 2**31 - 1  # fold_in index of the fixed key used by sampling hooks


class NonFiniteLossError(FloatingPointError):
    """A metric (loss, parameter norm) became NaN or Inf."""


def check_finite(step: int, metrics: Metrics) -> dict[str, np.ndarray]:
    """Host copy of `metrics`; raises NonFiniteLossError naming the step and the metrics."""
    values = {k: np.asarray(v) for k, v in jax.device_get(metrics).items()}
    bad = {k: v.tolist() for k, v in values.items() if not np.isfinite(v).all()}
    if bad:
        raise NonFiniteLossError(
            f"Step {step}: non-finite {bad}. Training stopped; the last checkpoint written "
            "before this step is intact. Lower the learning rate or check the inputs."
        )
    return values


def close_quietly(*closables: Checkpointer | MetricWriter | tqdm) -> None:
    """Closes what a failed run holds open; errors while closing are logged, so the error
    that stopped the run is the one reported."""
    for c in closables:
        try:
            (c.wait if isinstance(c, Checkpointer) else c.close)()
            if isinstance(c, Checkpointer):
                c.close()
        except Exception as e:  # noqa: BLE001
            log.warning("While stopping: %s", e)


def every(step: int, period: int, last: int) -> bool:
    return step == last or (period > 0 and step % period == 0)


def fit(
    state: TrainState,
    step_fn: Callable[[TrainState, Batch], tuple[TrainState, Metrics]],
    batches: BatchIterator,
    *,
    workdir: str | Path,
    steps: int,
    log_every: int = 50,
    checkpoint_every: int = 1000,
    sample_every: int = 0,
    sample_fn: Sampler | None = None,
    max_to_keep: int = 3,
    progress: bool = True,
    on_start: Callable[[], None] | None = None,
) -> TrainState:
    """Runs `step_fn(state, batch) -> (state, metrics)` until `state.step == steps`.

    Resumes from the newest readable checkpoint in workdir/checkpoints (state and data
    position), then calls `on_start()` before anything is written; logs metrics to
    metrics.jsonl and TensorBoard every `log_every` steps; checkpoints every
    `checkpoint_every` steps and at the end; writes a sample grid from `sample_fn(state,
    key) -> [N, H, W, C]` every `sample_every` steps and at the end. Metrics are checked one
    step behind dispatch, so the host never stalls the device; no checkpoint is written past
    a non-finite metric. SIGTERM or SIGINT (train.preemption) ends the run after the step in
    flight and its checkpoint, raising Preempted.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ckpt = Checkpointer(workdir / "checkpoints", max_to_keep=max_to_keep)
    try:
        restored = ckpt.restore(state)
        if restored is not None:
            state, data_state = restored
            batches.set_state(data_state)
            log.info("Resumed from step %d in %s", int(state.step), workdir)
        if on_start is not None:
            on_start()
    except BaseException:
        close_quietly(ckpt)
        raise
    start = int(state.step)
    writer = MetricWriter(workdir, start)
    bar = tqdm(
        total=steps,
        initial=start,
        disable=not progress or jax.process_index() > 0,
        desc=workdir.name,
        dynamic_ncols=True,
        unit="step",
    )
    pending, t_last, n_last = None, time.perf_counter(), start

    def drain():
        """Checks and logs the metrics of the last dispatched step."""
        nonlocal pending, t_last, n_last
        step, metrics = pending
        values = check_finite(step, metrics)
        pending = None
        if every(step, log_every, steps):
            now = time.perf_counter()
            values["img_per_s"] = (step - n_last) * batches.batch_size / (now - t_last)
            t_last, n_last = now, step
            writer.write(step, values)
            shown = {k: values[k] for k in ("loss", "img_per_s") if k in values}
            bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items()}, refresh=False)

    stopped = None
    try:
        with StopSignals() as signals:
            for step in range(start + 1, steps + 1):
                state, metrics = step_fn(state, next(batches))
                if pending is not None:
                    drain()
                pending = (step, metrics)
                bar.update(1)
                stopped = signals.requested(step) if step < steps else None
                if stopped or every(step, checkpoint_every, steps):
                    drain()
                    ckpt.save(step, state, batches.get_state())
                if stopped:
                    break
                if sample_fn is not None and every(step, sample_every, steps):
                    key = jax.random.fold_in(state.key, SAMPLE_STREAM)
                    writer.image(step, "samples", image_grid(sample_fn(state, key)))
            if pending is not None:
                drain()
            ckpt.wait()  # within the block: a signal meanwhile does not cut the save off
    except OSError as e:  # the run directory could not be written (disk full, permissions)
        close_quietly(bar, ckpt, writer)
        raise CheckpointError(
            f"Writing to {workdir} failed at step {step} ({e}). Checkpoints written before "
            "are intact; free disk space (or choose another --workdir) and run again to resume."
        ) from e
    except BaseException:
        close_quietly(bar, ckpt, writer)
        raise
    bar.close()
    ckpt.close()
    writer.close()
    if stopped:
        raise Preempted(stopped, step, str(workdir))
    if jax.process_index() == 0 and steps > start:  # (a run already at its end: no new rows)
        plot_metrics(workdir / "metrics.jsonl", workdir / "plots")
    return state
