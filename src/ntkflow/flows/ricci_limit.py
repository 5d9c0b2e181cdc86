"""The Ricci limit: the flow of a frozen Gaussian kernel G_ℓ (paper §3, §4),
dg_ij(x)/dt = −2 ∫ G_ℓ(x, y) R_ij(y) dμ₀(y) → −2 Ric as ℓ → 0, against the reference
Ricci flow; distance ≈ C ℓ^p with p = 2 (G_ℓ ⋆ f = f + ℓ²/2 Δf + O(ℓ⁴)).
Discretisations, charts and measured orders: docs/derivations.md#flows-ricci_limit."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..kernels.convergence import power_law_slope

MANIFOLDS = ("sphere2", "sphere3", "berger3", "torus2", "torus3")
# manifold -> (default lengthscales ℓ, default flow time t)
DEFAULTS = {
    "sphere2": ((0.2, 0.1, 0.07, 0.05, 0.035, 0.025), 0.1),
    "sphere3": ((0.12, 0.085, 0.06, 0.042), 0.05),
    "berger3": ((0.12, 0.085, 0.06, 0.042), 0.05),
    "torus2": ((0.4, 0.2, 0.1, 0.05, 0.025, 0.0125), 0.25),
    "torus3": ((0.2, 0.1, 0.05, 0.025), 0.1),
}


def check_input(manifold: str, lengthscales: Sequence[float], t: float) -> None:
    """ValueError (one line) for an unknown manifold, a non-positive lengthscale or time."""
    if manifold not in MANIFOLDS:
        raise ValueError(f"ricci_limit: unknown manifold {manifold!r}; known: {MANIFOLDS}")
    if len(lengthscales) == 0:
        raise ValueError("ricci_limit: lengthscales must list at least one value")
    bad = [v for v in lengthscales if not (np.isfinite(v) and v > 0)]
    if bad:
        raise ValueError(f"ricci_limit: lengthscales must be positive, got {bad[0]!r}")
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"ricci_limit: t must be positive, got {t!r}")


def solve_to(term, y0, t1: float, solver, controller):
    """``y(t1)`` of dy/dt = term(t, y) from y(0) = y0 (diffrax), whether the solve succeeded,
    and the number of steps it took."""
    import diffrax

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(term), solver, 0.0, t1, None, y0, stepsize_controller=controller,
        max_steps=100_000, saveat=diffrax.SaveAt(t1=True), throw=False,
    )  # fmt: skip
    return sol.ys[0], sol.result == diffrax.RESULTS.successful, sol.stats["num_steps"]


def fit_order(lengthscales: Sequence[float], distances: Sequence[float]) -> float | None:
    """The exponent p of ``distance ≈ C ℓ^p``: least squares in log–log over all points
    (None for fewer than two distinct lengthscales)."""
    order = power_law_slope(lengthscales, distances)[0]
    return None if np.isnan(order) else order


def limit_problem(manifold: str, t: float, lengthscales: Sequence[float], *, size=None,
                  spacing=None):  # fmt: skip
    """The discretised problem: ``.flow(ℓ)`` then ``.distance(...)``, ``.points``."""
    if manifold.startswith("torus"):
        from .ricci_limit_torus import TorusLimit

        return TorusLimit(manifold, t, size)
    from .ricci_limit_sphere import SphereLimit

    return SphereLimit(manifold, t, max(lengthscales), spacing)


def ricci_limit(
    manifold: str = "sphere2",
    lengthscales: Sequence[float] | None = None,
    t: float | None = None,
    *,
    size: int | None = None,
    spacing: float | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> dict:
    """Relative L² distance at flow time ``t`` between the Gaussian-kernel flow and the
    reference Ricci flow for each lengthscale ℓ, and the fitted order p. Returns
    ``{"manifold", "lengthscales", "distances", "order", "points", "t", "gauge", "domain"}``.
    ``size``: torus grid points per axis; ``spacing``: sphere chart grid spacing."""
    if manifold not in MANIFOLDS:
        check_input(manifold, (1.0,), 1.0)
    ls0, t0 = DEFAULTS[manifold]
    lengthscales = tuple(float(v) for v in (ls0 if lengthscales is None else lengthscales))
    t = float(t0 if t is None else t)
    check_input(manifold, lengthscales, t)
    prob = limit_problem(manifold, t, lengthscales, size=size, spacing=spacing)
    dists = []
    for ell in lengthscales:
        dists.append(prob.distance(prob.flow(ell)))
        if progress is not None:
            progress(ell, dists[-1])
    torus = manifold.startswith("torus")
    return {
        "manifold": manifold,
        "lengthscales": list(lengthscales),
        "distances": dists,
        "order": fit_order(lengthscales, dists),
        "points": prob.points,
        "t": t,
        "gauge": "hamilton",
        "domain": "whole torus" if torus else "unit ball of the stereographic chart",
    }
