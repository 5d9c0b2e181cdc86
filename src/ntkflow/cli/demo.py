"""`ntkflow demo`: the README's first command — a small Ricci-flat metric on the Fermat quintic."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ._common import JSON, SEED, emit, failing_on, figure, info, progress_bar


def demo(
    points: int = typer.Option(
        20_000,
        "--points",
        min=1,
        help="Points sampled on the quintic; a fifth of them are held out for σ.",
        show_default="20 000",
    ),
    k: int = typer.Option(3, "--k", min=1, help="Degree of the algebraic ansatz."),
    steps: int = typer.Option(10, "--steps", min=1, help="L-BFGS iterations."),
    seed: int = SEED,
    out: Path = typer.Option(
        Path("demo.png"), "--out", help="Where to write the plot of σ per step and η histograms."
    ),
    as_json: bool = JSON,
) -> None:
    """A small Ricci-flat metric on the Fermat quintic, in about a minute.

    Samples the quintic, measures σ of Fubini–Study, starts at Donaldson's balanced metric of
    degree k, trains it on the Monge–Ampère loss, prints σ and writes a plot.
    """
    import jax.numpy as jnp
    import numpy as np

    from ntkflow.cy.potential import AlgebraicPotential, fs_hermitian
    from ntkflow.cy.train import eta, sigma_from_eta
    from ntkflow.cy.train_job import CYTrainJob, TrainConfig, check_config, section_basis
    from ntkflow.io import InputError, from_dict

    start = time.perf_counter()
    config = {
        "n_points": points,
        "n_test": max(points // 5, 1),
        "n_fit": points,
        "k": k,
        "steps": steps,
        "eval_every": 1,
        "seed": seed,
        "n_balance": points,
        "balanced_iterations": 6,
    }
    with failing_on(InputError):
        check_config(from_dict(TrainConfig, config, "demo options"))
    info(f"sampling {points} points on the Fermat quintic and computing the balanced metric")
    job = CYTrainJob(config)
    test = job.test
    fs = AlgebraicPotential(
        section_basis(job.variety, 1), fs_hermitian(section_basis(job.variety, 1))
    )
    eta_fs = np.asarray(eta(fs, test))
    state = job.init()
    eta_bal = np.asarray(eta(job.model(state), test))
    sigmas = [float(sigma_from_eta(jnp.asarray(eta_bal), test.weights))]
    with progress_bar("training", total=steps) as advance:
        for _ in range(steps):
            state, metrics = job.step(state)
            sigmas.append(metrics["sigma_test"])
            advance(1, status=f"σ={sigmas[-1]:.4f}")
    eta_fin = np.asarray(eta(job.model(state), test))
    sigma_fs = float(sigma_from_eta(jnp.asarray(eta_fs), test.weights))
    _plot(
        out,
        sigmas,
        sigma_fs,
        k,
        {"Fubini–Study": eta_fs, f"balanced k={k}": eta_bal, "trained": eta_fin},
        test.weights,
    )
    emit(
        {
            "sigma_fubini_study": sigma_fs,
            "sigma_balanced": sigmas[0],
            "sigma": sigmas[-1],
            "k": k,
            "points": points,
            "plot": str(out),
            "wall_seconds": round(time.perf_counter() - start, 2),
        },
        as_json,
        title="ntkflow demo: Fermat quintic",
    )


def _plot(out: Path, sigmas, sigma_fs, k, etas: dict, weights) -> None:
    import numpy as np

    w = np.asarray(weights)
    with figure(out, figsize=(10, 3.8), ncols=2) as (a, b):
        a.semilogy(range(len(sigmas)), sigmas, "o-", label="trained (test points)")
        a.axhline(sigma_fs, color="gray", ls="--", label="Fubini–Study")
        a.set(xlabel="L-BFGS step (0 = balanced metric)", ylabel="σ")
        a.set_title(f"Fermat quintic, algebraic ansatz k={k}")
        a.legend()
        a.grid(alpha=0.3, which="both")
        for name, e in etas.items():
            r = e * np.mean(w) / np.mean(e * w)
            b.hist(r, bins=80, range=(0, 2.5), weights=w, histtype="step", density=True, label=name)
        b.set(xlabel="η / ⟨η⟩  (1 for the Ricci-flat metric)", ylabel="density")
        b.legend()
