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
    steps: int = typer.Option(300, help="Full-batch training steps per regime."),
    n_train: int = typer.Option(1500, "--train-points", help="Training points."),
    n_test: int = typer.Option(1000, "--test-points", help="Held-out points for σ."),
    n_ntk: int = typer.Option(
        200, "--ntk-points", help="Fixed points on which the NTK is measured."
    ),
    eval_every: int = typer.Option(30, "--eval-every", help="Measure every this many steps."),
    width: int = typer.Option(64, help="Width of the finite φ-MLP (depth 3)."),
    wide_width: int = typer.Option(256, "--wide-width", help="Width of the wide NTK φ-MLP."),
    regimes: str = typer.Option(
        "", help="Comma-separated subset of the regimes.", show_default="all"
    ),
    seed: int = SEED,
    out_dir: Path = typer.Option(
        Path("ntkflow-out/feature-learning"), "--out-dir", help="Folder for results and plots."
    ),
    as_json: bool = JSON,
) -> None:
    """Frozen kernels against finite-width feature learning.

    Test σ, NTK change and NTK spectra of each regime.
    """
    from ntkflow.experiments.feature_learning import FeatureLearningConfig, run_feature_learning

    cfg = _config(FeatureLearningConfig, locals())
    names = _names(regimes) or None
    n_reg = len(names) if names else 5
    info(f"feature learning: {n_reg} regimes x {steps} steps, writing to {out_dir}")
    done: dict[str, int] = {}
    bar = progress_bar("regimes x steps", n_reg * steps)
    with failing_on(ValueError, FloatingPointError), bar as advance:

        def progress(name, k, hist):
            done[name] = k
            advance(completed=sum(done.values()), status=f"{name}: σ {hist['sigma_test'][-1]:.4f}")

        summary = run_feature_learning(cfg, out_dir, names, progress)
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
