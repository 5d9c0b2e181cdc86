"""`ntkflow reproduce ...`: the paper's experiments on the Fermat quintic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ._common import JSON, SEED, emit, failing_on, info, progress_bar

app = typer.Typer(help="Reproduce the paper's experiments.", no_args_is_help=True)


def _names(text: str) -> tuple[str, ...]:
    """``"a, b,"`` -> ``("a", "b")``."""
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _config(cls: type, options: dict) -> Any:
    """``cls`` from the command's options named like its fields; a bad value is exit code 2."""
    with failing_on(ValueError):
        return cls(**{k: v for k, v in options.items() if k in cls.__dataclass_fields__})


@app.command("feature-learning")
def feature_learning(
    widths: str = typer.Option(
        "64,128,256,512,1024,2048", help="Widths N of the φ-MLPs, comma-separated."
    ),
    seeds: int = typer.Option(3, help="Initialisations per width (NTK parameterisation)."),
    standard_seeds: int = typer.Option(
        1, "--standard-seeds", help="Initialisations per width, standard parameterisation."
    ),
    n_train: int = typer.Option(300, "--train-points", help="Training points."),
    n_test: int = typer.Option(1000, "--test-points", help="Held-out points for σ."),
    n_ntk: int = typer.Option(
        100, "--ntk-points", help="Fixed points on which the NTK is measured."
    ),
    depth: int = typer.Option(1, help="Hidden layers of each φ-MLP."),
    activation: str = typer.Option("erf", help="Activation of each φ-MLP."),
    tol: float = typer.Option(
        1e-4, help="Stationarity: the loss fell by at most tol·L(0) over the window."
    ),
    window: int = typer.Option(25, help="Steps over which stationarity is judged."),
    max_steps: int = typer.Option(2000, "--max-steps", help="Step cap per run (reported)."),
    regimes: str = typer.Option(
        "",
        help="Comma-separated subset of ntk, standard, analytic, linearised, gaussian.",
        show_default="all",
    ),
    seed: int = SEED,
    out_dir: Path = typer.Option(
        Path("ntkflow-out/feature-learning"), "--out-dir", help="Folder for results and plots."
    ),
    as_json: bool = JSON,
) -> None:
    """The lazy limit: φ-MLPs of growing width trained to convergence vs frozen kernels.

    Per width: test σ and the NTK's relative change (fitted ∝ N^a, lazy theory a = −½);
    frozen kernels (the analytic infinite-width NTK, the widest network linearised, a
    Gaussian) at their fixed point; the metric-NTK spectrum. All runs: L-BFGS on the same
    points until stationary.
    """
    from ntkflow.experiments.feature_learning import FeatureLearningConfig, run_feature_learning

    with failing_on(ValueError):
        values = locals() | {"widths": tuple(int(w) for w in _names(widths))}
    cfg = _config(FeatureLearningConfig, values)
    names = _names(regimes) or None
    chosen = names or ("ntk", "standard", "analytic", "linearised", "gaussian")
    n_runs = len(cfg.widths) * (
        cfg.seeds * ("ntk" in chosen) + cfg.standard_seeds * ("standard" in chosen)
    )
    n_runs += sum(r in chosen for r in ("analytic", "linearised", "gaussian"))
    info(f"feature learning: {n_runs} runs to stationarity, writing to {out_dir}")
    done: list[str] = []
    bar = progress_bar("runs", n_runs)
    with failing_on(ValueError, FloatingPointError), bar as advance:

        def progress(label, k, loss):
            if k == 0:
                done.append(label)
            advance(completed=len(done) - 1, status=f"{label}: step {k}, loss {loss:.3g}")

        summary = run_feature_learning(cfg, out_dir, names, progress)
        advance(completed=n_runs, status="done")
    emit(summary, as_json, "feature learning")


@app.command("locality")
def locality(
    n_train: int = typer.Option(200, "--train-points", help="Training points."),
    n_eval: int = typer.Option(40, "--eval-points", help="Training points to move away from."),
    distances: str = typer.Option(
        ",".join(f"{d:g}" for d in (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.2, 0.5)),
        help="Comma-separated Fubini–Study distances.",
    ),
    kernels: str = typer.Option("delta,gaussian,relu-ntk", help="Comma-separated fixed kernels."),
    gaussian_lengthscale: float = typer.Option(
        1e-2,
        "--gaussian-lengthscale",
        "--gaussian-width",
        help="Lengthscale of the Gaussian kernel (--gaussian-width: old name).",
    ),
    delta_lengthscale: float = typer.Option(
        1e-6,
        "--delta-lengthscale",
        "--delta-width",
        help="Lengthscale of the δ-like kernel (--delta-width: old name).",
    ),
    flow_steps: int = typer.Option(2000, "--flow-steps", help="Euler steps of each kernel flow."),
    network: bool = typer.Option(
        True, "--network/--no-network", help="Add a finite network to the comparison."
    ),
    net_steps: int = typer.Option(1000, "--net-steps", help="Adam steps of the finite network."),
    seed: int = SEED,
    out_dir: Path = typer.Option(
        Path("ntkflow-out/locality"), "--out-dir", help="Folder for results and plots."
    ),
    as_json: bool = JSON,
) -> None:
    """Gain in loss against distance from the training points for fixed kernels.

    The paper's §6b: geodesic distance, for each fixed kernel and a finite network.
    """
    from ntkflow.experiments.locality import LocalityConfig, run_locality

    with failing_on(ValueError):
        values = locals() | {"distances": tuple(float(x) for x in _names(distances))}
    cfg = _config(LocalityConfig, values | {"kernels": _names(kernels)})
    n_stages = 1 + len(cfg.kernels) + int(cfg.network)
    with failing_on(ValueError, FloatingPointError), progress_bar("locality", n_stages) as advance:
        result = run_locality(cfg, out_dir, lambda name: advance(status=name))
    emit(result, as_json, "locality")


from . import reproduce_all  # noqa: E402, F401  (registers `reproduce all` on app)
