"""`ntkflow reproduce ...`: the paper's experiments on the Fermat quintic."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import emit, fail, info, progress_bar

app = typer.Typer(help="Reproduce the paper's experiments.", no_args_is_help=True)


@app.command("feature-learning")
def feature_learning(
    steps: int = typer.Option(300, help="full-batch training steps per regime"),
    train_points: int = typer.Option(1500, "--train-points"),
    test_points: int = typer.Option(1000, "--test-points"),
    ntk_points: int = typer.Option(200, "--ntk-points", help="fixed points for the NTK"),
    eval_every: int = typer.Option(30, "--eval-every"),
    width: int = typer.Option(64, help="finite φ-MLP width (depth 3)"),
    wide_width: int = typer.Option(256, "--wide-width", help="width of the wide NTK φ-MLP"),
    regimes: str = typer.Option("", help="comma-separated subset (default: all)"),
    seed: int = typer.Option(0),
    out_dir: Path = typer.Option(Path("ntkflow-out/feature-learning"), "--out-dir"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Frozen kernels vs finite-width feature learning: test σ, NTK change, NTK spectra."""
    from ntkflow.experiments.feature_learning import FeatureLearningConfig, run_feature_learning

    try:
        cfg = FeatureLearningConfig(
            n_train=train_points,
            n_test=test_points,
            n_ntk=ntk_points,
            steps=steps,
            eval_every=eval_every,
            width=width,
            wide_width=wide_width,
            seed=seed,
        )
    except ValueError as e:
        fail(str(e))
    names = tuple(r.strip() for r in regimes.split(",") if r.strip()) or None
    n_reg = len(names) if names else 5
    info(f"feature learning: {n_reg} regimes x {steps} steps, writing to {out_dir}")
    try:
        with progress_bar("regimes x steps", n_reg * steps) as advance:
            done: dict[str, int] = {}

            def progress(name, k, hist):
                done[name] = k
                advance(
                    completed=sum(done.values()),
                    status=f"{name}: σ {hist['sigma_test'][-1]:.4f}",
                )

            summary = run_feature_learning(cfg, out_dir, names, progress)
    except (ValueError, FloatingPointError) as e:
        fail(str(e))
    emit(summary, as_json, "feature learning")


@app.command("locality")
def locality(
    train_points: int = typer.Option(200, "--train-points"),
    eval_points: int = typer.Option(40, "--eval-points", help="training points to move away from"),
    distances: str = typer.Option(
        ",".join(f"{d:g}" for d in (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.2, 0.5)),
        help="comma-separated FS distances",
    ),
    kernels: str = typer.Option("delta,gaussian,relu-ntk", help="comma-separated fixed kernels"),
    gaussian_width: float = typer.Option(1e-2, "--gaussian-width"),
    delta_width: float = typer.Option(1e-6, "--delta-width"),
    flow_steps: int = typer.Option(2000, "--flow-steps", help="Euler steps of each kernel flow"),
    network: bool = typer.Option(True, "--network/--no-network", help="add a finite network"),
    net_steps: int = typer.Option(1000, "--net-steps", help="Adam steps of the finite network"),
    seed: int = typer.Option(0),
    out_dir: Path = typer.Option(Path("ntkflow-out/locality"), "--out-dir"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Gain in loss vs geodesic distance from the training points for fixed kernels (§6b)."""
    from ntkflow.experiments.locality import LocalityConfig, run_locality

    try:
        dists = tuple(float(x) for x in distances.split(",") if x.strip())
        kern = tuple(k.strip() for k in kernels.split(",") if k.strip())
        cfg = LocalityConfig(
            n_train=train_points,
            n_eval=eval_points,
            distances=dists,
            kernels=kern,
            gaussian_width=gaussian_width,
            delta_width=delta_width,
            flow_steps=flow_steps,
            network=network,
            net_steps=net_steps,
            seed=seed,
        )
    except ValueError as e:
        fail(str(e))
    n_stages = 1 + len(cfg.kernels) + int(cfg.network)
    try:
        with progress_bar("locality", n_stages) as advance:
            result = run_locality(cfg, out_dir, lambda name: advance(status=name))
    except (ValueError, FloatingPointError) as e:
        fail(str(e))
    emit(result, as_json, "locality")
