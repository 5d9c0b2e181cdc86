"""`ntkflow cy kernel-flow`: the infinite-width (frozen-kernel) Kähler flow of the potential."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ._common import (
    JSON,
    config_from_flags,
    config_option,
    emit,
    failing_on,
    info,
    point_mesh,
)


def _opt(name: str, *flags: str) -> object:
    from ntkflow.cy.kernel_flow import KernelFlowConfig

    return config_option(KernelFlowConfig, name, *flags)


def kernel_flow(
    variety: str | None = _opt("variety"),
    n_points: int | None = _opt("n_points"),
    n_test: int | None = _opt("n_test"),
    kernel: str | None = _opt("kernel"),
    lengthscale: float | None = _opt("lengthscale", "--lengthscale", "--width"),
    n_features: int | None = _opt("n_features", "--features"),
    mlp_width: int | None = _opt("mlp_width"),
    steps: int | None = _opt("steps"),
    eval_every: int | None = _opt("eval_every"),
    dt_factor: float | None = _opt("dt_factor"),
    seed: int | None = _opt("seed"),
    devices: int | None = _opt("devices"),
    out_dir: Path = typer.Option(
        Path("ntkflow-out/kernel-flow"), "--out-dir", help="Folder for the σ plot."
    ),
    as_json: bool = JSON,
) -> None:
    """Flow K_FS + φ with a frozen kernel and plot σ against flow time.

    σ is measured on the training and the held-out points (PNG in --out-dir). The points are
    sharded by rows over --devices devices (the kernel's point-sums all-reduced).
    ``--width`` is the old name of ``--lengthscale``.
    """
    given = dict(locals())
    import dataclasses

    from ntkflow.cy.kernel_flow import KernelFlowConfig, KernelFlowError
    from ntkflow.experiments.kernel_flow import kernel_flow_experiment

    fields = (f.name for f in dataclasses.fields(KernelFlowConfig))
    cfg = config_from_flags(KernelFlowConfig, **{k: given[k] for k in fields if k in given})
    mesh = point_mesh(cfg.devices)  # one line, exit code 2 when the devices are not there
    t0 = time.perf_counter()
    info(
        f"kernel flow: {cfg.kernel} kernel, {cfg.n_points} training points on {cfg.variety}, "
        f"{mesh.size} device(s)"
    )
    with failing_on(KernelFlowError, ValueError):
        res = kernel_flow_experiment(cfg, out_dir, mesh=mesh)
    emit(res | {"wall_seconds": time.perf_counter() - t0}, as_json, "kernel flow")


def register(app) -> None:
    """Add this module's commands to the `cy` typer app."""
    app.command("kernel-flow")(kernel_flow)
