"""`ntkflow cy sample` and `ntkflow cy measure`."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import JSON, SEED, VARIETY, emit, fail, failing_on, figure, info, progress_bar


def sample(
    variety: str = VARIETY,
    points: int = typer.Option(
        100_000, "--points", min=1, help="Number of points to sample.", show_default="100 000"
    ),
    seed: int = SEED,
    out: Path = typer.Option(
        Path("points.npz"), "--out", help="Output file (.npz, the ntkflow point-set layout)."
    ),
    as_json: bool = JSON,
) -> None:
    """Sample points with Shiffman–Zelditch weights and save them as .npz."""
    import time

    import jax

    from ntkflow.cy.points import sampling_bytes
    from ntkflow.cy.sampling import sample_points
    from ntkflow.cy.variety import VarietyError, variety_from_name
    from ntkflow.io import InputError
    from ntkflow.io.config import check_memory

    with failing_on(VarietyError, InputError):
        v = variety_from_name(variety)
        check_memory(f"--points {points}", sampling_bytes(v, points), "ask for fewer --points")
    try:
        t0 = time.perf_counter()
        with progress_bar(f"sampling {v.name}", None, disable=False) as advance:
            ps = sample_points(v, points, jax.random.PRNGKey(seed))
            advance(status="done")
        seconds = time.perf_counter() - t0
        path = ps.save(out)
    except MemoryError:
        fail(f"out of memory sampling {points} points; ask for fewer --points", code=1)
    except (VarietyError, ValueError, RuntimeError, OSError) as e:
        fail(str(e), code=1)
    emit(
        {
            "variety": v.name,
            "points": len(ps),
            "dim": v.dim,
            "seconds": seconds,
            "points_per_second": len(ps) / seconds,
            "out": str(path),
        },
        as_json,
        title="cy sample",
    )


def _parse_metric(metric: str):
    m = metric.strip()
    if m in ("fubini-study", "fs"):
        return "fubini-study", None
    if m.startswith("donaldson:k="):
        try:
            k = int(m.split("=", 1)[1])
        except ValueError:
            k = 0
        if k >= 1:
            return "donaldson", k
        fail(f"--metric {metric!r}: the degree K of donaldson:k=K must be an integer >= 1")
    if m.startswith("run:"):
        return "run", m.split(":", 1)[1]
    fail(f"unknown metric {metric!r}; use fubini-study, donaldson:k=K or run:RUN_DIR")


def _trained_potential(run_dir: str, variety):
    """The final model of a `cy train` run as a float64 potential, for points on ``variety``."""
    import ntkflow.io as nio
    from ntkflow.cy.measures import load_trained_model
    from ntkflow.cy.variety import variety_from_name

    with failing_on(ValueError, code=1):  # run, config, job, checkpoint or variety errors
        rd = nio.RunDir.open(run_dir)
        run = rd.read_run()
        trained_on = run["config"].get("variety")
        if trained_on is None or variety_from_name(trained_on).name != variety.name:
            fail(
                f"{run_dir}: model trained on {trained_on!r}, but the points lie on "
                f"{variety.name!r}",
                code=1,
            )
        if not rd.model.exists():
            fail(f"{run_dir}: no model.eqx (the run has not finished; `ntkflow resume` it)", 1)
        info(f"rebuilding the run's job to load {rd.model}")
        return load_trained_model(run_dir)[1]


def measure(
    points: Path = typer.Option(
        ..., "--points", help="Point file written by `ntkflow cy sample` (checked on load)."
    ),
    metric: str = typer.Option(
        "fubini-study",
        help="Metric to measure: fubini-study, donaldson:k=K (balanced metric of degree K) or "
        "run:RUN_DIR (the model of a `cy train` run).",
    ),
    curvature_points: int = typer.Option(
        2000,
        min=1,
        help="Points used for the Ricci measure and χ (curvature by autodiff: the costliest "
        "measure; χ is heavy-tailed, use 10⁵ points on products and CICYs).",
        show_default="2 000",
    ),
    seed: int = typer.Option(0, help="Seed of the points for Donaldson's T-iterations."),
    plots: Path = typer.Option(
        None,
        help="Directory for histograms of η and of the Ricci scalar (PNG).",
        show_default="no plots",
    ),
    as_json: bool = JSON,
) -> None:
    """σ, volume, Ricci measure and Euler characteristic of a metric on saved points.

    The point file is checked first (patch and elimination indices, positive finite weights,
    points on the variety), since a wrong index or weight silently gives wrong measures.
    """
    import jax
    import numpy as np

    from ntkflow.cy.donaldson import balanced_metric, default_n_points
    from ntkflow.cy.fubini_study import FubiniStudy
    from ntkflow.cy.measures import metric_measures
    from ntkflow.cy.points import PointSet, PointSetError
    from ntkflow.cy.sampling import sample_points
    from ntkflow.cy.variety import VarietyError

    kind, k = _parse_metric(metric)
    with failing_on(PointSetError, VarietyError):
        ps = PointSet.load(points)
        v = ps.variety()
        ps.check(v, where=str(points))
    if kind == "fubini-study":
        pot = FubiniStudy(v.ambient)
    elif kind == "run":
        pot = _trained_potential(k, v)
    else:
        n_t = default_n_points(v, k)
        info(f"Donaldson k={k}: T-iterations on {n_t} fresh points")
        train = sample_points(v, n_t, jax.random.PRNGKey(seed + 1))
        with progress_bar("T-iterations", 10) as advance:
            pot = balanced_metric(v, k, train, 10, progress=advance)
    nc = min(curvature_points, len(ps))
    with progress_bar("curvature", nc) as advance:
        measured, pointwise = metric_measures(v, pot, ps, curvature_points, progress=advance)
    result = {"variety": v.name, "metric": metric, "points": len(ps), **measured}
    if plots is not None:
        eta = pointwise["eta"]
        eta = eta / np.mean(eta * np.asarray(ps.weights)) * np.mean(np.asarray(ps.weights))
        for name, data, label in (
            ("eta_hist.png", eta, "η / ⟨η⟩ (1 for the Ricci-flat metric)"),
            ("ricci_scalar_hist.png", pointwise["ricci_scalar"], "Ricci scalar R"),
        ):
            with figure(plots / name) as ax:
                ax.hist(data, bins=80)
                ax.set(xlabel=label, ylabel="points", title=f"{v.name}, {metric}")
        result["plots"] = [str(plots / "eta_hist.png"), str(plots / "ricci_scalar_hist.png")]
    emit(result, as_json, title="cy measure")


def register(app) -> None:
    """Add `sample` and `measure` to the `cy` typer app."""
    app.command("sample")(sample)
    app.command("measure")(measure)
