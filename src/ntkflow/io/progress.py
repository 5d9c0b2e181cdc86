"""Progress on stderr: a rich bar for counted work and a spinner for a stage of unknown length.

The label is cut with an ellipsis only when the terminal is too narrow; the bar has a fixed
width, so 80 columns show ``training (L-BFGS) ━━━━━━━━ 12/30 0:00:04 0:00:06 loss=0.013`` on one
line. With ``NTKFLOW_PROGRESS=0`` nothing is drawn.
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

BAR_WIDTH = 16  # with a label ≤ 24, counts, two clocks and a short status: 80 columns
_OFF = ("0", "false", "no", "off")  # values of NTKFLOW_PROGRESS that turn progress off


def _columns(total: float | None) -> list[Any]:
    counted = total is not None
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
        *([MofNCompleteColumn(**clock)] if float(total).is_integer() else []),  # not a flow time
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
    progress = Progress(
        *_columns(total),
        console=console or err_console,
        disable=disable or os.environ.get("NTKFLOW_PROGRESS", "").strip().lower() in _OFF,
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
        if total is None:
            progress.update(task, total=1, completed=1, status="done")


@contextmanager
def stage(description: str, disable: bool = False) -> Iterator[Callable[..., None]]:
    """A spinner with elapsed time for one stage of unknown length (sampling, measuring)."""
    with progress_bar(description, None, disable=disable) as advance:
        yield advance


def thousands(n: int) -> str:
    """``100000`` -> ``"100 000"`` (thin grouping, as in the docs)."""
    return f"{int(n):,}".replace(",", " ")
