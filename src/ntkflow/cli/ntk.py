"""`ntkflow ntk ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="ntk commands", no_args_is_help=True)
