"""`ntkflow cy train`: learn a Ricci-flat metric (run directory, checkpoints, resume)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ._common import emit, fail, info


def train(
    config: Path | None = typer.Option(None, "--config", help="TOML file (keys: TrainConfig)"),
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="run directory (default runs/cy-train-<time>)"
    ),
    variety: str | None = typer.Option(None, "--variety", help="e.g. fermat-quintic"),
    points: int | None = typer.Option(None, "--points", help="sampled points (train + test)"),
    n_test: int | None = typer.Option(None, "--n-test", help="held-out points for σ"),
    ansatz: str | None = typer.Option(None, "--ansatz", help="algebraic | phi"),
    k: int | None = typer.Option(None, "--k", help="degree of the algebraic ansatz"),
    width: int | None = typer.Option(None, "--width", help="φ-network width"),
    depth: int | None = typer.Option(None, "--depth", help="φ-network hidden layers"),
    optimizer: str | None = typer.Option(None, "--optimizer", help="lbfgs | adam"),
    lr: float | None = typer.Option(None, "--lr", help="Adam learning rate"),
    steps: int | None = typer.Option(None, "--steps", help="L-BFGS iterations / Adam epochs"),
    dtype: str | None = typer.Option(None, "--dtype", help="float64 | float32"),
    seed: int | None = typer.Option(None, "--seed"),
    checkpoint_every: int = typer.Option(5, "--checkpoint-every", min=1),
    cpu: bool = typer.Option(False, "--cpu", help="force the CPU backend (or NTKFLOW_CPU=1)"),
    plot: Path | None = typer.Option(None, "--plot", help="σ curve PNG (default RUN/sigma.png)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Train a Kähler potential on the Monge–Ampère loss and measure the result.

    Defaults give the best σ per minute on a laptop CPU (see benchmarks/cy_train.py).
    """
    start = time.perf_counter()
    import ntkflow.io as nio
    from ntkflow.cy.train import TrainingError
    from ntkflow.cy.train_job import JOB_KIND, TrainConfig
    from ntkflow.cy.variety import VarietyError

    overrides = {
        "variety": variety,
        "n_points": points,
        "n_test": n_test,
        "ansatz": ansatz,
        "k": k,
        "width": width,
        "depth": depth,
        "optimizer": optimizer,
        "learning_rate": lr,
        "steps": steps,
        "dtype": dtype,
        "seed": seed,
    }
    try:
        cfg = nio.resolve_config(TrainConfig, config, overrides)
    except (nio.ConfigError, ValueError, TypeError) as e:
        fail(str(e))
    if run_dir is None:
        run_dir = Path("runs") / time.strftime("cy-train-%Y%m%d-%H%M%S")
    cfg_dict = nio.to_dict(cfg)
    try:
        result = nio.start_run(
            run_dir,
            JOB_KIND,
            cfg_dict,
            n_steps=cfg.steps,
            checkpoint_every=checkpoint_every,
            seed=cfg.seed,
            cpu=cpu,
        )
    except (VarietyError, TrainingError, ValueError, nio.RunDirError, nio.RunError) as e:
        fail(str(e), code=1)
    if result.status != "completed":
        info(f"interrupted; continue with `ntkflow resume {run_dir}`")
        raise typer.Exit(130)
    train_seconds = time.perf_counter() - start  # sampling + balanced metric + training
    summary = final_measures(run_dir)
    summary["wall_seconds"] = round(train_seconds, 2)
    summary["measure_seconds"] = round(time.perf_counter() - start - train_seconds, 2)
    summary["run_dir"] = str(run_dir)
    plot_sigma(run_dir, plot or Path(run_dir) / "sigma.png")
    emit(summary, as_json, title="cy train")


def final_measures(run_dir: Path) -> dict:
    """σ (with MC error), volume, Ricci measure and χ of a run's final model on its test set."""
    import numpy as np

    from ntkflow.cy import measures
    from ntkflow.cy.train import det_metric

    job, model = load_trained_model(run_dir)
    test = to_float64(job.test)
    det = np.concatenate(
        [
            np.asarray(det_metric(model, test.take(slice(i, i + 2000))))
            for i in range(0, len(test), 2000)
        ]
    )
    sigma, sigma_err = measures.sigma_measure(det, test.omega_sq, test.weights)
    out = {
        "sigma_test": sigma,
        "sigma_error": sigma_err,
        "volume": measures.volume(det, test.omega_sq, test.weights),
        "ricci_measure": None,
        "euler_characteristic": None,
    }
    out.update(curvature_measures(job, model))
    return out


def load_trained_model(run_dir):
    """(job, final model in float64) of a finished `cy train` run: the job is rebuilt from the
    run's config (it re-samples the run's points) to give the model its structure."""
    import ntkflow.io as nio

    rd = nio.RunDir.open(run_dir)
    run = rd.read_run()
    job = nio.make_job(run["job"], run["config"])
    # measure in float64 whatever the training precision
    return job, to_float64(nio.load_model(rd.model, job.build))


def to_float64(tree):
    """Cast every float32/complex64 array of a pytree (model or data) to float64/complex128."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    def cast(x):
        if eqx.is_inexact_array(x):
            return x.astype(jnp.complex128 if jnp.iscomplexobj(x) else jnp.float64)
        return x

    return jax.tree.map(cast, tree)


def curvature_measures(job, model, n: int = 1000) -> dict:
    """Ricci measure and χ = ∫c₃ of ``model`` on ``n`` held-out points (third derivatives of
    the potential by autodiff, :func:`ntkflow.cy.curvature.point_curvature`)."""
    import jax
    import numpy as np

    from ntkflow.cy import measures
    from ntkflow.cy.curvature import euler_characteristic, point_curvature

    pts = job.points.take(slice(len(job.points) - n, len(job.points)))
    curv = jax.jit(jax.vmap(lambda z, p, e: point_curvature(job.variety, model, z, p, e)))(
        pts.z, pts.patch, pts.elim
    )
    curv = {k: np.asarray(v) for k, v in curv.items()}
    chi, chi_err = euler_characteristic(
        curv["euler_density"], pts.omega_sq, pts.weights, job.variety.dim
    )
    return {
        "ricci_measure": measures.ricci_measure(
            curv["ricci_scalar"], curv["det_g"], pts.omega_sq, pts.weights, job.variety.dim
        ),
        "euler_characteristic": chi,
        "euler_characteristic_error": chi_err,
    }


def plot_sigma(run_dir: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import ntkflow.io as nio

    recs = [r for r in nio.RunDir.open(run_dir).read_metrics() if "sigma_test" in r]
    if not recs:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy([r["time_s"] for r in recs], [r["sigma_test"] for r in recs], "o-")
    ax.set_xlabel("training time [s]")
    ax.set_ylabel("test σ")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def register(app) -> None:
    """Add `train` to the `cy` typer app."""
    app.command("train")(train)
