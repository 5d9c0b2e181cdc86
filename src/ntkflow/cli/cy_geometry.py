"""`ntkflow cy sample` and `ntkflow cy measure`."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import emit, fail, info, progress_bar


def sample(
    variety: str = typer.Option("fermat-quintic", help="variety name or TOML path"),
    points: int = typer.Option(100_000, "--points", help="number of points"),
    seed: int = typer.Option(0, help="PRNG seed"),
    out: Path = typer.Option(Path("points.npz"), "--out", help="output .npz"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Sample points with Shiffman-Zelditch weights and save them as .npz."""
    import time

    import jax

    from ntkflow.cy.sampling import sample_points
    from ntkflow.cy.variety import VarietyError, variety_from_name

    try:
        v = variety_from_name(variety)
        t0 = time.perf_counter()
        with progress_bar(f"sampling {v.name}", None, disable=False) as advance:
            ps = sample_points(v, points, jax.random.PRNGKey(seed))
            advance(status="done")
        seconds = time.perf_counter() - t0
    except (VarietyError, ValueError, RuntimeError) as e:
        fail(str(e))
    path = ps.save(out)
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
            return "donaldson", int(m.split("=", 1)[1])
        except ValueError:
            pass
    if m.startswith("run:"):
        return "run", m.split(":", 1)[1]
    fail(f"unknown metric {metric!r}; use fubini-study, donaldson:k=K or run:RUN_DIR")


def _trained_potential(run_dir: str, variety):
    """The final model of a `cy train` run as a float64 potential, for points on ``variety``."""
    import ntkflow.io as nio
    from ntkflow.cy.variety import VarietyError, variety_from_name

    from .cy_train import load_trained_model

    try:
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
    except (nio.RunDirError, nio.ConfigError, nio.JobError, nio.CheckpointError, VarietyError) as e:
        fail(str(e), code=1)


def measure(
    points: Path = typer.Option(..., "--points", help="point file from `ntkflow cy sample`"),
    metric: str = typer.Option(
        "fubini-study", help="fubini-study | donaldson:k=K | run:RUN_DIR (a `cy train` run)"
    ),
    curvature_points: int = typer.Option(
        2000, help="points used for the Ricci measure and χ (4th derivatives; costly)"
    ),
    seed: int = typer.Option(0, help="PRNG seed (Donaldson T-iteration points)"),
    plots: Path = typer.Option(None, help="directory for eta / Ricci-scalar histograms (PNG)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """σ, volume, Ricci measure and Euler characteristic of a metric on saved points."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ntkflow.cy.curvature import euler_characteristic, point_curvature
    from ntkflow.cy.donaldson import balanced_metric, default_n_points, potential_det
    from ntkflow.cy.fubini_study import FubiniStudy
    from ntkflow.cy.measures import ricci_measure, sigma_measure, volume, volume_error
    from ntkflow.cy.points import PointSet, PointSetError
    from ntkflow.cy.sampling import sample_points
    from ntkflow.cy.variety import VarietyError

    kind, k = _parse_metric(metric)
    try:
        ps = PointSet.load(points)
        v = ps.variety()
    except (PointSetError, VarietyError) as e:
        fail(str(e))
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
    det = np.asarray(potential_det(v, pot, ps.z, ps.patch, ps.elim))
    sigma, err = sigma_measure(det, ps.omega_sq, ps.weights)
    vol = volume(det, ps.omega_sq, ps.weights)
    nc = min(curvature_points, len(ps))
    sub = ps.take(np.arange(nc))
    curv = jax.jit(jax.vmap(lambda z, p, e: point_curvature(v, pot, z, p, e)))
    chunks = []
    with progress_bar("curvature", nc) as advance:
        for a in range(0, nc, 500):
            b = min(a + 500, nc)
            out = curv(sub.z[a:b], sub.patch[a:b], sub.elim[a:b])
            chunks.append({key: np.asarray(val) for key, val in out.items()})
            advance(b - a)
    c = {key: np.concatenate([ch[key] for ch in chunks]) for key in chunks[0]}
    rm = ricci_measure(c["ricci_scalar"], c["det_g"], sub.omega_sq, sub.weights, v.dim)
    chi, chi_err = euler_characteristic(c["euler_density"], sub.omega_sq, sub.weights, v.dim)
    result = {
        "variety": v.name,
        "metric": metric,
        "points": len(ps),
        "sigma": sigma,
        "sigma_error": err,
        "volume": vol,
        "volume_error": volume_error(det, ps.omega_sq, ps.weights),
        "ricci_measure": rm,
        "euler_characteristic": chi,
        "euler_characteristic_error": chi_err,
        "euler_characteristic_exact": v.euler_characteristic_exact(),
        "curvature_points": nc,
    }
    if plots is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plots.mkdir(parents=True, exist_ok=True)
        eta = det / np.asarray(ps.omega_sq)
        eta = eta / np.mean(eta * np.asarray(ps.weights)) * np.mean(np.asarray(ps.weights))
        for name, data, label in (
            ("eta_hist.png", eta, "η / ⟨η⟩ (1 for the Ricci-flat metric)"),
            ("ricci_scalar_hist.png", c["ricci_scalar"], "Ricci scalar R"),
        ):
            fig, ax = plt.subplots(figsize=(5, 3.5))
            ax.hist(data, bins=80)
            ax.set_xlabel(label)
            ax.set_ylabel("points")
            ax.set_title(f"{v.name}, {metric}")
            fig.tight_layout()
            fig.savefig(plots / name, dpi=120)
            plt.close(fig)
        result["plots"] = [str(plots / "eta_hist.png"), str(plots / "ricci_scalar_hist.png")]
    del jnp
    emit(result, as_json, title="cy measure")


def register(app) -> None:
    """Add `sample` and `measure` to the `cy` typer app."""
    app.command("sample")(sample)
    app.command("measure")(measure)
