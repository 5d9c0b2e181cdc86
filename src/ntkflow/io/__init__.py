"""Runs a user can trust: configs, run directories, checkpoints, resume, reports, interop.

:mod:`.config` (checks on user input, TOML configs), :mod:`.rundir` (the run directory),
:mod:`.pytree_file` (checkpoints and models), :mod:`.loop` (jobs, backend, ``start_run``,
``resume_run``), :mod:`.report`, :mod:`.cymetric` (point files), :mod:`.atomic` (file writes).
"""
# ruff: noqa: F401  (the names below are this package's API)

from .config import ConfigError, InputError, from_dict, load_toml, option, resolve_config, to_dict
from .loop import (
    Job,
    JobError,
    NonFiniteError,
    RunError,
    RunResult,
    load_factory,
    make_job,
    resume_run,
    run_loop,
    select_backend,
    start_run,
)
from .pytree_file import (
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    load_model,
    save_checkpoint,
    save_model,
)
from .rundir import RunDir, RunDirError
