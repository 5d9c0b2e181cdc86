"""Shared CLI plumbing: JSON output, rich tables and progress bars on stderr.

Every command takes ``--json``; with it, exactly one JSON object is printed on stdout and all
progress goes to stderr, so ``ntkflow ... --json | jq`` works.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# figure and progress_bar: used by the commands
from ntkflow.io.atomic import figure, to_jsonable  # noqa: F401
from ntkflow.io.progress import err_console, progress_bar, thousands  # noqa: F401

out_console = Console()

# Options that many commands share (typer reads these, never changes them).
JSON = typer.Option(
    False, "--json", help="Print one JSON object on stdout (progress stays on stderr)."
)
CPU = typer.Option(False, "--cpu", help="Force the CPU backend (the same as NTKFLOW_CPU=1).")
SEED = typer.Option(0, "--seed", help="Seed of the random number generator.")
DEVICES = typer.Option(
    0,
    "--devices",
    min=0,
    help="Devices to shard the points over (per process); 0: all local devices.",
    show_default="0 (all)",
)
VARIETY = typer.Option(
    "fermat-quintic", help="Variety: a catalogue name (e.g. bicubic) or a TOML file."
)


def emit(result: dict[str, Any], as_json: bool, title: str = "result") -> None:
    """Print ``result``: one JSON object on stdout with ``--json``, else a readable table."""
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(result)) + "\n")
        sys.stdout.flush()
        return
    table = Table(title=title, show_header=True)
    table.add_column("key", style="bold")
    table.add_column("value")
    for k, v in to_jsonable(result).items():
        if isinstance(v, float):
            s = f"{v:.6g}"
        elif isinstance(v, list) and v and all(isinstance(u, float) for u in v):
            s = "[" + ", ".join(f"{u:.4g}" for u in v) + "]"
        else:
            s = str(v)
        table.add_row(str(k), s)
    out_console.print(table)


def info(message: str) -> None:
    """A human-readable status line on stderr."""
    err_console.print(message)


def config_option(cls: type, name: str, *flags: str, **kwargs: Any) -> Any:
    """A ``typer.Option`` for the config field ``cls.name`` (declared with
    :func:`ntkflow.io.option`): its help sentence and its default shown, value ``None``
    when not given (so the TOML file or the default applies)."""
    f = cls.__dataclass_fields__[name]
    big = isinstance(f.default, int) and not isinstance(f.default, bool) and abs(f.default) >= 1e4
    shown = thousands(f.default) if big else str(f.default)
    flag = flags or (f.metadata.get("flag") or "--" + name.replace("_", "-"),)
    return typer.Option(None, *flag, help=f.metadata.get("help", ""), show_default=shown, **kwargs)


def config_from_flags(cls: type, **flags: Any) -> Any:
    """``cls`` from command-line flags (``None``: not given), checked like a config file."""
    from ntkflow.io import InputError, resolve_config

    with failing_on(InputError):
        return resolve_config(cls, None, flags)


def error_line(message: str) -> None:
    """Write ``error: message`` as ONE line on stderr: never wrapped at the terminal width, no
    rich markup interpreted (messages quote user input such as ``[1, 2]``)."""
    line = " ".join(str(message).split())
    if sys.stderr.isatty():
        err_console.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)
    else:
        sys.stderr.write(f"error: {line}\n")
        sys.stderr.flush()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one ``error:`` line on stderr and exit: code 2 for a usage error (an option, a
    config or an input file the user must change), 1 for a runtime failure."""
    error_line(message)
    raise typer.Exit(code)


def run_errors() -> tuple[type[BaseException], ...]:
    """The errors that end a run (`cy train`, `resume`, `report`) with one line, exit code 1:
    every io and variety error is a ``ValueError``; the loop's and training's are not."""
    import jax

    from ntkflow.cy.train import TrainingError
    from ntkflow.io import RunError
    from ntkflow.parallel import ParallelError, multi_process

    lost = (jax.errors.JaxRuntimeError,) if multi_process() else ()  # a process died
    return (ValueError, MemoryError, RunError, TrainingError, ParallelError, *lost)


@contextlib.contextmanager
def failing_on(*errors: type[BaseException], code: int = 2) -> Iterator[None]:
    """Turn ``errors`` raised inside the block into :func:`fail` (one line, exit ``code``)."""
    try:
        yield
    except errors as e:
        fail(str(e), code)


def point_mesh(devices: int | None):
    """The device mesh of ``--devices`` (:func:`ntkflow.parallel.point_mesh`), or one line and
    exit code 2 when this process has fewer devices."""
    from ntkflow.parallel import ParallelError
    from ntkflow.parallel import point_mesh as mesh

    with failing_on(ParallelError):
        return mesh(devices or None)
