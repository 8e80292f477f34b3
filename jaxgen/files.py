"""Atomic file writes, the one way jaxgen writes a file that someone may read while it is
written or after a crash: run files, checkpoints' side files, results, caches, pictures."""

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np


def write_atomic(path: str | os.PathLike, write_fn: Callable[[Path], object]) -> None:
    """write_fn(tmp) writes the content to `tmp`, a file beside `path`; it is flushed to disk
    (fsync) and renamed over `path` (os.replace). Readers see the old file or the whole new
    one, never a partial one; on any error `path` is untouched and `tmp` removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write_fn(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, content: bytes) -> None:
    write_atomic(path, lambda tmp: Path(tmp).write_bytes(content))


def write_npz_atomic(path: str | os.PathLike, **arrays) -> None:
    """np.savez of `arrays` to `path` (no .npz suffix added), atomically."""

    def save(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_atomic(path, save)


def _numpy_to_json(value):
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON serialisable.")


def write_json(path: str | os.PathLike, obj) -> None:
    """`obj` as indented JSON, atomically (numpy values become lists and numbers); nothing is
    written if a value cannot be serialised."""
    write_bytes_atomic(path, (json.dumps(obj, indent=2, default=_numpy_to_json) + "\n").encode())


class DamagedFileError(ValueError):
    """A file that is missing, empty, truncated or holds something else than it should."""


def read_json(path: str | os.PathLike, kind: type = dict, fix: str = "") -> object:
    """The JSON value in file `path`, which must be a `kind`; DamagedFileError naming the
    file, what is wrong with it and `fix` when it is missing, unreadable, not JSON or of
    another type."""
    path = Path(path)
    try:
        text = path.read_text()
        value = json.loads(text)
        problem = (
            None
            if isinstance(value, kind)
            else f"holds a {type(value).__name__}, not a {kind.__name__}"
        )
    except FileNotFoundError:
        problem = "is missing"
    except (OSError, UnicodeDecodeError) as e:
        problem = f"cannot be read ({e})"
    except json.JSONDecodeError as e:
        problem = "is empty" if not text.strip() else f"is not valid JSON ({e})"
    if problem:
        raise DamagedFileError(f"{path} {problem}; {fix}" if fix else f"{path} {problem}.")
    return value
