"""`ntkflow cy kernel-flow`: the infinite-width (frozen-kernel) Kähler flow of the potential."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ._common import JSON, SEED, emit, failing_on, figure, info, progress_bar


def kernel_flow(
    variety: str = typer.Option(
        "fermat-quintic", help="Variety: a catalogue name (e.g. fermat-quintic)."
    ),
    points: int = typer.Option(10_000, help="Training points.", show_default="10 000"),
    test_points: int = typer.Option(2_000, "--test-points", help="Held-out points for the test σ."),
    kernel: str = typer.Option("gaussian", help="Kernel: gaussian or mlp-ntk."),
    lengthscale: float = typer.Option(
        1.0,
        "--lengthscale",
        "--width",
        help="Lengthscale of the Gaussian kernel on the spectral inputs (--width: old name).",
    ),
    features: int = typer.Option(512, help="Random Fourier features of the Gaussian kernel."),
    mlp_width: int = typer.Option(512, "--mlp-width", help="Width of the linearised φ-MLP."),
    steps: int = typer.Option(200, help="Euler steps of the flow."),
    eval_every: int = typer.Option(10, "--eval-every", help="Measure σ every this many steps."),
    dt_factor: float = typer.Option(
        1.0, "--dt-factor", help="Time step as a fraction of 1/λ_max of the kernel."
    ),
    seed: int = SEED,
    out_dir: Path = typer.Option(
        Path("ntkflow-out/kernel-flow"), "--out-dir", help="Folder for the σ plot."
    ),
    as_json: bool = JSON,
) -> None:
    """Flow K_FS + φ with a frozen kernel and plot σ against flow time.

    σ is measured on the training and the held-out points (PNG in --out-dir).
    """
    from ntkflow.cy.kernel_flow import KernelFlowConfig, KernelFlowError, run_kernel_flow

    with failing_on(ValueError):
        cfg = KernelFlowConfig(
            variety=variety,
            n_points=points,
            n_test=test_points,
            kernel=kernel,
            lengthscale=lengthscale,
            n_features=features,
            mlp_width=mlp_width,
            steps=steps,
            eval_every=eval_every,
            dt_factor=dt_factor,
            seed=seed,
        )
    t0 = time.perf_counter()
    info(f"kernel flow: {kernel} kernel, {points} training points on {variety}")
    with failing_on(KernelFlowError, ValueError), progress_bar("kernel flow", steps) as advance:
        hist = run_kernel_flow(
            cfg,
            on_eval=lambda k, h: advance(
                completed=k,
                status=f"σ_train {h['sigma_train'][-1]:.4f} σ_test {h['sigma_test'][-1]:.4f}",
            ),
        )
    png = out_dir / "sigma_vs_time.png"
    with figure(png) as ax:
        ax.plot(hist["time"], hist["sigma_train"], label="train σ")
        ax.plot(hist["time"], hist["sigma_test"], label="test σ")
        ax.set(xlabel="flow time t", ylabel="σ", title=f"{kernel} kernel flow, {points} points")
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
