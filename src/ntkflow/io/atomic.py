"""Atomic file writes (and checked reads): a reader (or a resumed run after a crash) sees
the old file or the new one, never half of one; and JSON-safe values, JSON files, PNG figures.
The POSIX recipe: docs/derivations.md#io-atomic."""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

TMP_MARK = ".tmp-"
"""Temporary files are named ``.<target name>.tmp-<pid>``; a crash can leave them behind."""


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file, fsync, ``os.replace``)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def read_nonempty(path: Path, error: type[Exception]) -> bytes:
    """The bytes of ``path``; a missing, unreadable or empty file raises ``error`` naming it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as e:
        raise error(f"{path}: cannot read ({e})") from None
    if not data:
        raise error(f"{path}: file is empty")
    return data


def is_temporary(path: str | os.PathLike) -> bool:
    """True for a temporary file left by an interrupted :func:`atomic_write_bytes`."""
    name = Path(path).name
    return name.startswith(".") and TMP_MARK in name


def remove_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete temporary files left in ``directory`` (recursively); return what was removed."""
    removed = []
    for p in sorted(Path(directory).rglob("*")):
        if p.is_file() and is_temporary(p):
            p.unlink()
            removed.append(p)
    return removed


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/JAX scalars and arrays (and nested containers) to plain JSON types.

    Non-finite floats become ``None`` so the output stays valid JSON.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "__array__") and not isinstance(obj, str):
        arr = np.asarray(obj)
        if arr.ndim == 0:
            return to_jsonable(arr.item())
        return [to_jsonable(v) for v in arr.tolist()]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, complex):
        return {"re": to_jsonable(obj.real), "im": to_jsonable(obj.imag)}
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    return obj


def write_json(path: str | Path, obj: Any, **dumps: Any) -> Path:
    """``obj`` (made JSON-safe by :func:`to_jsonable`) written atomically to ``path``."""
    return atomic_write_text(path, json.dumps(to_jsonable(obj), **dumps))


@contextlib.contextmanager
def figure(path: str | Path, figsize=(5, 3.5), **subplots: Any) -> Iterator[Any]:
    """A matplotlib figure (Agg, no display) whose axes the block draws on; then written to
    ``path`` (its folder made) as a 120-dpi PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize, **subplots)
    try:
        yield ax
        fig.tight_layout()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
