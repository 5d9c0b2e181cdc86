"""Shared CLI plumbing: JSON output, rich tables and progress bars on stderr.

Every command takes ``--json``; with it, exactly one JSON object is printed on stdout and all
progress goes to stderr, so ``ntkflow ... --json | jq`` works.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

err_console = Console(stderr=True)
out_console = Console()


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


def emit(result: dict[str, Any], as_json: bool, title: str = "result") -> None:
    """Print ``result``: one JSON object on stdout with ``--json``, else a readable table."""
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(result)) + "\n")
        sys.stdout.flush()
        return
    table = Table(title=title, show_header=True)
    table.add_column("key", style="bold")
    table.add_column("value")
    for k, v in to_jsonable(result).items():
        if isinstance(v, float):
            s = f"{v:.6g}"
        elif isinstance(v, list) and v and all(isinstance(u, float) for u in v):
            s = "[" + ", ".join(f"{u:.4g}" for u in v) + "]"
        else:
            s = str(v)
        table.add_row(str(k), s)
    out_console.print(table)


def info(message: str) -> None:
    """A human-readable status line on stderr."""
    err_console.print(message)


@contextmanager
def progress_bar(description: str, total: float | None, disable: bool = False) -> Iterator[Any]:
    """A rich progress bar on stderr. Yields a callable ``advance(amount=1, **fields)``."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if total is not None and float(total).is_integer() else TextColumn(""),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=err_console,
        disable=disable,
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total, status="")

        def advance(amount: float = 1, status: str | None = None, completed: float | None = None):
            if completed is not None:
                progress.update(task, completed=completed)
            else:
                progress.advance(task, amount)
            if status is not None:
                progress.update(task, status=status)

        yield advance


def track(iterable: Iterable, description: str, total: int | None = None) -> Iterator:
    """Iterate with a progress bar on stderr."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with progress_bar(description, total) as advance:
        for item in iterable:
            yield item
            advance()


def fail(message: str, code: int = 2) -> None:
    """Print a clear error on stderr and exit with ``code`` (raises ``typer.Exit``)."""
    import typer

    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)
