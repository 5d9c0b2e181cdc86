"""`ntkflow ricci-flow`: the reference Ricci-flow solver."""

from __future__ import annotations

import typer

from ._common import fail


def ricci_flow(
    manifold: str = typer.Option("sphere2", help="sphere2, sphere3, torus2, torus3"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Run the reference Ricci flow (not implemented yet)."""
    fail("ricci-flow is not implemented yet")
