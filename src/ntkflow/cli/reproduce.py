"""`ntkflow reproduce ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="reproduce commands", no_args_is_help=True)
