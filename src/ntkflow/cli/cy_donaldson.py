"""`ntkflow cy donaldson`: Donaldson's balanced metric of degree k and its σ."""

from __future__ import annotations

import typer

from ._common import DEVICES, JSON, SEED, VARIETY, emit, failing_on, point_mesh, progress_bar


def donaldson_cmd(
    variety: str = VARIETY,
    k: int = typer.Option(3, "--k", help="Degree k of the sections."),
    points: int = typer.Option(
        0, "--points", help="Points for the T-iterations; 0 chooses 10 N_k² + 50 000."
    ),
    test_points: int = typer.Option(20_000, help="Held-out points on which σ is measured."),
    iterations: int = typer.Option(10, help="Iterations of Donaldson's T-operator."),
    seed: int = SEED,
    devices: int = DEVICES,
    as_json: bool = JSON,
) -> None:
    """Donaldson's balanced metric of degree k by the T-operator; prints σ and seconds.

    Sums over points (T-operator, σ) run on each device's rows and are all-reduced.
    The same numbers on any number of --devices, to float64 round-off."""
    import jax

    from ntkflow.cy.donaldson import donaldson
    from ntkflow.cy.variety import variety_from_name

    mesh = point_mesh(devices)
    with failing_on(ValueError):  # VarietyError is one
        v = variety_from_name(variety)
        with progress_bar(f"T-iterations k={k}", iterations) as advance:
            r = donaldson(
                v,
                k,
                jax.random.PRNGKey(seed),
                points or None,
                test_points,
                iterations,
                advance,
                mesh=mesh,
            )
    r.pop("potential")
    emit({"variety": v.name, "k": k, "devices": mesh.size, **r}, as_json, title="cy donaldson")


def register(app) -> None:
    """Add `donaldson` to the `cy` typer app."""
    app.command("donaldson")(donaldson_cmd)
