"""Orbax checkpoints holding everything an exact resume needs: the TrainState (params,
model state, optimizer state, EMA params, step, root key) and the data-iterator position."""

import logging
import shutil
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from jaxgen.models.types import PyTree
from jaxgen.train.rundir import RunDirError

log = logging.getLogger(__name__)


# Orbax notes every read-only CheckpointManager ("Given directory is read only=..."); a reader
# of a run (sample, eval) asked for exactly that, so the note is dropped.
# Orbax notes the override below too ("Type handler registry type ... overriding").
logging.getLogger("absl").addFilter(
    lambda record: (
        not record.getMessage().startswith(
            ("Given directory is read only", "Type handler registry type")
        )
    )
)

# Orbax's default off GPU, replica-parallel saving, splits each replicated array among the
# devices that hold it with a slicing program per array shape and device: on one host that
# is only compilation, at every process's first save (a 600-array state on 4 CPU devices:
# 72 s against 1.6 s; results/checkpoint_save). One replica writes each array instead;
# the checkpoint format is the same.
ocp.type_handlers.register_type_handler(
    jax.Array,
    ocp.type_handlers.ArrayHandler(
        use_replica_parallel=False,
        array_metadata_store=ocp.type_handlers.get_type_handler(jax.Array)._array_metadata_store,
    ),
    override=True,
)

READ_ATTEMPTS = 5  # listings a reader tries while a training run removes old steps


def first_line(error: Exception, limit: int = 200) -> str:
    """The first line of `error`'s message, at most `limit` characters (tensorstore's
    messages hold whole JSON specs)."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CheckpointError(RuntimeError):
    """The run directory (a checkpoint, metrics) could not be written; earlier checkpoints
    are intact."""


def saved_steps(directory: str | Path) -> list[int]:
    """The steps of the checkpoints in `directory` ([] when there is none or no directory)."""
    if not Path(directory).is_dir():
        return []
    ckpt = Checkpointer(directory, read_only=True)
    try:
        return ckpt.steps()
    finally:
        ckpt.close()


class Checkpointer:
    """Saves `state` and `data_state` under directory/<step>/; restores the newest readable."""

    def __init__(
        self, directory: str | Path, *, max_to_keep: int = 3, read_only: bool = False
    ) -> None:
        """A training run's checkpoints; `read_only` for a reader (sample, eval, export),
        which never creates, deletes or renames anything, so it can read while a training
        process writes new checkpoints (Orbax commits a step by renaming its temporary
        folder, so a reader sees only complete steps)."""
        self.directory = Path(directory).absolute()
        self.read_only = read_only
        # A save killed midway leaves only a *.orbax-checkpoint-tmp-* folder, removed here.
        # The items ("state", "data") and their handlers come from the args of save/restore.
        if not read_only:
            options = ocp.CheckpointManagerOptions(
                preservation_policy=ocp.checkpoint_managers.LatestN(max_to_keep),
                create=True,
                cleanup_tmp_directories=True,
            )
            self.manager = ocp.CheckpointManager(self.directory, options=options)
            return
        options = ocp.CheckpointManagerOptions(read_only=True, save_interval_steps=0, create=False)
        for attempt in range(READ_ATTEMPTS):
            try:
                self.manager = ocp.CheckpointManager(self.directory, options=options)
                return
            except FileNotFoundError:  # a step the training run removed while it was listed
                if attempt == READ_ATTEMPTS - 1 or not self.directory.is_dir():
                    raise

    def save(self, step: int | jax.Array, state: PyTree, data_state: dict[str, Any]) -> None:
        """Writes checkpoint `step` (asynchronously; `wait()` blocks until it is committed)."""
        try:
            self.manager.save(
                int(step),
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state)
                ),
                force=True,
            )
        except (OSError, ValueError) as e:  # tensorstore reports ENOSPC as a ValueError
            raise CheckpointError(
                f"Saving checkpoint {step} in {self.directory} failed ({e}); earlier "
                "checkpoints are intact. Free disk space or choose another --workdir."
            ) from e

    def wait(self) -> None:
        try:
            self.manager.wait_until_finished()
        except (OSError, ValueError) as e:  # tensorstore reports ENOSPC as a ValueError
            raise CheckpointError(
                f"Writing a checkpoint in {self.directory} failed ({e}); earlier checkpoints "
                "are intact. Free disk space or choose another --workdir."
            ) from e

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def restore(
        self, state: PyTree, step: int | None = None
    ) -> tuple[PyTree, dict[str, Any]] | None:
        """(state, data_state) of checkpoint `step`, or of the newest one that reads back;
        None when there is none. Unreadable newer ones are reported and (unless read_only)
        set aside; when checkpoints exist but none reads back, RunDirError names them and
        nothing is moved (for a reader: None)."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()
        )
        if step is not None:
            restored = self.read(step, state, args)
            return restored["state"], restored["data"]
        unreadable = {}
        for s in self.steps()[::-1]:
            try:
                restored = self.read(s, state, args)
            except RunDirError:
                raise
            except Exception as e:  # noqa: BLE001 - any read failure means "try an older one"
                log.warning(
                    "Checkpoint %d in %s is unreadable (%s).", s, self.directory, first_line(e)
                )
                unreadable[s] = e
                continue
            if not self.read_only:
                for bad in unreadable:
                    self.set_aside(bad)
            return restored["state"], restored["data"]
        if unreadable and not self.read_only:
            first = first_line(next(iter(unreadable.values())))
            raise RunDirError(
                f"none of the checkpoints {sorted(unreadable)} in {self.directory} reads back "
                f"({first}); move that folder away to train from scratch, or choose another "
                "--workdir."
            )
        return None

    def read(self, step: int, state: PyTree, args: ocp.args.Composite) -> dict[str, Any]:
        """Checkpoint `step` restored into `state`'s structure; one whose optimizer state has
        the per-leaf layout of runs before jaxgen's optimizers ran on the raveled parameters
        (train.state.flat_optimizer) goes to `read_older_optimizer_state`."""
        try:
            return self.manager.restore(step, args=args)
        except ValueError as e:
            if "tree structures do not match" not in str(e):
                raise
            return self.read_older_optimizer_state(step, state, e)

    def read_older_optimizer_state(
        self, step: int, state: PyTree, error: Exception
    ) -> dict[str, Any]:
        """For a reader (sample, eval, export): the checkpoint's params, model state, EMA
        params, step and key, with `state`'s optimizer state (zeros; readers never use it).
        For a resume, which needs the optimizer state: RunDirError. `error` is raised again
        when more than the optimizer state differs."""
        saved = self.manager.restore(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(), data=ocp.args.JsonRestore()),
        )
        kept = ("step", "params", "model_state", "ema_params", "key")
        fields = {k: saved["state"].get(k, {}) for k in kept}
        target = {k: getattr(state, k) for k in kept}
        if jax.tree.structure(fields) != jax.tree.structure(target):
            raise error
        if not self.read_only:
            raise RunDirError(
                f"checkpoint {step} in {self.directory} holds the optimizer state per parameter, "
                "as jaxgen wrote it before its optimizers ran on the raveled parameters, so it "
                "cannot be resumed exactly; it still samples, evaluates and exports. Train the "
                "run again in another --workdir."
            )
        place = lambda x, t: jax.device_put(x, t.sharding)  # noqa: E731
        zeros = lambda t: jnp.zeros(t.shape, t.dtype, device=t.sharding)  # noqa: E731
        restored = state.replace(
            **jax.tree.map(place, fields, target), opt_state=jax.tree.map(zeros, state.opt_state)
        )
        log.warning(
            "Checkpoint %d in %s: an older optimizer-state layout; weights read.",
            step,
            self.directory,
        )
        return {"state": restored, "data": saved["data"]}

    def set_aside(self, step: int) -> None:
        """Renames unreadable checkpoint `step` to '<step>.unreadable' (kept for inspection,
        no longer a step), so the run resumes before it and saves that step again."""
        log.warning("Moved checkpoint %d to %d.unreadable; resuming from an older one.", step, step)
        if jax.process_index() == 0:
            target = self.directory / f"{step}.unreadable"
            shutil.rmtree(target, ignore_errors=True)
            (self.directory / str(step)).rename(target)
        self.manager.reload()

    def close(self) -> None:
        self.manager.close()
