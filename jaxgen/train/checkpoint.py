"""Orbax checkpoints holding everything an exact resume needs: the TrainState (params,
model state, optimizer state, EMA params, step, root key) and the data-iterator position."""

import logging
import shutil
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from jaxgen.models.types import PyTree

log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """The run directory (a checkpoint, metrics) could not be written; earlier checkpoints
    are intact."""


class Checkpointer:
    """Saves `state` and `data_state` under directory/<step>/; restores the newest readable."""

    def __init__(self, directory: str | Path, *, max_to_keep: int = 3) -> None:
        self.directory = Path(directory).absolute()
        # A save killed midway leaves only a *.orbax-checkpoint-tmp-* folder, removed here.
        # The items ("state", "data") and their handlers come from the args of save/restore.
        options = ocp.CheckpointManagerOptions(
            preservation_policy=ocp.checkpoint_managers.LatestN(max_to_keep),
            create=True,
            cleanup_tmp_directories=True,
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options)

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
        an unreadable one is reported and set aside. None when there is none."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
        candidates = [step] if step is not None else self.steps()[::-1]
        for s in candidates:
            try:
                restored = self.manager.restore(
                    s,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()
                    ),
                )
            except Exception as e:  # noqa: BLE001 - any read failure means "try an older one"
                if step is not None:
                    raise
                self.set_aside(s, e)
                continue
            return restored["state"], restored["data"]
        return None

    def set_aside(self, step: int, error: Exception) -> None:
        """Renames unreadable checkpoint `step` to '<step>.unreadable' (kept for inspection,
        no longer a step), so the run can resume before it and save that step again."""
        log.warning(
            "Checkpoint %d in %s is unreadable (%s); moved to %d.unreadable, "
            "resuming from an older one.",
            step,
            self.directory,
            error,
            step,
        )
        if jax.process_index() == 0:
            target = self.directory / f"{step}.unreadable"
            shutil.rmtree(target, ignore_errors=True)
            (self.directory / str(step)).rename(target)
        self.manager.reload()

    def close(self) -> None:
        self.manager.close()
