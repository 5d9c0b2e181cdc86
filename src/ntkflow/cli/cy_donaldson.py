"""`ntkflow cy donaldson`: Donaldson's balanced metric of degree k and its σ."""

from __future__ import annotations

import typer

from ._common import emit, fail, progress_bar


def donaldson_cmd(
    variety: str = typer.Option(
        "fermat-quintic", help="Variety: a catalogue name (e.g. bicubic) or a TOML file."
    ),
    k: int = typer.Option(3, "--k", help="Degree k of the sections."),
    points: int = typer.Option(
        0, "--points", help="Points for the T-iterations; 0 chooses 10 N_k² + 50 000."
    ),
    test_points: int = typer.Option(20_000, help="Held-out points on which σ is measured."),
    iterations: int = typer.Option(10, help="Iterations of Donaldson's T-operator."),
    seed: int = typer.Option(0, help="Seed of the random number generator."),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object on stdout (progress stays on stderr)."
    ),
) -> None:
    """Donaldson's balanced metric of degree k by the T-operator; prints σ and seconds."""
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
