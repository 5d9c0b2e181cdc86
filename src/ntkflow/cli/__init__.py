"""The ``ntkflow`` command.

Groups live in their own modules and are registered here:

    ntkflow ricci-flow          reference Ricci flow (geometry)           cli/ricci.py
    ntkflow ntk ...             metric-NTK, finite and infinite width     cli/ntk.py
    ntkflow flow ...            metric flows and the Ricci limit          cli/flow.py
    ntkflow cy ...              Calabi-Yau varieties, metrics, training   cli/cy.py
    ntkflow reproduce ...       the paper's experiments                   cli/reproduce.py
    ntkflow resume / report     run directories                           cli/runs.py
    ntkflow demo                the README's first command                cli/demo.py
"""

from __future__ import annotations

import typer

from . import cy, demo, flow, ntk, reproduce, ricci, runs

app = typer.Typer(
    name="ntkflow",
    help="Neural-network metric flows, the metric-NTK, and numerical Calabi-Yau metrics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _options(
    cpu: bool = typer.Option(False, "--cpu", help="force the CPU backend (or NTKFLOW_CPU=1)"),
) -> None:
    """Neural-network metric flows, the metric-NTK, and numerical Calabi-Yau metrics."""
    if cpu:
        from ntkflow.io import select_backend

        select_backend(True)


app.command("ricci-flow")(ricci.ricci_flow)
app.command("demo")(demo.demo)
app.command("resume")(runs.resume)
app.command("report")(runs.report)
app.add_typer(ntk.app, name="ntk")
app.add_typer(flow.app, name="flow")
app.add_typer(cy.app, name="cy")
app.add_typer(reproduce.app, name="reproduce")


def main() -> None:
    app()
