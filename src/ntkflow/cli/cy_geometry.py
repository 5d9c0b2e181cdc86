"""`ntkflow cy sample` and `ntkflow cy measure`."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import (
    DEVICES,
    JSON,
    SEED,
    VARIETY,
    emit,
    fail,
    failing_on,
    figure,
    info,
    point_mesh,
    progress_bar,
)


def sample(
    variety: str = VARIETY,
    points: int = typer.Option(
        100_000, "--points", min=1, help="Number of points to sample.", show_default="100 000"
    ),
    seed: int = SEED,
    out: Path = typer.Option(
        Path("points.npz"),
        "--out",
        help="Output: one .npz (the ntkflow point-set layout) when --points ≤ --shard-size, "
        "else a directory (the name without .npz) of shard-NNNNN.npz files and manifest.json.",
    ),
    shard_size: int = typer.Option(
        1_000_000,
        "--shard-size",
        min=1,
        help="Points per shard file; larger samples are written as a shard directory, one "
        "shard in memory at a time (in a multi-process run each process writes its own).",
        show_default="1 000 000",
    ),
    devices: int = typer.Option(
        0,
        "--devices",
        min=0,
        help="Devices of this process (0: all local ones). Checked and reported only: "
        "sampling runs on the host (numpy and small jitted steps on the default device) and "
        "is not sharded over devices; it is split over processes by shard.",
        show_default="0 (all)",
    ),
    as_json: bool = JSON,
) -> None:
    """Sample points with Shiffman–Zelditch weights and save them (.npz or shard directory).

    The points are defined in blocks of 65 536 (block b from the seed's key folded with b),
    so a sample is the same however it is split into shards or processes.
    """
    import shutil
    import time

    import jax

    from ntkflow.cy.points import PointSetError, check_output, row_bytes, sampling_bytes
    from ntkflow.cy.sampling import SAMPLE_BLOCK, sample_to_path
    from ntkflow.cy.variety import VarietyError, variety_from_name
    from ntkflow.io import InputError
    from ntkflow.io.config import check_memory

    mesh = point_mesh(devices)
    sharded = points > shard_size
    target = (out.with_suffix("") if out.suffix == ".npz" else out) if sharded else out
    with failing_on(VarietyError, InputError, PointSetError):
        v = variety_from_name(variety)
        per_file = min(points, shard_size)
        # one block's sampling work plus one file's rows (and their concatenation)
        need = sampling_bytes(v, min(per_file, SAMPLE_BLOCK)) + 2 * row_bytes(v) * per_file
        hint = "lower --shard-size" if sharded else "ask for fewer --points or a --shard-size"
        check_memory(f"--points {points}", need, hint)
        disk = row_bytes(v) * points
        free = shutil.disk_usage(_existing_parent(target)).free
        if disk > 0.95 * free:
            raise InputError(
                f"--points {points} needs about {disk / 2**30:.3g} GiB of disk, but "
                f"{_existing_parent(target)} has {free / 2**30:.3g} GiB free; ask for fewer "
                "--points or choose another --out"
            )
        check_output(target if sharded else _npz(out), sharded)
    try:
        t0 = time.perf_counter()
        path = sample_to_path(
            v,
            points,
            seed,
            out,
            shard_size=shard_size,
            progress=lambda label, total: progress_bar(f"{label} ({v.name})", total),
        )
        seconds = time.perf_counter() - t0
    except MemoryError:
        fail(f"out of memory sampling {points} points; lower --shard-size", code=1)
    except (VarietyError, ValueError, RuntimeError, OSError) as e:
        fail(str(e), code=1)
    emit(
        {
            "variety": v.name,
            "points": points,
            "dim": v.dim,
            "seconds": seconds,
            "points_per_second": points / seconds,
            "out": str(path),
            "shards": -(-points // shard_size) if sharded else 1,
            "devices": mesh.size,
            "processes": jax.process_count(),
        },
        as_json,
        title="cy sample",
    )


def _npz(out: Path) -> Path:
    return out if out.suffix == ".npz" else out.with_name(out.name + ".npz")


def _existing_parent(path: Path) -> Path:
    """The nearest existing folder at or above ``path``'s parent."""
    p = path.resolve().parent
    while not p.exists():
        p = p.parent
    return p


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
        ...,
        "--points",
        help="Point file or shard directory written by `ntkflow cy sample` (streamed, each "
        "chunk checked).",
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
    devices: int = DEVICES,
    as_json: bool = JSON,
) -> None:
    """σ, volume, Ricci measure and Euler characteristic of a metric on saved points.

    The points are read chunk by chunk (never all in memory: σ keeps det g/|Ω|² and the
    weight of each point, 16 bytes) and each chunk is checked first (patch and elimination
    indices, positive finite weights, points on the variety), since a wrong index or weight
    silently gives wrong measures. det g, the curvature and Donaldson's T-iterations are
    sharded over --devices; in a multi-process run each process reads and evaluates only its
    share of the points (docs/scaling.md).
    """
    import jax
    import numpy as np

    from ntkflow.cy.donaldson import balanced_metric, default_n_points
    from ntkflow.cy.fubini_study import FubiniStudy
    from ntkflow.cy.measures import MeasureError, curvature_summary, stream_sigma_volume
    from ntkflow.cy.points import PointSetError, PointSource
    from ntkflow.cy.sampling import sample_points
    from ntkflow.cy.variety import VarietyError
    from ntkflow.parallel import is_writer, multi_process, process_rows

    kind, k = _parse_metric(metric)
    mesh = point_mesh(devices)
    with failing_on(PointSetError, VarietyError):
        src = PointSource.open(points)
        v = src.variety()
    if kind == "fubini-study":
        pot = FubiniStudy(v.ambient)
    elif kind == "run":
        pot = _trained_potential(k, v)
    else:
        n_t = default_n_points(v, k)
        info(f"Donaldson k={k}: T-iterations on {n_t} fresh points")
        train = sample_points(v, n_t, jax.random.PRNGKey(seed + 1))
        with progress_bar("T-iterations", 10) as advance:
            pot = balanced_metric(v, k, train, 10, progress=advance, mesh=mesh)
    nc = min(curvature_points, len(src))
    with failing_on(MeasureError, code=1), failing_on(PointSetError, VarietyError):
        a, b = process_rows(len(src)) if multi_process() else (0, len(src))  # this process's
        with progress_bar("σ, volume", b - a) as advance:
            measured, eta, head = stream_sigma_volume(
                v, pot, src, keep=nc, mesh=mesh, check=True, progress=advance
            )
    with failing_on(MeasureError, code=1), progress_bar("curvature", nc) as advance:
        curv, pointwise = curvature_summary(v, pot, head, progress=advance, mesh=mesh)
    result = {
        "variety": v.name,
        "metric": metric,
        "points": len(src),
        "shards": len(src.files) if src.sharded else 0,
        "devices": mesh.size,
        **measured,
        **curv,
        "euler_characteristic_exact": v.euler_characteristic_exact(),
        "curvature_points": nc,
    }
    if plots is not None and is_writer():
        eta = eta * measured["volume_omega"] / measured["volume"]
        for name, data, label in (
            ("eta_hist.png", eta, "η / ⟨η⟩ (1 for the Ricci-flat metric)"),
            ("ricci_scalar_hist.png", pointwise["ricci_scalar"], "Ricci scalar R"),
        ):
            with figure(plots / name) as ax:
                ax.hist(np.asarray(data), bins=80)
                ax.set(xlabel=label, ylabel="points", title=f"{v.name}, {metric}")
        result["plots"] = [str(plots / "eta_hist.png"), str(plots / "ricci_scalar_hist.png")]
    emit(result, as_json, title="cy measure")


def register(app) -> None:
    """Add `sample` and `measure` to the `cy` typer app."""
    app.command("sample")(sample)
    app.command("measure")(measure)
