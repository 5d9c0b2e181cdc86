"""`ntkflow cy` commands (cy_geometry)."""

from __future__ import annotations


def register(app) -> None:
    """Add this module's commands to the `cy` typer app."""
