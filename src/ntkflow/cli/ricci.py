"""`ntkflow ricci-flow`: the reference Ricci-flow solver (``ntkflow.experiments.flows``)."""

from __future__ import annotations

import typer

from ..experiments.flows import RicciFlowRun
from ._common import JSON, config_from_flags, config_option, emit


def ricci_flow(
    manifold: str | None = config_option(RicciFlowRun, "manifold"),
    radius: float | None = config_option(RicciFlowRun, "radius"),
    t_end: float | None = config_option(RicciFlowRun, "t_end"),
    perturbation: float | None = config_option(RicciFlowRun, "perturbation"),
    seed: int | None = config_option(RicciFlowRun, "seed"),
    size: int | None = config_option(RicciFlowRun, "size"),
    normalised: bool | None = config_option(
        RicciFlowRun, "normalised", "--normalised/--no-normalised"
    ),
    saves: int | None = config_option(RicciFlowRun, "saves"),
    out: str = typer.Option("ricci_flow.png", help="Path of the PNG plot."),
    as_json: bool = JSON,
) -> None:
    """Run the reference Ricci flow and plot the scalar curvature over time."""
    from .flow import run_experiment

    # checked in the order a user reads the errors: manifold, time, radius, saves
    first = dict(manifold=manifold, t_end=t_end, radius=radius, saves=saves)
    rest = dict(perturbation=perturbation, seed=seed, size=size, normalised=normalised)
    c = config_from_flags(RicciFlowRun, **first, **rest)
    emit(run_experiment(c, plot=out), as_json, title="ricci-flow")
