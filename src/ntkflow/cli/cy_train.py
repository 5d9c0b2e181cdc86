"""`ntkflow cy train`: learn a Ricci-flat metric (run directory, checkpoints, resume)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import typer

from ._common import CPU, JSON, config_option, emit, fail, info, point_mesh, run_errors


def _opt(name: str, *flags: str) -> object:
    from ntkflow.cy.train_config import TrainConfig

    return config_option(TrainConfig, name, *flags)


def train(
    config: Path | None = typer.Option(
        None,
        "--config",
        help="TOML file whose keys are those of the options below (n_points, learning_rate, "
        "...); options given on the command line override it.",
        show_default="none",
    ),
    run_dir: Path | None = typer.Option(
        None,
        "--run-dir",
        help="Run directory to create (it must not exist or be empty); by default a fresh "
        "runs/cy-train-<UTC time>-<pid>-<random>.",
        show_default="fresh name under runs/",
    ),
    variety: str | None = _opt("variety"),
    n_points: int | None = _opt("n_points", "--points"),
    n_test: int | None = _opt("n_test"),
    ansatz: str | None = _opt("ansatz"),
    k: int | None = _opt("k"),
    width: int | None = _opt("width"),
    depth: int | None = _opt("depth"),
    optimizer: str | None = _opt("optimizer"),
    learning_rate: float | None = _opt("learning_rate", "--lr"),
    steps: int | None = _opt("steps"),
    time_budget: float | None = _opt("time_budget"),
    dtype: str | None = _opt("dtype"),
    devices: int | None = _opt("devices"),
    seed: int | None = _opt("seed"),
    checkpoint_every: int = typer.Option(
        5,
        "--checkpoint-every",
        min=1,
        help="Write a checkpoint every this many steps (and at the end, and on Ctrl-C or SIGTERM).",
    ),
    cpu: bool = CPU,
    plot: Path | None = typer.Option(
        None,
        "--plot",
        help="Where to write the PNG of test σ against training time.",
        show_default="RUN_DIR/sigma.png",
    ),
    as_json: bool = JSON,
) -> None:
    """Train a Kähler potential on the Monge–Ampère loss and measure the result.

    The run directory keeps the config, metrics, checkpoints and final model; an interrupted
    run continues with `ntkflow resume RUN_DIR`. The defaults give the best σ per minute on a
    laptop CPU (see benchmarks/cy_train.py).
    """
    given = dict(locals())
    start = time.perf_counter()
    import dataclasses

    import ntkflow.io as nio
    from ntkflow.cy.points import sampling_bytes
    from ntkflow.cy.train_job import JOB_KIND, TrainConfig, check_config, finish
    from ntkflow.cy.variety import variety_from_name
    from ntkflow.io.config import check_memory

    fields = (f.name for f in dataclasses.fields(TrainConfig))
    overrides = {name: given[name] for name in fields if name in given}
    try:
        cfg = nio.resolve_config(TrainConfig, config, overrides)
        check_config(cfg)  # a misspelt variety, too few points: refused before any work
        need = sampling_bytes(variety_from_name(cfg.variety), cfg.n_points)
        check_memory(f"--points {cfg.n_points}", need, "ask for fewer --points")
    except nio.InputError as e:
        fail(str(e))
    point_mesh(cfg.devices)  # more --devices than this process has: refused before any work
    from ntkflow.io.rundir import ReadOnlyRunDir
    from ntkflow.parallel import agree_text, is_writer

    if is_writer():  # process 0 of a multi-process run claims the directory; the rest follow
        try:
            rd = nio.RunDir.reserve(run_dir) if run_dir else nio.RunDir.new("runs", "cy-train")
        except (nio.RunDirError, OSError) as e:
            fail(str(e))
        agree_text(str(rd.path))
        info(f"run directory {rd.path}")
    else:
        rd = ReadOnlyRunDir(agree_text(""))
    try:
        result = nio.start_run(
            rd,
            JOB_KIND,
            nio.to_dict(cfg),
            n_steps=cfg.steps,
            checkpoint_every=checkpoint_every,
            seed=cfg.seed,
            cpu=cpu,
        )
    except run_errors() as e:
        fail(run_failure(rd.path, e), code=1)
    if result.status != "completed":
        info(f"interrupted by {result.signal}; continue with `ntkflow resume {rd.path}`")
        raise typer.Exit(128 + int(signal.Signals[result.signal]))
    emit(finish(rd.path, plot, started=start), as_json, title="cy train")


def run_failure(run_dir: Path, error: BaseException) -> str:
    """One line for a run that failed: the error, what is left, where to look."""
    import ntkflow.io as nio
    from ntkflow.parallel import lost_peer

    why = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, MemoryError):
        why = "out of memory; use fewer --points"
    if (lost := lost_peer(error)) is not None:
        why = f"{lost}; continue with `ntkflow resume {run_dir}` started as this run was"
    try:
        rd = nio.RunDir.open(run_dir)
        left = rd.read_status().get("left")
    except nio.RunDirError:
        return why  # the run never started; nothing was left behind
    where = f"{left}; " if left else ""
    return f"{why} ({where}see `ntkflow report {run_dir}`)"


def register(app) -> None:
    """Add `train` to the `cy` typer app."""
    app.command("train")(train)
