"""Atomic file writes (and checked reads): a reader (or a resumed run after a crash) sees
the old file or the new one, never half of one.

The recipe is the POSIX one: write to a temporary file in the same directory, ``fsync`` it,
``os.replace`` it over the target (atomic within one file system), then ``fsync`` the
directory so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

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
