"""`ntkflow cy ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="cy commands", no_args_is_help=True)
