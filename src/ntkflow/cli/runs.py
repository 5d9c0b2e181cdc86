"""`ntkflow resume RUN_DIR` and `ntkflow report RUN_DIR`."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import fail


def resume(run_dir: Path = typer.Argument(..., help="a run directory")) -> None:
    """Continue an interrupted run (not implemented yet)."""
    fail("resume is not implemented yet")


def report(run_dir: Path = typer.Argument(..., help="a run directory")) -> None:
    """Write RUN_DIR/report.html (not implemented yet)."""
    fail("report is not implemented yet")
