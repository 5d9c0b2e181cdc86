"""`ntkflow demo`: the README's first command."""

from __future__ import annotations

import typer

from ._common import fail


def demo(as_json: bool = typer.Option(False, "--json")) -> None:
    """Small Fermat-quintic run that prints sigma and writes a plot (not implemented yet)."""
    fail("demo is not implemented yet")
