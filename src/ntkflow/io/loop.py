"""Jobs and the generic training loop: step, log, checkpoint, survive signals, resume.
A job kind is ``"package.module:factory"``; ``factory(config)`` returns a job (``init``,
``step``, ...). Protocol and loop: docs/derivations.md#io-loop."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ntkflow import parallel

from .atomic import remove_temporaries
from .progress import err_console, progress_bar
from .pytree_file import (
    CheckpointError,
    checkpoint_path,
    load_checkpoint,
    load_model,
    save_checkpoint,
    save_model,
)
from .rundir import ReadOnlyRunDir, RunDir, RunDirError, now

PACKAGES = ("ntkflow", "jax", "jaxlib", "equinox", "optax", "diffrax", "lineax", "numpy")


def select_backend(cpu: bool | None = None) -> str | None:
    """Force the CPU backend when requested (``--cpu`` or ``NTKFLOW_CPU=1``): sets
    ``JAX_PLATFORMS=cpu``, which works only before JAX creates its backends (afterwards this
    raises instead of running on the wrong device). Returns the platform forced, or ``None``."""
    if not (cpu or os.environ.get("NTKFLOW_CPU", "").strip().lower() in ("1", "true", "yes", "on")):
        return None
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized() and jax.default_backend() != "cpu":
        raise RuntimeError(
            "--cpu / NTKFLOW_CPU=1: JAX has already started on "
            f"{jax.default_backend()}; set NTKFLOW_CPU=1 before starting the program"
        )
    os.environ["JAX_PLATFORMS"] = "cpu"
    jax.config.update("jax_platforms", "cpu")
    return "cpu"


def provenance() -> dict[str, Any]:
    """What a run records about where it runs: package versions, JAX device, host, argv."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    device = {
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "x64": bool(jax.config.jax_enable_x64),
        "jax_platforms": os.environ.get("JAX_PLATFORMS") or None,
    }
    host = {"platform": platform.platform(), "argv": list(sys.argv)}
    return {"versions": versions, "device": device, **host}


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
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise JobError(
            f"job kind {kind!r}: cannot import {module_name} ({e}); is it installed or on "
            "PYTHONPATH?"
        ) from e
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


class RunError(RuntimeError):
    """A run stopped because of an error in its state or metrics."""


class NonFiniteError(RunError):
    """NaN or inf in a metric or in the state; the last good checkpoint is kept."""


@dataclasses.dataclass(frozen=True)
class RunResult:
    """How a call to :func:`run_loop` ended."""

    run_dir: Path
    status: str  # "completed" or "interrupted"
    step: int
    n_steps: int
    metrics: dict[str, Any]
    checkpoint: Path | None
    signal: str | None = None
    resumed_from: int | None = None  # the step of the checkpoint a resume started from

    def as_dict(self) -> dict[str, Any]:
        ckpt = str(self.checkpoint) if self.checkpoint else None
        return dataclasses.asdict(self) | {"run_dir": str(self.run_dir), "checkpoint": ckpt}


def _plain(name: str, value: Any, step: int) -> float | list:
    arr = np.asarray(value)
    if arr.dtype.kind == "c":
        raise RunError(f"step {step}: metric {name!r} is complex; log real quantities")
    if arr.ndim > 1:
        raise RunError(f"step {step}: metric {name!r} has shape {arr.shape}; log scalars or 1-d")
    if not np.all(np.isfinite(arr)):
        raise NonFiniteError(f"step {step}: metric {name!r} is not finite ({arr})")
    return arr.tolist() if arr.ndim else float(arr)


def first_nonfinite_leaf(tree: Any) -> str | None:
    """Key path of the first inexact array leaf with a NaN or inf, or ``None``."""
    for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]:
        inexact = isinstance(x, jax.Array | np.ndarray) and jnp.issubdtype(x.dtype, jnp.inexact)
        if inexact and not bool(np.all(np.isfinite(np.asarray(parallel.to_host(x))))):
            return jax.tree_util.keystr(path) or "<root>"
    return None


@contextlib.contextmanager
def _signal_flag() -> Iterator[list[int]]:
    """SIGINT/SIGTERM append to the yielded list (a second one interrupts at once); the old
    handlers are restored on exit."""
    got: list[int] = []

    def handle(signum: int, frame: Any) -> None:
        if got:
            raise KeyboardInterrupt
        got.append(signum)

    old = {}
    if threading.current_thread() is threading.main_thread():
        old = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def skeleton(job: Job) -> Any:
    """The structure, shapes and dtypes of ``job.init()``, traced with
    ``eqx.filter_eval_shape`` so that resuming does not pay for an initialisation it
    overwrites; jobs whose ``init`` cannot be traced are initialised for real."""
    try:
        return eqx.filter_eval_shape(job.init)
    except Exception:  # e.g. init converts arrays to NumPy; then run it
        return job.init()


def note(message: str) -> None:
    """One line on stderr for the person running the job (not an error)."""
    err_console.print(f"note: {' '.join(message.split())}", soft_wrap=True, markup=False)


def newest_intact_checkpoint(rd: RunDir, like: Any, kind: str) -> tuple[Any, int, Path] | None:
    """``(state, step, path)`` of the newest checkpoint that loads and verifies; newer ones
    that do not (truncated by a crash, corrupt) are renamed ``*.ckpt.corrupt`` and named on
    stderr. ``None`` when the run has no checkpoint; :class:`CheckpointError` when it has
    some but none is intact."""
    found = rd.list_checkpoints()
    bad: list[str] = []
    for step, path in reversed(found):
        try:
            state, at = load_checkpoint(path, like, job=kind)
        except CheckpointError as e:
            bad.append(str(e))
            continue
        for message in bad:
            note(f"{message}; set aside")
        for s, p in found:
            if s > step and p.exists() and rd.writes:
                p.rename(p.with_name(p.name + ".corrupt"))
        if bad:
            note(f"resuming from the newest intact checkpoint, {path.name} (step {at})")
        return state, at, path
    if found:
        raise CheckpointError(
            f"{rd.path}: no intact checkpoint ({'; '.join(bad)}); the run cannot be resumed, "
            "start it again"
        )
    return None


def _check_budget(n_steps: int, checkpoint_every: int, log_every: int, keep: int) -> None:
    if min(n_steps, checkpoint_every, log_every, keep) < 1:
        raise ValueError(
            "n_steps, checkpoint_every, log_every and keep must be >= 1, got "
            f"{n_steps}, {checkpoint_every}, {log_every}, {keep}"
        )


def _stop_requested(got: list) -> bool:
    """A signal reached this process, or (a multi-process run) another one: all stop at the
    same step; a process stopped by another's signal records it as SIGTERM."""
    if not parallel.any_process(bool(got)):
        return False
    if not got:
        got.append(signal.SIGTERM)
    return True


def run_loop(
    run_dir: str | Path | RunDir,
    job: Job,
    n_steps: int,
    checkpoint_every: int,
    *,
    job_kind: str | None = None,
    log_every: int = 1,
    keep: int = 3,
    progress: bool = True,
    description: str | None = None,
) -> RunResult:
    """Run ``job`` in ``run_dir`` up to ``n_steps`` steps (resuming from its newest
    checkpoint if it has one). ``run_dir`` must exist (see :func:`start_run`)."""
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir.open(run_dir)
    kind = job_kind or rd.read_run().get("job") or type(job).__name__
    _check_budget(n_steps, checkpoint_every, log_every, keep)
    with rd.lock():
        return _run_locked(
            rd, job, kind, n_steps, checkpoint_every, log_every, keep, progress, description
        )


def _run_locked(
    rd: RunDir,
    job: Job,
    kind: str,
    n_steps: int,
    checkpoint_every: int,
    log_every: int = 1,
    keep: int = 3,
    progress: bool = True,
    description: str | None = None,
) -> RunResult:
    if rd.writes:
        remove_temporaries(rd.path)
        rd.checkpoints.mkdir(exist_ok=True)
    # a multi-process run: process 0 sets corrupt checkpoints aside before the others read
    parallel.sync("run: checkpoints checked")
    step, last_ckpt = 0, None

    def status(name: str, **fields: Any) -> None:
        ckpt = str(last_ckpt) if last_ckpt else None
        rd.write_status(name, step=step, n_steps=n_steps, checkpoint=ckpt, **fields)

    def failed(e: BaseException) -> None:
        why = str(e) if isinstance(e, RunError | CheckpointError) else f"{type(e).__name__}: {e}"
        if last_ckpt:
            kept_step = int(last_ckpt.stem.split("_")[-1])  # step_<9 digits>.ckpt
            left = f"the checkpoint of step {kept_step} is kept"
        elif rd.list_checkpoints():
            left = "no intact checkpoint is left"
        else:
            left = "no checkpoint was written"
        status("failed", error=why, left=left)

    try:
        found = newest_intact_checkpoint(rd, skeleton(job), kind)
        state, step, last_ckpt = found if found is not None else (job.init(), 0, None)
        kept = rd.truncate_metrics(step)
    except BaseException as e:
        failed(e)
        raise
    resumed_from = step if found is not None else None
    time_offset = float(kept[-1].get("time_s", 0.0)) if kept else 0.0
    last = kept[-1] if kept else {}
    last_metrics = {k: v for k, v in last.items() if k not in ("step", "time_s")}

    def checkpoint(at: int) -> Path:
        bad = first_nonfinite_leaf(state)
        if bad is not None:
            raise NonFiniteError(f"step {at}: state leaf {bad} is not finite")
        if not rd.writes:
            return checkpoint_path(rd.checkpoints, at)
        p = save_checkpoint(checkpoint_path(rd.checkpoints, at), state, step=at, job=kind)
        for _, old in rd.list_checkpoints()[:-keep]:
            old.unlink(missing_ok=True)
        return p

    def lost(why: str) -> str:  # another process of a multi-process run died
        failed(RunError(why))
        kept = f"the checkpoint of step {int(last_ckpt.stem.split('_')[-1])} is kept; "
        resume = f"continue with `ntkflow resume {rd.path}` started as this run was"
        return (kept if last_ckpt else "") + resume

    forget = parallel.on_lost_process(lost)
    finished = getattr(job, "finished", None)
    start = time.perf_counter()
    status("running", started=now())
    label = description or getattr(job, "description", None) or kind
    bar = progress_bar(label, total=n_steps, disable=not progress)
    try:
        with _signal_flag() as got, rd.metrics_writer() as log, bar as advance:
            advance(0, completed=step)
            while step < n_steps and not _stop_requested(got):
                if callable(finished) and finished(state):  # e.g. a time budget in the state
                    break
                state, metrics = job.step(state)
                step += 1
                if step % log_every == 0 or step == n_steps:
                    plain = {k: _plain(k, v, step) for k, v in metrics.items()}
                    elapsed = time_offset + time.perf_counter() - start
                    log.write({"step": step, "time_s": round(elapsed, 6), **plain})
                    last_metrics = plain
                if step % checkpoint_every == 0 and step < n_steps:
                    log.sync()
                    last_ckpt = checkpoint(step)
                    status("running")
                shown = [f"{k}={v:.4g}" for k, v in last_metrics.items() if isinstance(v, float)]
                advance(1, status=" ".join(shown[:2]))
            log.sync()
            if step > 0 and last_ckpt != checkpoint_path(rd.checkpoints, step):
                last_ckpt = checkpoint(step)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):  # a second Ctrl-C: stop now, no new checkpoint
            status("interrupted", signal="SIGINT")
        else:
            failed(e)
        raise
    finally:
        forget()
    name = signal.Signals(got[0]).name if got else None
    model, hp = getattr(job, "model", None), getattr(job, "hyperparameters", None)
    if name is None and callable(model) and callable(hp) and rd.writes:
        try:
            save_model(rd.model, model(state), hp(), job=kind)
        except BaseException as e:
            failed(e)
            raise
    parallel.sync("run: model written")  # the other processes read it next
    end = "completed" if name is None else "interrupted"
    status(end, **({} if name is None else {"signal": name}))
    return RunResult(rd.path, end, step, n_steps, last_metrics, last_ckpt, name, resumed_from)


def start_run(
    run_dir: str | Path | RunDir,
    job_kind: str,
    config: dict[str, Any],
    *,
    n_steps: int,
    checkpoint_every: int,
    seed: int | None = None,
    cpu: bool | None = None,
    log_every: int = 1,
    keep: int = 3,
    progress: bool = True,
) -> RunResult:
    """Claim ``run_dir`` (:meth:`RunDir.reserve`, or a :class:`RunDir` from :meth:`RunDir.new`),
    build the job ``job_kind`` from ``config``, write ``run.json`` and run it; a job that
    cannot be built leaves nothing behind."""
    _check_budget(n_steps, checkpoint_every, log_every, keep)
    select_backend(cpu)
    if isinstance(run_dir, RunDir):
        rd = run_dir
    else:  # in a multi-process run process 0 claims the directory, the others follow it
        rd = RunDir.reserve(run_dir) if parallel.is_writer() else ReadOnlyRunDir(run_dir)
        parallel.sync("run: directory claimed")
    with rd.lock():
        try:
            job = make_job(job_kind, config)
        except BaseException:
            rd.discard()
            raise
        rd.write_run(
            {
                "job": job_kind,
                "config": config,
                "seed": seed if seed is not None else config.get("seed"),
                "n_steps": n_steps,
                "checkpoint_every": checkpoint_every,
                "loop": {"log_every": log_every, "keep": keep},
                **provenance(),
                "resumes": [],
            }
        )
        return _run_locked(rd, job, job_kind, n_steps, checkpoint_every, log_every, keep, progress)


def resume_run(
    run_dir: str | Path,
    *,
    n_steps: int | None = None,
    cpu: bool | None = None,
    progress: bool = True,
) -> RunResult:
    """Continue the run in ``run_dir`` from its newest intact checkpoint, up to ``n_steps``
    (default: the budget in ``run.json``); a failure is recorded in ``status.json``."""
    select_backend(cpu)
    rd = (RunDir if parallel.is_writer() else ReadOnlyRunDir).open(run_dir)
    with rd.lock():
        info = rd.read_run()
        for key in ("job", "config", "n_steps", "checkpoint_every"):
            if key not in info:
                raise RunDirError(f"{rd.run_json}: missing {key!r}")
        total = int(n_steps if n_steps is not None else info["n_steps"])
        latest = rd.latest_checkpoint()
        at = latest[0] if latest else 0
        if latest is not None and total < at:
            raise RunDirError(
                f"{rd.path}: already at step {at}, cannot stop at {total}; "
                f"give --steps {at} or more"
            )
        try:
            job = make_job(info["job"], info["config"])
        except BaseException as e:
            rd.write_status("failed", error=f"{type(e).__name__}: {e}", step=at)
            raise
        resume = {"time": now(), "from_step": at, "n_steps": total}
        rd.update_run(resumes=[*info.get("resumes", []), resume | provenance()], n_steps=total)
        loop = info.get("loop", {})
        every, log_every = int(info["checkpoint_every"]), int(loop.get("log_every", 1))
        keep = int(loop.get("keep", 3))
        return _run_locked(rd, job, info["job"], total, every, log_every, keep, progress)


def load_run_model(run_dir: str | Path) -> tuple[Any, str, Any, Path, int | None]:
    """``(job, job kind, model, file, step)`` of a run directory: its ``model.eqx`` (through
    the job's ``build``; step None) or, unfinished, the model in its newest checkpoint."""
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
