"""`ntkflow cy ...`: Calabi-Yau varieties, metrics and training.

Commands are defined in the ``cy_*`` modules, one concern each, and registered here.
"""

from __future__ import annotations

import typer

from . import cy_donaldson, cy_eval, cy_geometry, cy_kernel, cy_train

app = typer.Typer(
    help="Calabi–Yau varieties: sample, measure, Donaldson, train.", no_args_is_help=True
)
for _module in (cy_geometry, cy_donaldson, cy_train, cy_kernel, cy_eval):
    _module.register(app)
