"""`ntkflow reproduce all`: every experiment of the paper, one folder each, one HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from ntkflow.experiments.reproduce_all import EXPERIMENTS, describe

from ._common import JSON, emit, fail, failing_on, info, progress_bar
from .reproduce import app


def _help() -> str:
    total = sum(e.minutes for e in EXPERIMENTS.values())
    rows = "\n\n".join(
        f"[bold]{name}[/] (≈ {e.minutes:g} min): `{e.command}` — {describe(name)}."
        for name, e in EXPERIMENTS.items()
    )
    return (
        "Run every experiment of the paper and write one HTML report.\n\n"
        "Each experiment runs with the defaults of its own command into OUT-DIR/NAME/ (its "
        "JSON and figures, as the command writes them; an earlier NAME/ is replaced); "
        "OUT-DIR/report.html (self-contained: figures embedded, tables, links to each JSON) "
        "and OUT-DIR/summary.json are rewritten after each experiment. A failing experiment "
        "is reported with its error, the others still run, and the exit code is 1.\n\n"
        f"Experiments, in order (expected wall time on a 2-core CPU; ≈ {total:g} min in all):"
        f"\n\n{rows}"
    )


def reproduce_all(
    out_dir: Path = typer.Option(
        Path("ntkflow-out/all"), "--out-dir", help="Folder for the results and report.html."
    ),
    only: str = typer.Option(
        "",
        "--only",
        help="Comma-separated subset of the experiments (names above).",
        show_default="all",
    ),
    as_json: bool = JSON,
) -> None:
    from ntkflow.experiments.reproduce_all import ReproduceAllConfig, run_all
    from ntkflow.io import InputError

    names = tuple(x.strip() for x in only.split(",") if x.strip()) or None
    with failing_on(InputError):
        cfg = ReproduceAllConfig(only=names)
    chosen = cfg.selected()
    info(f"reproduce all: {len(chosen)} experiments ({', '.join(chosen)}), writing to {out_dir}")
    with failing_on(InputError), progress_bar("reproduce all", len(chosen)) as advance:

        def progress(name: str, status: str) -> None:
            if status == "start":
                advance(0, status=name)
            else:
                advance(status=f"{name}: {status}")
                info(f"{name}: {status}")

        summary = run_all(cfg, out_dir, progress)
    info(f"report written to {summary['report']}")
    emit(summary if as_json else _table(summary), as_json, "reproduce all")
    if summary["failed"]:
        fail(f"failed: {', '.join(summary['failed'])} (see {summary['report']})", code=1)


def _table(summary: dict) -> dict:
    """One row per experiment for the rich table: status and wall time (or the error)."""
    rows = {
        e["name"]: f"{e['status']}, {e['wall_seconds']:.1f} s"
        + (f": {e['error']}" if e.get("error") else "")
        for e in summary["experiments"]
    }
    return rows | {"report": summary["report"], "total wall time": f"{summary['wall_seconds']} s"}


app.command("all", help=_help())(reproduce_all)
