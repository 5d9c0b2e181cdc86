"""The empirical metric-NTK against the analytic one as the width grows (``ntk convergence``).

One run: :func:`ntkflow.kernels.convergence.ntk_convergence` over the widths with a progress
bar, and the log-log plot of the relative distance against width beside the N^{-1/2} line.
The command ``ntkflow ntk convergence`` and ``ntkflow reproduce all`` both call
:func:`ntk_convergence_experiment`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ntkflow.io.atomic import figure
from ntkflow.io.progress import progress_bar


@dataclasses.dataclass(frozen=True)
class NtkConvergenceSettings:
    """``ntkflow ntk convergence`` at its defaults (``widths=None``: the architecture's)."""

    arch: str = "mlp"
    activation: str = "relu"
    depth: int = 2
    widths: tuple[int, ...] | None = None
    seeds: int = 4
    points: int = 6
    dim: int = 2
    seed: int = 0


def ntk_convergence_experiment(
    s: NtkConvergenceSettings, plot: str | Path | None = None
) -> dict[str, Any]:
    """The distances of :func:`~ntkflow.kernels.convergence.ntk_convergence` for ``s``; with
    ``plot`` (a PNG path) also the log-log plot there, and its path under ``"plot"``."""
    import jax

    from ntkflow.kernels.convergence import DEFAULT_WIDTHS, ntk_convergence

    widths = list(s.widths or DEFAULT_WIDTHS[s.arch])
    with progress_bar(f"metric-NTK {s.arch}", len(widths) * s.seeds) as advance:
        res = ntk_convergence(
            s.arch,
            widths=widths,
            seeds=s.seeds,
            points=s.points,
            n=s.dim,
            activation=s.activation,
            depth=s.depth,
            key=jax.random.PRNGKey(s.seed),
            callback=lambda w, k, e: advance(status=f"N={w} err={e:.3g}"),
        )
    if plot:
        plot_ntk_convergence(res, plot)
        res["plot"] = str(plot)
    return res


def plot_ntk_convergence(res: dict[str, Any], path: str | Path) -> None:
    """Relative distance (mean ± std over seeds) against width, log-log, with N^{-1/2}."""
    import numpy as np

    w, e = np.asarray(res["widths"], float), np.asarray(res["errors"])
    with figure(path, figsize=(5, 4)) as ax:
        ax.errorbar(w, e, yerr=res["error_std"], fmt="o-", label="empirical vs analytic")
        ax.plot(w, e[0] * (w / w[0]) ** -0.5, "k--", label=r"$N^{-1/2}$")
        ax.set(xscale="log", yscale="log", xlabel="width N")
        ax.set_ylabel(r"$\|\Theta_N-\bar\Theta\|_F/\|\bar\Theta\|_F$")
        ax.set_title(f"{res['arch']}: slope {res['slope']:.3f}")
        ax.legend()
