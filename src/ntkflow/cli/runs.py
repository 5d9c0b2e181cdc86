"""`ntkflow resume RUN_DIR` and `ntkflow report RUN_DIR`."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from ._common import emit, fail, info


def _run_errors() -> tuple[type[Exception], ...]:
    """The errors that mean "this run cannot go on", reported without a traceback."""
    from ntkflow.io import CheckpointError, ConfigError, JobError, RunDirError, RunError

    return (CheckpointError, ConfigError, JobError, RunDirError, RunError)


def resume(
    run_dir: Path = typer.Argument(..., help="a run directory"),
    steps: int | None = typer.Option(
        None, "--steps", help="new total number of steps (default: the run's own)"
    ),
    cpu: bool = typer.Option(False, "--cpu", help="force the CPU backend (or NTKFLOW_CPU=1)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Continue a run from its newest checkpoint; a finished run is left as it is.

    The job is rebuilt from run.json (job kind and config); on CPU in float64 the resumed
    trajectory equals the uninterrupted one. Exit code 130/143 if interrupted again.
    """
    from ntkflow.io import resume_run

    try:
        result = resume_run(run_dir, n_steps=steps, cpu=cpu, progress=True)
    except _run_errors() as e:
        fail(str(e), code=1)
    emit(result.as_dict(), as_json, title=f"resume {run_dir}")
    if result.status == "interrupted":
        info(f"interrupted by {result.signal}; continue with `ntkflow resume {run_dir}`")
        raise typer.Exit(128 + int(signal.Signals[result.signal]))


def report(
    run_dir: Path = typer.Argument(..., help="a run directory"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Write RUN_DIR/report.html (self-contained) and RUN_DIR/figures/*.png."""
    from ntkflow.io.report import write_report

    try:
        result = write_report(run_dir)
    except _run_errors() as e:
        fail(str(e), code=1)
    emit(result, as_json, title=f"report {run_dir}")
