"""`ntkflow flow ...` commands: metric flows and their limits (``ntkflow.experiments.flows``)."""

from __future__ import annotations

import os

import typer

from ..experiments.flows import LinearisedCheckRun, RicciLimitRun, WidthLimitRun
from ._common import JSON, config_from_flags, config_option, emit, fail, failing_on

app = typer.Typer(
    help="Metric flows: parameter, kernel, linearised, Ricci limit.", no_args_is_help=True
)


def _numbers(text: str | None, what: str) -> tuple | None:
    """``"0.4,0.3"`` -> ``(0.4, 0.3)`` (integers stay integers); ``None`` when not given."""
    if text is None:
        return None

    def number(v: str) -> int | float:
        try:
            return int(v)
        except ValueError:
            return float(v)

    try:
        return tuple(number(v) for v in text.split(",") if v.strip())
    except ValueError:
        fail(f"{what}: expected comma-separated numbers, got {text!r}")


def run_experiment(c, run_dir: str | None = None, plot: str | None = None) -> dict:
    """The experiment of config ``c`` (:func:`ntkflow.experiments.flows.run`): bad input or
    a failed Ricci-flow solve is a usage error (exit 2), a failed metric flow exit 1."""
    from ..experiments.flows import run
    from ..flows.kernel_flow import FlowError
    from ..geometry import RicciFlowError
    from ..io import InputError

    with failing_on(InputError, RicciFlowError), failing_on(FlowError, code=1):
        return run(c, run_dir, plot=plot)


@app.command("ricci-limit")
def ricci_limit_cmd(
    manifold: str | None = config_option(RicciLimitRun, "manifold"),
    lengthscales: str | None = typer.Option(
        None,
        help="Kernel lengthscales ℓ, comma-separated.",
        show_default="per manifold, smallest <= 0.05 (docs/flows.md)",
    ),
    sigmas: str | None = typer.Option(None, hidden=True, help="Deprecated: --lengthscales."),
    t: float | None = typer.Option(
        None,
        help="Flow time.",
        show_default="0.1 on sphere2 and torus3, 0.05 on sphere3 and berger3, 0.25 on torus2",
    ),
    plot: str = typer.Option(
        None, help="Write the PNG of distance against ℓ here.", show_default="no plot"
    ),
    as_json: bool = JSON,
) -> None:
    """Distance between the Gaussian-kernel flow and Ricci flow for each lengthscale ℓ.

    Measured at a fixed flow time (paper §3: the flow tends to Ricci flow as ℓ → 0, with
    distance ≈ C ℓ^order, order ≈ 2). Manifolds: sphere2, sphere3 (round S³), berger3 (Berger
    S³), torus2, torus3.
    """
    ls = _numbers(lengthscales, "--lengthscales")
    old = _numbers(sigmas, "--sigmas")
    if ls is not None and old is not None:
        fail("give --lengthscales or its deprecated name --sigmas, not both")
    flags = dict(manifold=manifold, lengthscales=ls if old is None else old, t=t)
    c = config_from_flags(RicciLimitRun, **flags)
    emit(run_experiment(c, plot=plot), as_json, "ricci limit")


@app.command("linearized-check")
def linearized_check_cmd(
    points: int | None = config_option(LinearisedCheckRun, "points"),
    width: int | None = config_option(LinearisedCheckRun, "width"),
    t: float | None = config_option(LinearisedCheckRun, "t"),
    seed: int | None = config_option(LinearisedCheckRun, "seed"),
    as_json: bool = JSON,
) -> None:
    """Linearised-network gradient flow against the empirical-NTK kernel flow.

    Maximum deviation of the metric along the trajectory, off the collocation points.
    """
    c = config_from_flags(LinearisedCheckRun, points=points, width=width, t=t, seed=seed)
    emit(run_experiment(c), as_json, "linearized check")


@app.command("width-limit")
def width_limit_cmd(
    widths: str = typer.Option("64,256,1024", help="MLP widths, comma-separated."),
    points: int | None = config_option(WidthLimitRun, "points"),
    t: float | None = config_option(WidthLimitRun, "t"),
    lr: float | None = config_option(WidthLimitRun, "lr"),
    seed: int | None = config_option(WidthLimitRun, "seed"),
    plot: str = typer.Option(
        None, help="Write the PNG of NTK change against width here.", show_default="no plot"
    ),
    as_json: bool = JSON,
) -> None:
    """Finite-width gradient descent against the infinite-width kernel flow (analytic NTK)."""
    ws = _numbers(widths, "--widths")
    c = config_from_flags(WidthLimitRun, widths=ws, points=points, t=t, lr=lr, seed=seed)
    emit(run_experiment(c, plot=plot), as_json, "width limit")


@app.command("run")
def run_cmd(
    config: str = typer.Argument(
        ...,
        help="TOML file with kind = ricci-limit, width-limit, linearized-check, parameter or "
        "kernel, and that kind's options (an unknown key is an error).",
    ),
    out: str = typer.Option(
        None,
        help="Output folder for result.json, metrics and plots.",
        show_default="runs/flow-KIND",
    ),
    as_json: bool = JSON,
) -> None:
    """Run a flow from a config file; writes result.json, metrics and PNG plots.

    The config is checked in full (types, ranges, unknown keys) before the output folder is
    made; a flow that fails at run time removes the folder it made unless it saved a state.
    """
    from ..experiments.flows import load_config
    from ..io import InputError

    with failing_on(InputError):
        kind, c = load_config(config)
    out_dir = out or os.path.join("runs", f"flow-{kind}")
    emit(
        {"kind": kind, "out": out_dir, **run_experiment(c, out_dir)}, as_json, f"flow run ({kind})"
    )
