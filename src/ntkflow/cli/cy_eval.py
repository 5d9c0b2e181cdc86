"""`ntkflow cy eval`: evaluate a run's saved metric at user points (npz in, npz out)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import CPU, JSON, emit, fail, failing_on, info, progress_bar


def eval_metric(
    model: Path = typer.Option(
        ..., "--model", help="A run directory; its model.eqx (or newest checkpoint) is evaluated."
    ),
    points: Path = typer.Option(
        ...,
        "--points",
        help="Points .npz: the ntkflow layout ('points') or a cymetric dataset.npz.",
    ),
    out: Path = typer.Option(
        ..., "--out", help="Output .npz with the points, the metric g (and weights, omega_sq)."
    ),
    split: str = typer.Option(
        "all", "--split", help="Rows of a cymetric dataset to use: all, train or val."
    ),
    batch: int = typer.Option(4096, "--batch", min=1, help="Points per evaluation batch."),
    cpu: bool = CPU,
    as_json: bool = JSON,
) -> None:
    """Evaluate the metric of a run's model at the given points.

    The final model of run MODEL is loaded through its job's build().

    Without a final model (a run not finished yet) the newest checkpoint is used.
    """
    import numpy as np

    import ntkflow.io as nio
    from ntkflow.io.cymetric import read_points, write_npz
    from ntkflow.io.loop import load_run_model, require

    if split not in ("all", "train", "val"):
        fail(f"--split must be all, train or val, got {split!r}")
    nio.select_backend(cpu)
    with failing_on(ValueError, code=1):  # every io error is a ValueError
        job, kind, mdl, source, step = load_run_model(model)
        metric = require(job, "metric", kind, "`ntkflow cy eval`")
        if step is not None:
            info(f"{model}: no final model yet, using the checkpoint of step {step}")
        data = read_points(points, split)  # type: ignore[arg-type]

    pts = data["points"]
    chunks = [pts[i : i + batch] for i in range(0, len(pts), batch)]
    gs = []
    with progress_bar("cy eval", len(chunks)) as advance:
        for c in chunks:
            gs.append(np.asarray(metric(mdl, c)))
            advance()
    g = np.concatenate(gs) if gs else np.zeros((0,))
    bad = ~np.isfinite(g).reshape(len(g), -1).all(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        fail(f"metric is NaN or inf at {int(bad.sum())} points, first at row {i}: {pts[i]}", 1)
    write_npz(out, **data, g=g)
    emit(
        {
            "out": str(out),
            "model": str(source),
            "n_points": len(pts),
            "metric_shape": list(g.shape[1:]),
            "dtype": str(g.dtype),
        },
        as_json,
        title="cy eval",
    )


def register(app) -> None:
    """Add this module's commands to the `cy` typer app."""
    app.command("eval")(eval_metric)
