"""The job protocol: what a long computation provides so that ntkflow can run, checkpoint,
resume, report and evaluate it.

A *job kind* is an import string ``"package.module:factory"``; ``factory(config)`` takes the
resolved config (a plain dict, as saved in ``run.json``) and returns a job::

    class MyJob:
        def init(self) -> State                      # initial state (a pytree), from the seed
        def step(self, state) -> (State, metrics)    # one step; metrics: name -> scalar/1-d
        # optional, for the final model and `ntkflow cy eval`:
        def hyperparameters(self) -> dict            # JSON; rebuilds the model skeleton
        def model(self, state) -> Module            # the model inside a state
        def build(self, hyperparameters) -> Module  # a skeleton with the right shapes
        def metric(self, model, points) -> Array    # batched metric at user points

Reproducibility contract: everything random in ``step`` comes from the state (a PRNG key it
carries, or ``fold_in(key(seed), step)`` with the step counter in the state). Then the
trajectory after a resume is the uninterrupted one, bit for bit on CPU.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable


class JobError(ValueError):
    """A job kind cannot be imported, or the object it names is not a job."""


@runtime_checkable
class Job(Protocol):
    def init(self) -> Any: ...

    def step(self, state: Any) -> tuple[Any, Mapping[str, Any]]: ...


def load_factory(kind: str) -> Callable[[dict[str, Any]], Job]:
    """Import the factory named by ``"module:attribute"``."""
    module_name, sep, attr = kind.partition(":")
    if not sep or not module_name or not attr:
        raise JobError(f"job kind {kind!r}: expected 'package.module:factory'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise JobError(
            f"job kind {kind!r}: cannot import {module_name} ({e}); is it installed or on "
            "PYTHONPATH?"
        ) from e
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise JobError(f"job kind {kind!r}: {module_name} has no attribute {attr}") from None
    if not callable(obj):
        raise JobError(f"job kind {kind!r}: {attr} is not callable")
    return obj


def make_job(kind: str, config: dict[str, Any]) -> Job:
    """``load_factory(kind)(config)``, checked to be a :class:`Job`."""
    job = load_factory(kind)(config)
    if not isinstance(job, Job):
        raise JobError(f"job kind {kind!r}: the factory returned {job!r}, without init/step")
    return job


def require(job: Any, method: str, kind: str, purpose: str) -> Callable[..., Any]:
    """The optional method ``method`` of ``job``, or a :class:`JobError` saying what needs it."""
    fn = getattr(job, method, None)
    if not callable(fn):
        raise JobError(f"job kind {kind!r} has no {method}(), which {purpose} needs")
    return fn
