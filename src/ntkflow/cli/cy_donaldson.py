"""`ntkflow cy donaldson`: Donaldson's balanced metric of degree k and its σ."""

from __future__ import annotations

import typer

from ._common import emit, fail, progress_bar


def donaldson_cmd(
    variety: str = typer.Option("fermat-quintic", help="variety name or TOML path"),
    k: int = typer.Option(3, "--k", help="degree k of the sections"),
    points: int = typer.Option(0, "--points", help="T-iteration points (0: 10 N_k² + 5·10⁴)"),
    test_points: int = typer.Option(20_000, help="points for σ"),
    iterations: int = typer.Option(10, help="T-operator iterations"),
    seed: int = typer.Option(0, help="PRNG seed"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Balanced metric by Donaldson's T-operator; prints sigma and seconds."""
    import jax

    from ntkflow.cy.donaldson import donaldson
    from ntkflow.cy.variety import VarietyError, variety_from_name

    try:
        v = variety_from_name(variety)
        with progress_bar(f"T-iterations k={k}", iterations) as advance:
            r = donaldson(
                v, k, jax.random.PRNGKey(seed), points or None, test_points, iterations, advance
            )
    except (VarietyError, ValueError) as e:
        fail(str(e))
    r.pop("potential")
    emit({"variety": v.name, "k": k, **r}, as_json, title="cy donaldson")


def register(app) -> None:
    """Add `donaldson` to the `cy` typer app."""
    app.command("donaldson")(donaldson_cmd)
