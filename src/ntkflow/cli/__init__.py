"""The ``ntkflow`` command; each command group lives in its own module, registered here."""

from __future__ import annotations

import os
import sys

import typer
import typer.core

try:  # typer >= 0.25 ships its own copy of click
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover
    import click.exceptions as _cx

from . import cy, demo, flow, ntk, reproduce, ricci, runs
from ._common import CPU, error_line, failing_on

# Flags (--json, --cpu, --help) take no value: show no "<bool>" placeholder in --help.
_display_type_rich = typer.core.TyperOption.display_type_rich


def _no_placeholder_for_flags(self, ctx):  # pragma: no cover - help layout only
    return None if self.is_flag else _display_type_rich(self, ctx)


typer.core.TyperOption.display_type_rich = _no_placeholder_for_flags

app = typer.Typer(
    name="ntkflow",
    help="Neural-network metric flows, the metric-NTK, and numerical Calabi-Yau metrics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _options(cpu: bool = CPU) -> None:
    """Neural-network metric flows, the metric-NTK, and numerical Calabi-Yau metrics."""
    if cpu:
        from ntkflow.io import select_backend

        select_backend(True)
    # one process of a multi-process run when the environment says so (docs/scaling.md)
    from ntkflow.parallel import ParallelError, initialize

    with failing_on(ParallelError):
        initialize()


app.command("ricci-flow")(ricci.ricci_flow)
app.command("demo")(demo.demo)
app.command("resume")(runs.resume)
app.command("report")(runs.report)
app.add_typer(ntk.app, name="ntk")
app.add_typer(flow.app, name="flow")
app.add_typer(cy.app, name="cy")
app.add_typer(reproduce.app, name="reproduce")


def main(argv: list[str] | None = None) -> None:
    """The ``ntkflow`` entry point: exit code 0 on success, 2 for a usage error (an option,
    config or input file to change), 1 for a runtime failure, 128 + N for signal N; every
    error is ONE line on stderr (``NTKFLOW_DEBUG=1`` shows the traceback of an unexpected
    one)."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="ntkflow", standalone_mode=False)
    except _cx.NoArgsIsHelpError as e:  # bare `ntkflow cy`: show the help
        sys.stdout.write((e.ctx.get_help() if e.ctx else str(e)) + "\n")
        code = 0
    except _cx.UsageError as e:
        cmd = e.ctx.command_path if e.ctx else "ntkflow"
        error_line(f"{e.format_message()} (see `{cmd} --help`)")
        code = 2
    except _cx.ClickException as e:
        error_line(e.format_message())
        code = e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        error_line("interrupted")
        code = 130
    except MemoryError:
        error_line("out of memory; ask for fewer points or a smaller problem")
        code = 1
    except Exception as e:
        if os.environ.get("NTKFLOW_DEBUG"):
            raise
        error_line(
            f"internal error: {type(e).__name__}: {e} (this is a bug in ntkflow; rerun with "
            "NTKFLOW_DEBUG=1 for the traceback and report it)"
        )
        code = 1
    code = code if isinstance(code, int) else 0
    from ntkflow.parallel import exit_now

    exit_now(code)  # a process of a multi-process run ends here (parallel.exit_now)
    sys.exit(code)
