"""Checkpoints: the whole state of a run (parameters, optimiser state, PRNG key, step, data)
as one atomically written file ``checkpoints/step_<step>.ckpt``.

The state is any pytree; it is restored into the skeleton the job builds from its config
(``job.init()``), so shapes and dtypes are checked against the config rather than trusted
from the file. See :mod:`ntkflow.io.pytree_file` for the format and the checks.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from . import pytree_file
from .atomic import is_temporary
from .pytree_file import CheckpointError

__all__ = [
    "CheckpointError",
    "checkpoint_path",
    "list_checkpoints",
    "load_checkpoint",
    "save_checkpoint",
]

_NAME = re.compile(r"^step_(\d+)\.ckpt$")


def checkpoint_path(directory: str | os.PathLike, step: int) -> Path:
    """``directory/step_<step, 9 digits>.ckpt``."""
    return Path(directory) / f"step_{step:09d}.ckpt"


def list_checkpoints(directory: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of the checkpoints in ``directory``, oldest first (temp files skipped)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_file() and not is_temporary(p):
            found.append((int(m.group(1)), p))
    return sorted(found)


def save_checkpoint(path: str | os.PathLike, state: Any, *, step: int, job: str) -> Path:
    """Atomically write ``state`` (any pytree) as the checkpoint of ``step`` of job ``job``."""
    return pytree_file.write(path, state, {"kind": "checkpoint", "job": job, "step": int(step)})


def load_checkpoint(
    path: str | os.PathLike, like: Any, *, job: str | None = None
) -> tuple[Any, int]:
    """Restore a checkpoint into the skeleton ``like``; return ``(state, step)``.

    Raises :class:`CheckpointError` for an empty, truncated, corrupt or foreign file, a
    checkpoint of another job, or one whose tree structure does not match ``like``.
    """
    state, header = pytree_file.read(path, like, kind="checkpoint", job=job)
    step = header.get("step")
    if not isinstance(step, int) or step < 0:
        raise CheckpointError(f"{path}: header has no valid step ({step!r})")
    return state, step
