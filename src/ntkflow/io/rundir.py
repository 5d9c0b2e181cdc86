"""A run directory: everything a run needs to be resumed, inspected and trusted.
Layout: docs/derivations.md#io-rundir."""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .pytree_file import list_checkpoints

RUN_FORMAT = 1


class RunDirError(ValueError):
    """A run directory is missing, not a run directory, or has a corrupt file."""


def now() -> str:
    """UTC time stamp, ISO 8601."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunDirError(f"{path}: not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunDirError(f"{path}: corrupt JSON ({e})") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object")
    return data


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"


class RunDir:
    """Paths and files of one run directory (layout: docs/derivations.md#io-rundir)."""

    writes = True  # False in the other processes of a multi-process run (:class:`ReadOnlyRunDir`)

    def __init__(self, path: str | os.PathLike):
        self.path = p = Path(path)
        self.created = False  # made by this process (reserve/new): discard() removes it
        self.run_json, self.status_json = p / "run.json", p / "status.json"
        self.metrics_jsonl, self.checkpoints = p / "metrics.jsonl", p / "checkpoints"
        self.model, self.figures, self.report = p / "model.eqx", p / "figures", p / "report.html"

    # -- life cycle ----------------------------------------------------------------------
    @classmethod
    def reserve(cls, path: str | os.PathLike) -> RunDir:
        """Claim ``path`` for a new run: create it atomically or accept an existing empty
        directory (a non-empty one is refused: continuing a run is ``ntkflow resume``)."""
        rd = cls(path)
        rd.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(rd.path)
            rd.created = True
        except FileExistsError:
            if not rd.path.is_dir() or any(rd.path.iterdir()):
                hint = " (use `ntkflow resume` to continue it)" if rd.run_json.exists() else ""
                raise RunDirError(
                    f"{rd.path}: already exists and is not empty{hint}; choose another --run-dir"
                ) from None
        return rd

    @classmethod
    def new(cls, parent: str | os.PathLike, prefix: str) -> RunDir:
        """A fresh run directory ``parent/<prefix>-<UTC time>-<pid>-<4 random hex>``, created
        atomically: two runs started in the same second never share one."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        for _ in range(100):
            name = f"{prefix}-{stamp}-{os.getpid()}-{secrets.token_hex(2)}"
            path = Path(parent) / name
            Path(parent).mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(path)
            except FileExistsError:
                continue
            rd = cls(path)
            rd.created = True
            return rd
        raise RunDirError(f"{parent}: could not create a fresh run directory named {prefix}-...")

    def discard(self) -> None:
        """Remove a directory that :meth:`reserve`/:meth:`new` made for a run
        that never started (a refused or failed set-up leaves nothing behind)."""
        import shutil

        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for p in self.path.iterdir():  # a directory the user made: empty it, keep it
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)

    @classmethod
    def create(cls, path: str | os.PathLike, run: dict[str, Any]) -> RunDir:
        """Make a new run directory (:meth:`reserve`) and write ``run.json`` (:meth:`write_run`)."""
        rd = cls.reserve(path)
        rd.write_run(run)
        return rd

    def write_run(self, run: dict[str, Any]) -> None:
        """Lay out a reserved directory: ``checkpoints/``, ``figures/``, ``run.json`` (``run``
        plus format and time) and ``status.json`` ("created")."""
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.figures.mkdir(exist_ok=True)
        info = {"run_format": RUN_FORMAT, "created": now(), **run}
        atomic_write_text(self.run_json, _dump(info))
        self.write_status("created", step=0)

    @classmethod
    def open(cls, path: str | os.PathLike) -> RunDir:
        """Open an existing run directory (checks that ``run.json`` is readable)."""
        rd = cls(path)
        if not rd.path.is_dir():
            raise RunDirError(f"{rd.path}: no such run directory")
        if not rd.run_json.exists():
            raise RunDirError(f"{rd.path}: not a run directory (no run.json)")
        info = rd.read_run()
        if info.get("run_format") != RUN_FORMAT:
            raise RunDirError(f"{rd.run_json}: unknown run format {info.get('run_format')!r}")
        return rd

    def read_run(self) -> dict[str, Any]:
        return _read_json(self.run_json)

    def update_run(self, **fields: Any) -> None:
        """Rewrite ``run.json`` atomically with ``fields`` changed."""
        atomic_write_text(self.run_json, _dump(self.read_run() | fields))

    def read_status(self) -> dict[str, Any]:
        """``status.json`` as written; see :meth:`status` for what is true now."""
        if not self.status_json.exists():
            return {"status": "unknown"}
        return _read_json(self.status_json)

    def status(self) -> dict[str, Any]:
        """``status.json``, corrected: a run recorded as "running" (or "created") that no
        process holds any more (killed by SIGKILL, out of memory, power cut) is "crashed",
        with ``recorded`` the status its file still shows."""
        st = self.read_status()
        if st.get("status") in ("running", "created") and not self.in_use():
            st = {**st, "status": "crashed", "recorded": st.get("status")}
        return st

    def in_use(self) -> bool:
        """Whether a live process holds the run's lock (the kernel drops a dead one's)."""
        path = self.path / "lock"
        if not path.exists():
            return False
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # releases the probe
        return False

    def write_status(self, status: str, **fields: Any) -> None:
        record = {"status": status, "time": now(), "pid": os.getpid(), **fields}
        atomic_write_text(self.status_json, _dump(record))

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the run: two processes never drive one run. The kernel
        drops it when the holder dies, even by SIGKILL."""
        path = self.path / "lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                raise RunDirError(
                    f"{self.path}: the run is in use by another process (pid {holder})"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock

    # -- checkpoints ---------------------------------------------------------------------
    def list_checkpoints(self) -> list[tuple[int, Path]]:
        return list_checkpoints(self.checkpoints)

    def latest_checkpoint(self) -> tuple[int, Path] | None:
        return (self.list_checkpoints() or [None])[-1]

    # -- metrics -------------------------------------------------------------------------
    def _metric_lines(self) -> list[tuple[str, dict[str, Any]]]:
        """``(text, record)`` of the complete lines of ``metrics.jsonl``; an
        unterminated last line (cut by a crash) is left out, a corrupt line is an error."""
        if not self.metrics_jsonl.exists():
            return []
        out = []
        # the part after the last newline is incomplete
        for i, line in enumerate(self.metrics_jsonl.read_text().split("\n")[:-1], start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise RunDirError(f"{self.metrics_jsonl}:{i}: corrupt line ({e})") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("step"), int):
                raise RunDirError(f"{self.metrics_jsonl}:{i}: not a metrics record")
            out.append((line, rec))
        return out

    def read_metrics(self) -> list[dict[str, Any]]:
        """The records of ``metrics.jsonl``, in order."""
        return [rec for _, rec in self._metric_lines()]

    def truncate_metrics(self, step: int) -> list[dict[str, Any]]:
        """Keep the records with ``step <= step`` (and drop an unterminated last line),
        atomically; return them. Used on resume: later records will be logged again."""
        kept = [(line, rec) for line, rec in self._metric_lines() if rec["step"] <= step]
        atomic_write_text(self.metrics_jsonl, "".join(line + "\n" for line, _ in kept))
        return [rec for _, rec in kept]

    def metrics_writer(self) -> MetricsWriter:
        return MetricsWriter(self.metrics_jsonl)


class ReadOnlyRunDir(RunDir):
    """The run directory as the processes other than process 0 of a multi-process run see it:
    they read checkpoints and metrics, and every write (status, metrics, run.json, lock) is
    process 0's alone."""

    writes = False

    def write_run(self, run: dict[str, Any]) -> None:
        pass

    def update_run(self, **fields: Any) -> None:
        pass

    def write_status(self, status: str, **fields: Any) -> None:
        pass

    def discard(self) -> None:
        pass

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        yield

    def truncate_metrics(self, step: int) -> list[dict[str, Any]]:
        return [rec for rec in self.read_metrics() if rec["step"] <= step]

    def metrics_writer(self) -> _NoMetrics:
        return _NoMetrics()


class _NoMetrics:
    def write(self, record: dict[str, Any]) -> None:
        pass

    def sync(self) -> None:
        pass

    def __enter__(self) -> _NoMetrics:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class MetricsWriter:
    """Append-only JSON-lines log; each record reaches the kernel in one ``write`` call."""

    def __init__(self, path: Path):
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, allow_nan=False) + "\n").encode()
        n = os.write(self._fd, line)
        if n != len(line):  # regular files do not short-write unless the disk is full
            raise OSError(f"metrics log: short write ({n} of {len(line)} bytes)")

    def sync(self) -> None:
        os.fsync(self._fd)

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)
