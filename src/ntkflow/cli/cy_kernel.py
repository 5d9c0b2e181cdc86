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
    figure,
    info,
    point_mesh,
    progress_bar,
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

    from ntkflow.cy.kernel_flow import KernelFlowConfig, KernelFlowError, run_kernel_flow

    fields = (f.name for f in dataclasses.fields(KernelFlowConfig))
    cfg = config_from_flags(KernelFlowConfig, **{k: given[k] for k in fields if k in given})
    kernel, points, steps = cfg.kernel, cfg.n_points, cfg.steps
    mesh = point_mesh(cfg.devices)  # one line, exit code 2 when the devices are not there
    t0 = time.perf_counter()
    info(
        f"kernel flow: {kernel} kernel, {points} training points on {cfg.variety}, "
        f"{mesh.size} device(s)"
    )
    with failing_on(KernelFlowError, ValueError), progress_bar("kernel flow", steps) as advance:
        hist = run_kernel_flow(
            cfg,
            mesh=mesh,
            on_eval=lambda k, h: advance(
                completed=k,
                status=f"σ_train {h['sigma_train'][-1]:.4f} σ_test {h['sigma_test'][-1]:.4f}",
            ),
        )
    from ntkflow.parallel import is_writer

    png = out_dir / "sigma_vs_time.png"
    if is_writer():  # process 0 of a multi-process run writes the plot
        with figure(png) as ax:
            ax.plot(hist["time"], hist["sigma_train"], label="train σ")
            ax.plot(hist["time"], hist["sigma_test"], label="test σ")
            title = f"{kernel} kernel flow, {points} points"
            ax.set(xlabel="flow time t", ylabel="σ", title=title)
            ax.legend()
    emit(
        {
            "sigma_train": hist["sigma_train"][-1],
            "sigma_test": hist["sigma_test"][-1],
            "sigma_train_initial": hist["sigma_train"][0],
            "sigma_test_initial": hist["sigma_test"][0],
            "times": hist["time"],
            "sigma_train_history": hist["sigma_train"],
            "sigma_test_history": hist["sigma_test"],
            "dt": hist["dt"],
            "wall_seconds": time.perf_counter() - t0,
            "plot": str(png),
        },
        as_json,
        "kernel flow",
    )


def register(app) -> None:
    """Add this module's commands to the `cy` typer app."""
    app.command("kernel-flow")(kernel_flow)
