"""Save and load a final model together with the hyperparameters that rebuild its skeleton.

``save_model(path, model, hyperparameters)`` writes the model's arrays and the JSON
hyperparameters; ``load_model(path, build)`` calls ``build(hyperparameters)`` to recreate the
module (activation functions, static sizes, everything that is not an array) and fills its
arrays from the file. This is the equinox recipe (``tree_serialise_leaves`` into a skeleton),
with the checks of :mod:`ntkflow.io.pytree_file`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import pytree_file
from .pytree_file import CheckpointError


def save_model(
    path: str | os.PathLike,
    model: Any,
    hyperparameters: dict[str, Any],
    job: str | None = None,
) -> Path:
    """Atomically write ``model`` and its (JSON-serialisable) ``hyperparameters``."""
    try:
        hp = json.loads(json.dumps(hyperparameters))
    except (TypeError, ValueError) as e:
        raise TypeError(f"save_model: hyperparameters must be JSON-serialisable ({e})") from None
    return pytree_file.write(path, model, {"kind": "model", "job": job, "hyperparameters": hp})


def read_hyperparameters(path: str | os.PathLike) -> dict[str, Any]:
    """The hyperparameters stored with a model (the file's checksum is verified)."""
    header = pytree_file.read_header(path)
    if header.get("kind") != "model":
        raise CheckpointError(f"{path}: holds a {header.get('kind')!r}, expected a 'model'")
    hp = header.get("hyperparameters")
    if not isinstance(hp, dict):
        raise CheckpointError(f"{path}: model header has no hyperparameters")
    return hp


def load_model(path: str | os.PathLike, build: Callable[[dict[str, Any]], Any]) -> Any:
    """Rebuild the skeleton with ``build(hyperparameters)`` and load the saved arrays into it."""
    hp = read_hyperparameters(path)
    try:
        like = build(hp)
    except Exception as e:
        raise CheckpointError(
            f"{path}: cannot rebuild the model from its hyperparameters {hp} "
            f"({type(e).__name__}: {e})"
        ) from e
    return pytree_file.read(path, like, kind="model")[0]


def load_run_model(run_dir: str | os.PathLike) -> tuple[Any, str, Any, Path, int | None]:
    """``(job, job kind, model, file, step)`` of a run directory: its ``model.eqx`` (through
    the job's ``build``; step None) or, unfinished, the model in its newest checkpoint."""
    from .checkpoint import load_checkpoint
    from .job import make_job, require
    from .loop import skeleton
    from .rundir import RunDir, RunDirError

    rd = RunDir.open(run_dir)
    run = rd.read_run()
    kind, job = run["job"], make_job(run["job"], run["config"])
    if rd.model.exists():
        build = require(job, "build", kind, "loading model.eqx")
        return job, kind, load_model(rd.model, build), rd.model, None
    if (latest := rd.latest_checkpoint()) is None:
        raise RunDirError(f"{rd.path}: no model.eqx and no checkpoint to evaluate")
    state, step = load_checkpoint(latest[1], skeleton(job), job=kind)
    model = require(job, "model", kind, "evaluating a checkpoint")(state)
    return job, kind, model, latest[1], step
