"""Progress on stderr: a rich bar for counted work and a spinner for a stage of unknown length.

Shared by the library (the run loop, the Calabi–Yau training job) and the command line, so it
lives here, beside the numerical layers and importing none of them (and never the CLI).

Layout: the label keeps its words and is cut with an ellipsis only when the terminal is too
narrow for it; the bar has a fixed width, so an 80-column terminal shows
``training (L-BFGS) ━━━━━━━━━━━━━━━━━━━━ 12/30 0:00:04 0:00:06 loss=0.013`` on one line. With
``NTKFLOW_PROGRESS=0`` (or when stderr is not a terminal and ``--json`` asks for quiet
output) nothing is drawn.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column

err_console = Console(stderr=True)

BAR_WIDTH = 16
"""Fixed bar width: with label ≤ 24, counts, two clocks and a short status, 80 columns."""


def progress_enabled() -> bool:
    """False when ``NTKFLOW_PROGRESS`` is set to 0/false/no/off."""
    value = os.environ.get("NTKFLOW_PROGRESS", "1").strip().lower()
    return value not in {"0", "false", "no", "off"}


def _columns(counted: bool) -> list[Any]:
    label = TextColumn(
        "[bold]{task.description}",
        table_column=Column(
            no_wrap=True, overflow="ellipsis", min_width=10, max_width=28 if counted else 56
        ),
    )
    status = TextColumn(
        "{task.fields[status]}",
        table_column=Column(no_wrap=True, overflow="ellipsis", min_width=0, max_width=24),
    )
    clock = dict(table_column=Column(no_wrap=True, min_width=7))
    if not counted:
        return [SpinnerColumn(finished_text="✓"), label, TimeElapsedColumn(**clock), status]
    return [
        label,
        BarColumn(bar_width=BAR_WIDTH, table_column=Column(no_wrap=True, min_width=BAR_WIDTH)),
        MofNCompleteColumn(table_column=Column(no_wrap=True, min_width=7)),
        TimeElapsedColumn(**clock),
        TimeRemainingColumn(**clock),
        status,
    ]


@contextmanager
def progress_bar(
    description: str,
    total: float | None,
    disable: bool = False,
    console: Console | None = None,
) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr (a spinner with elapsed time when ``total`` is None).

    Yields ``advance(amount=1, status=None, completed=None)``.
    """
    counted = total is not None
    integral = counted and float(total).is_integer()  # type: ignore[arg-type]
    columns = _columns(counted)
    if counted and not integral:  # a flow time: no "m/n" count
        columns = [c for c in columns if not isinstance(c, MofNCompleteColumn)]
    progress = Progress(
        *columns,
        console=console or err_console,
        disable=disable or not progress_enabled(),
        transient=False,
        expand=False,
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
        if not counted:
            progress.update(task, total=1, completed=1, status="done")


@contextmanager
def stage(description: str, disable: bool = False) -> Iterator[Callable[..., None]]:
    """A spinner with elapsed time for one stage of unknown length (sampling, measuring)."""
    with progress_bar(description, None, disable=disable) as advance:
        yield advance


def thousands(n: int) -> str:
    """``100000`` -> ``"100 000"`` (thin grouping, as in the docs)."""
    return f"{int(n):,}".replace(",", " ")


__all__ = ["BAR_WIDTH", "err_console", "progress_bar", "progress_enabled", "stage", "thousands"]
