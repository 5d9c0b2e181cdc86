"""The frozen-kernel (infinite-width) Kähler flow and its σ against flow time (``cy
kernel-flow``).

One run: :func:`ntkflow.cy.kernel_flow.run_kernel_flow` with a progress bar, the plot of the
training and held-out σ against flow time, and the result that ``ntkflow cy kernel-flow
--json`` prints. That command and ``ntkflow reproduce all`` both call
:func:`kernel_flow_experiment`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ntkflow.cy.kernel_flow import KernelFlowConfig
from ntkflow.io.atomic import figure
from ntkflow.io.progress import progress_bar

PLOT = "sigma_vs_time.png"


def kernel_flow_experiment(cfg: KernelFlowConfig, out_dir: str | Path, mesh=None) -> dict[str, Any]:
    """Flow ``cfg`` (points sharded over ``mesh``, default that of ``cfg.devices``); write the σ
    plot ``out_dir/sigma_vs_time.png`` (process 0 of a multi-process run) and return the final
    and initial σ, their histories, the flow times, the time step and the plot's path."""
    from ntkflow.cy.kernel_flow import run_kernel_flow
    from ntkflow.parallel import is_writer

    with progress_bar("kernel flow", cfg.steps) as advance:
        hist = run_kernel_flow(
            cfg,
            mesh=mesh,
            on_eval=lambda k, h: advance(
                completed=k,
                status=f"σ_train {h['sigma_train'][-1]:.4f} σ_test {h['sigma_test'][-1]:.4f}",
            ),
        )
    png = Path(out_dir) / PLOT
    if is_writer():
        with figure(png) as ax:
            ax.plot(hist["time"], hist["sigma_train"], label="train σ")
            ax.plot(hist["time"], hist["sigma_test"], label="test σ")
            title = f"{cfg.kernel} kernel flow, {cfg.n_points} points"
            ax.set(xlabel="flow time t", ylabel="σ", title=title)
            ax.legend()
    return {
        "sigma_train": hist["sigma_train"][-1],
        "sigma_test": hist["sigma_test"][-1],
        "sigma_train_initial": hist["sigma_train"][0],
        "sigma_test_initial": hist["sigma_test"][0],
        "times": hist["time"],
        "sigma_train_history": hist["sigma_train"],
        "sigma_test_history": hist["sigma_test"],
        "dt": hist["dt"],
        "plot": str(png),
    }
