"""Runs a user can trust: configs, run directories, checkpoints, resume, reports, interop.

- :mod:`.validate`     checks on user input (numbers, choices, "did you mean", memory)
- :mod:`.config`       TOML configs into frozen dataclasses, flags override, clear errors
- :mod:`.progress`     rich progress bars and stage spinners on stderr
- :mod:`.rundir`       the run directory layout (run.json, status.json, metrics.jsonl, ...)
- :mod:`.checkpoint`   atomic checkpoints of any pytree, verified on load
- :mod:`.model`        ``save_model`` / ``load_model`` with hyperparameters
- :mod:`.job`          the job protocol ("module:factory" job kinds)
- :mod:`.loop`         ``run_loop``, ``start_run``, ``resume_run``
- :mod:`.report`       ``write_report``: self-contained HTML with the run's curves
- :mod:`.cymetric`     cymetric's ``dataset.npz`` layout; :mod:`.points` ntkflow's points npz
- :mod:`.environment`  ``--cpu`` / ``NTKFLOW_CPU``, versions and device for run.json
"""

from .checkpoint import CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from .config import ConfigError, from_dict, load_toml, option, resolve_config, to_dict
from .environment import select_backend
from .job import Job, JobError, load_factory, make_job
from .loop import NonFiniteError, RunError, RunResult, resume_run, run_loop, start_run
from .model import load_model, save_model
from .rundir import RunDir, RunDirError
from .validate import InputError

__all__ = [
    "CheckpointError",
    "ConfigError",
    "InputError",
    "Job",
    "JobError",
    "NonFiniteError",
    "RunDir",
    "RunDirError",
    "RunError",
    "RunResult",
    "from_dict",
    "list_checkpoints",
    "load_checkpoint",
    "load_factory",
    "load_model",
    "make_job",
    "option",
    "resolve_config",
    "resume_run",
    "run_loop",
    "save_checkpoint",
    "save_model",
    "select_backend",
    "start_run",
    "to_dict",
    "load_toml",
]
