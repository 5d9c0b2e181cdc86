"""`ntkflow ntk ...` commands: the metric-NTK at finite and infinite width."""

from __future__ import annotations

import typer

from ._common import JSON, SEED, emit, fail, failing_on, info

app = typer.Typer(help="Metric-NTK at finite and infinite width.", no_args_is_help=True)


def _parse_widths(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        widths = [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        fail(f"--widths must be comma-separated integers, got {text!r}")
    if len(widths) < 2 or min(widths) < 1:
        fail(f"--widths needs at least two positive widths, got {text!r}")
    return widths


@app.command("convergence")
def convergence(
    arch: str = typer.Option("mlp", help="Architecture: mlp, cosnet or gaussnet."),
    activation: str = typer.Option("relu", help="MLP activation with a closed-form kernel."),
    depth: int = typer.Option(2, help="MLP hidden layers."),
    widths: str = typer.Option(
        None, help="Comma-separated widths.", show_default="per architecture"
    ),
    seeds: int = typer.Option(4, help="Random initialisations per width."),
    points: int = typer.Option(6, help="Number of input points."),
    dim: int = typer.Option(2, help="Metric dimension n (inputs in R^n)."),
    seed: int = SEED,
    plot: str = typer.Option(
        "ntk_convergence.png", help="Log-log plot (PNG); an empty name writes none."
    ),
    as_json: bool = JSON,
) -> None:
    """Distance of the empirical metric-NTK to the infinite-width one against width.

    Relative Frobenius distance, with the fitted log-log slope (expected −1/2).
    """
    from ntkflow.experiments.ntk_convergence import (
        NtkConvergenceSettings,
        ntk_convergence_experiment,
    )
    from ntkflow.kernels.convergence import ARCHS

    if arch not in ARCHS:
        fail(f"--arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    wl = _parse_widths(widths)
    settings = NtkConvergenceSettings(
        arch=arch,
        activation=activation,
        depth=depth,
        widths=tuple(wl) if wl else None,
        seeds=seeds,
        points=points,
        dim=dim,
        seed=seed,
    )
    with failing_on(ValueError):
        result = ntk_convergence_experiment(settings, plot or None)
    if plot:
        info(f"plot written to {plot}")
    emit(result, as_json, title="metric-NTK convergence")
