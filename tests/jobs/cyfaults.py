"""The `cy train` job with faults on demand, for the report and resume tests.

Job kind ``"cyfaults:make_job"`` (with ``tests/jobs`` on ``sys.path``). The config is a
``TrainConfig`` plus

- ``interrupt_at``: in the process that starts the run, send ourselves SIGTERM during this
  step (the run loop checkpoints and stops with status "interrupted"; a resumed process
  does not interrupt again);
- ``nan_at``: from this step on the loss is NaN (the loop stops with status "failed").

Jobs are cached by config like the real job's, so the end of a resumed run (final measures)
reuses the sampled points.
"""

from __future__ import annotations

import json
import os
import signal

from ntkflow.cy.train_job import CYTrainJob

_FAULTS = ("interrupt_at", "nan_at")
_JOBS: dict[str, FaultyJob] = {}


class FaultyJob(CYTrainJob):
    def __init__(self, config: dict):
        self.faults = {k: config.get(k) for k in _FAULTS}
        super().__init__({k: v for k, v in config.items() if k not in _FAULTS})
        self._first_step: int | None = None

    def step(self, state):
        at = int(state["step"]) + 1
        if self._first_step is None:
            self._first_step = at
        state, metrics = super().step(state)
        if self.faults["interrupt_at"] == at and self._first_step == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # the loop's handler only sets a flag
        if self.faults["nan_at"] is not None and at >= self.faults["nan_at"]:
            metrics = dict(metrics, loss=float("nan"))
        return state, metrics


def make_job(config: dict) -> FaultyJob:
    key = json.dumps(config, sort_keys=True, default=str)
    if key not in _JOBS:
        _JOBS.clear()
        _JOBS[key] = FaultyJob(config)
    return _JOBS[key]
