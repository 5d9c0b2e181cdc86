"""The generic training loop: step, log, checkpoint, survive signals, resume.

``run_loop`` drives ``state, metrics = job.step(state)`` for ``n_steps`` steps (fewer when the
job has a ``finished(state)`` that turns true, e.g. a time budget carried in the state). It

- appends ``{"step", "time_s", **metrics}`` to ``metrics.jsonl`` every ``log_every`` steps;
- writes an atomic checkpoint every ``checkpoint_every`` steps, at the end, and when SIGINT
  or SIGTERM arrives (the handler only sets a flag; the loop checkpoints after the current
  step and returns with status "interrupted");
- stops on a NaN/inf in the metrics or in the state (checked before each checkpoint) with a
  :class:`NonFiniteError`, keeping the last good checkpoint;
- resumes from the newest INTACT checkpoint when the run directory has one (a truncated or
  corrupt newer one is set aside as ``*.ckpt.corrupt`` and named on stderr), cutting the
  metrics log back to that step, so the resumed log equals the uninterrupted one;
- holds the run directory's lock, so two processes never drive one run, and keeps
  ``status.json`` true: "running" only while it holds the lock, "failed" with the error (and
  which checkpoint is left) when anything raises, "interrupted" with the signal.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

from .checkpoint import CheckpointError, checkpoint_path, load_checkpoint, save_checkpoint
from .environment import provenance, select_backend
from .job import Job, make_job
from .model import save_model
from .progress import err_console, progress_bar
from .rundir import RunDir, RunDirError, now


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
        d = dataclasses.asdict(self)
        d["run_dir"] = str(self.run_dir)
        d["checkpoint"] = str(self.checkpoint) if self.checkpoint else None
        return d


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
        if isinstance(x, jax.Array | np.ndarray) and jax.numpy.issubdtype(
            x.dtype, jax.numpy.inexact
        ):
            if not bool(np.all(np.isfinite(np.asarray(x)))):
                return jax.tree_util.keystr(path) or "<root>"
    return None


class _SignalFlag:
    """SIGINT/SIGTERM set a flag (a second one interrupts at once); restored on exit."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> _SignalFlag:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
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
            if s > step and p.exists():
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


def _prune(rd: RunDir, keep: int) -> None:
    for _, p in rd.list_checkpoints()[:-keep]:
        p.unlink(missing_ok=True)


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
    log_every: int,
    keep: int,
    progress: bool,
    description: str | None,
) -> RunResult:
    rd.remove_temporaries()
    rd.checkpoints.mkdir(exist_ok=True)

    step, time_offset = 0, 0.0
    last_ckpt: Path | None = None

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
        if found is not None:
            state, step, last_ckpt = found
            kept = rd.truncate_metrics(step)
            time_offset = float(kept[-1].get("time_s", 0.0)) if kept else 0.0
        else:
            state = job.init()
            kept = rd.truncate_metrics(0)
    except BaseException as e:
        failed(e)
        raise
    resumed_from = step if found is not None else None
    last = kept[-1] if kept else {}
    last_metrics = {k: v for k, v in last.items() if k not in ("step", "time_s")}

    def checkpoint(at: int) -> Path:
        bad = first_nonfinite_leaf(state)
        if bad is not None:
            raise NonFiniteError(f"step {at}: state leaf {bad} is not finite")
        p = save_checkpoint(checkpoint_path(rd.checkpoints, at), state, step=at, job=kind)
        _prune(rd, keep)
        return p

    start = time.perf_counter()
    status("running", started=now())
    label = description or getattr(job, "description", None) or kind
    bar = progress_bar(label, total=n_steps, disable=not progress)
    try:
        with _SignalFlag() as flag, rd.metrics_writer() as log, bar as advance:
            advance(0, completed=step)
            while step < n_steps and flag.signum is None and not _finished(job, state):
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

    if flag.signum is not None:
        name = signal.Signals(flag.signum).name
        status("interrupted", signal=name)
        return RunResult(
            rd.path, "interrupted", step, n_steps, last_metrics, last_ckpt, name, resumed_from
        )

    try:
        if callable(getattr(job, "model", None)) and callable(
            getattr(job, "hyperparameters", None)
        ):
            save_model(rd.model, job.model(state), job.hyperparameters(), job=kind)
    except BaseException as e:
        failed(e)
        raise
    status("completed")
    return RunResult(
        rd.path, "completed", step, n_steps, last_metrics, last_ckpt, None, resumed_from
    )


def _finished(job: Job, state: Any) -> bool:
    """A job may end before ``n_steps`` (e.g. on a time budget carried in its state): its
    optional ``finished(state)``; the run then completes at the current step."""
    fn = getattr(job, "finished", None)
    return bool(fn(state)) if callable(fn) else False


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
    """Start the job ``job_kind`` (an import string ``"module:factory"``) built from
    ``config`` in a new run directory, and run it.

    ``run_dir`` is claimed first (atomically, see :meth:`RunDir.reserve`; pass a
    :class:`RunDir` from :meth:`RunDir.new` for a fresh unique name) and locked; then the job
    is built (sampling, set-up) and ``run.json`` written (config, seed, versions, device). If
    building the job fails, the directory is removed again: a run that never started leaves
    nothing behind.
    """
    _check_budget(n_steps, checkpoint_every, log_every, keep)
    select_backend(cpu)
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir.reserve(run_dir)
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
        return _run_locked(
            rd, job, job_kind, n_steps, checkpoint_every, log_every, keep, progress, None
        )


def resume_run(
    run_dir: str | Path,
    *,
    n_steps: int | None = None,
    cpu: bool | None = None,
    progress: bool = True,
) -> RunResult:
    """Continue the run in ``run_dir`` from its newest intact checkpoint (``ntkflow resume``).

    ``n_steps`` extends (or keeps) the step budget saved in ``run.json``. A failure here
    (the job cannot be rebuilt, no checkpoint is intact) is recorded in ``status.json``.
    """
    select_backend(cpu)
    rd = RunDir.open(run_dir)
    with rd.lock():
        info = rd.read_run()
        for key in ("job", "config", "n_steps", "checkpoint_every"):
            if key not in info:
                raise RunDirError(f"{rd.run_json}: missing {key!r}")
        total = int(n_steps if n_steps is not None else info["n_steps"])
        latest = rd.latest_checkpoint()
        if latest is not None and total < latest[0]:
            raise RunDirError(
                f"{rd.path}: already at step {latest[0]}, cannot stop at {total}; "
                f"give --steps {latest[0]} or more"
            )
        try:
            job = make_job(info["job"], info["config"])
        except BaseException as e:
            rd.write_status(
                "failed", error=f"{type(e).__name__}: {e}", step=latest[0] if latest else 0
            )
            raise
        resume = {"time": now(), "from_step": latest[0] if latest else 0, "n_steps": total}
        rd.update_run(resumes=[*info.get("resumes", []), resume | provenance()], n_steps=total)
        loop = info.get("loop", {})
        return _run_locked(
            rd,
            job,
            info["job"],
            total,
            int(info["checkpoint_every"]),
            int(loop.get("log_every", 1)),
            int(loop.get("keep", 3)),
            progress,
            None,
        )


__all__ = [
    "NonFiniteError",
    "RunError",
    "RunResult",
    "resume_run",
    "run_loop",
    "start_run",
]
