"""`ntkflow resume RUN_DIR` and `ntkflow report RUN_DIR`."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from ._common import CPU, JSON, emit, fail, failing_on, info, run_errors


def _ends_like_cy_train(run_dir: Path) -> bool:
    """Whether the run is a `cy train` run (its job is a CYTrainJob), which ends with the
    final measures, summary.json and the σ plot."""
    import ntkflow.io as nio
    from ntkflow.cy.train_job import CYTrainJob

    run = nio.RunDir.open(run_dir).read_run()
    return isinstance(nio.make_job(run["job"], run["config"]), CYTrainJob)  # cached by config


def resume(
    run_dir: Path = typer.Argument(..., help="The run directory to continue."),
    steps: int | None = typer.Option(
        None,
        "--steps",
        min=1,
        help="New total number of steps, at least the step already reached.",
        show_default="the run's own",
    ),
    cpu: bool = CPU,
    as_json: bool = JSON,
) -> None:
    """Continue a run from its newest intact checkpoint and end it as a fresh run ends.

    The job is rebuilt from run.json (job kind and config); on CPU in float64 the resumed
    trajectory equals the uninterrupted one. A truncated newest checkpoint is set aside and
    the previous one used. A `cy train` run ends with its final measures, summary.json and
    σ plot. Exit code 130 (SIGINT) or 143 (SIGTERM) if interrupted again.
    """
    import time

    import ntkflow.io as nio

    started = time.perf_counter()
    with failing_on(*run_errors(), code=1):
        before = nio.RunDir.open(run_dir).status()
    if before.get("status") == "crashed":
        info(
            f"{run_dir}: status.json said {before.get('recorded')!r}, but no process holds the "
            "run (it was killed); resuming it"
        )
    try:
        result = nio.resume_run(run_dir, n_steps=steps, cpu=cpu, progress=True)
    except run_errors() as e:
        from .cy_train import run_failure

        fail(run_failure(Path(run_dir), e), code=1)
    if result.status == "interrupted":
        emit(result.as_dict(), as_json, title=f"resume {run_dir}")
        info(f"interrupted by {result.signal}; continue with `ntkflow resume {run_dir}`")
        raise typer.Exit(128 + int(signal.Signals[result.signal]))
    out = result.as_dict()
    if _ends_like_cy_train(Path(run_dir)):
        from ntkflow.cy.train_job import finish

        out = {**finish(Path(run_dir), started=started), **out}
    emit(out, as_json, title=f"resume {run_dir}")


def report(
    run_dir: Path = typer.Argument(..., help="The run directory to report on."),
    as_json: bool = JSON,
) -> None:
    """Write RUN_DIR/report.html (self-contained) and RUN_DIR/figures/*.png.

    Works on a run in any state (running, completed, interrupted, failed, crashed): one
    figure per logged measure (σ, Ricci measure, χ with error bars, loss, NTK change),
    the final measures when the run has them, the config and the environment.
    """
    from ntkflow.io.report import write_report

    with failing_on(*run_errors(), code=1):
        result = write_report(run_dir)
    emit(result, as_json, title=f"report {run_dir}")
