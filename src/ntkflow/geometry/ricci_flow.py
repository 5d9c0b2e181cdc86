"""Reference Ricci-flow solver: ``ricci_flow(initial_metric, t_end) -> solution``.
∂_t g = −2 Ric (Hamilton 1982), float64, diffrax; the round n-sphere: r(t)² = r0² − 2(n−1)t.
Manifolds and solution: docs/derivations.md#geometry-ricci_flow."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .metric import MetricError
from .ricci_flow_sphere import (
    AxisymmetricS2Metric,
    LeftInvariantS3Metric,
    PolarSpectralOps,
    S2Flow,
    S3Flow,
)
from .ricci_flow_torus import TorusFlow
from .spectral import SpectralTorusMetric, components_from_sym, sym_from_components


class RicciFlowError(MetricError):
    """Invalid Ricci-flow input or a failed/singular solve (names what and when)."""


def singular_time_round_sphere(n: int, r0: float) -> float:
    """T = r0² / (2(n−1)) for the round n-sphere of radius r0 under ∂_t g = −2 Ric."""
    if n < 2:
        raise RicciFlowError(f"round sphere: dimension must be >= 2, got {n}")
    return float(r0) ** 2 / (2 * (n - 1))


def ricci_flow_round_sphere(n: int, r0: float, t: float | Array) -> Array:
    """Exact radius r(t) = sqrt(r0² − 2(n−1)t) of the round n-sphere under Ricci flow
    (Ric = (n−1)/r² g, so d(r²)/dt = −2(n−1); Chow–Knopf Ex. 1.2). Raises past T."""
    t_sing = singular_time_round_sphere(n, r0)
    t_arr = np.asarray(t, dtype=float)
    if np.any(t_arr >= t_sing) or np.any(t_arr < 0):
        raise RicciFlowError(
            f"round S^{n} of radius {r0}: t = {t} outside [0, T) with the singular time "
            f"T = r0^2/(2(n-1)) = {t_sing:.6g}"
        )
    return jnp.sqrt(r0**2 - 2 * (n - 1) * jnp.asarray(t, dtype=float))


def initial_metric(manifold: str, radius: float = 1.0, perturbation: float = 0.0, seed: int = 0):
    """A start for :func:`ricci_flow` on ``sphere2``, ``sphere3``, ``torus2`` or ``torus3``:
    spheres round of ``radius``, with ``perturbation`` ε three N(0, ε²) numbers (numpy, ``seed``)
    as the cos θ, cos 2θ, cos 3θ coefficients of u on S², log-factors of A_i = r²/4 on S³; tori
    δ + ε h, each component of h a sum of 4 waves a cos(k·x + φ), a ~ N(0, 1/4), φ uniform,
    k ∈ {−2..2}ⁿ (jax, ``seed``)."""
    noise = perturbation * np.random.default_rng(seed).standard_normal(3)
    if manifold == "sphere2":
        u = jnp.zeros(8).at[0].set(np.log(radius))
        return AxisymmetricS2Metric(u.at[1:4].set(noise) if perturbation else u)
    if manifold == "sphere3":
        return LeftInvariantS3Metric(jnp.asarray(np.full(3, radius**2 / 4) * np.exp(noise)))
    n, modes = int(manifold[-1]), 4
    c = n * (n + 1) // 2
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    amp = jax.random.normal(k1, (c, modes)) / np.sqrt(modes)
    phase = jax.random.uniform(k2, (c, modes), maxval=2 * np.pi)
    kvec = jax.random.randint(k3, (c, modes, n), -2, 3)

    def g(x):
        waves = jnp.sum(amp * jnp.cos(jnp.einsum("cmi,i->cm", kvec, x) + phase), axis=1)
        return jnp.eye(n) + perturbation * sym_from_components(waves, n)

    return SpectralTorusMetric.from_function(g, n, 8)


def diffeqsolve(term, y0, t0, t1, rtol, atol, max_steps, saveat, solver_state=None, **kwargs):
    """Solve dy/dt = term(t, y) with ``term.solver(solver_state or y0)``."""
    solver, controller = term.solver(y0 if solver_state is None else solver_state, rtol, atol)
    kwargs.update(stepsize_controller=controller, max_steps=max_steps, saveat=saveat)
    return diffrax.diffeqsolve(diffrax.ODETerm(term), solver, t0, t1, None, y0, **kwargs)


@eqx.filter_jit
def _solve_segment(term, y0, t0, t1, rtol, atol, max_steps):
    save = diffrax.SaveAt(t1=True)
    sol = diffeqsolve(term, y0, t0, t1, rtol, atol, max_steps, save, throw=False)
    return sol.ys[0], sol.result == diffrax.RESULTS.successful


class RicciFlowSolution(eqx.Module):
    """Saved states of a Ricci-flow solve (docs/derivations.md#geometry-ricci_flow)."""

    term: TorusFlow | S2Flow | S3Flow
    ts: Array
    states: Array
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)

    def state(self, t: float) -> Array:
        """Grid state at time t (saved, or integrated from the last saved time ≤ t)."""
        t = float(t)
        ts = np.asarray(self.ts)
        if t < ts[0] - 1e-14 or t > ts[-1] + 1e-12:
            raise RicciFlowError(f"t = {t} outside the solved interval [{ts[0]}, {ts[-1]}]")
        i = max(0, min(int(np.searchsorted(ts, t, side="right") - 1), len(ts) - 1))
        if abs(ts[i] - t) <= 1e-14 * max(1.0, abs(t)):
            return self.states[i]
        y, ok = _solve_segment(self.term, self.states[i], ts[i], t, self.rtol, self.atol, 10**6)
        if not bool(ok):
            raise RicciFlowError(f"{self.term.name}: re-integration to t = {t} failed")
        return y

    def metric(self, t: float):
        """The flowed metric at time t as a callable module x ↦ g(x)."""
        return self.term.metric(self.state(t))

    def metric_at(self, t: float, xs: Array) -> Array:
        """The flowed metric at time t at points ``xs`` (N, n) → (N, n, n)."""
        return jax.vmap(self.metric(t))(jnp.asarray(xs))

    def scalar_curvature(self, t: float) -> Array:
        """Scalar curvature at time t on the solver grid: torus shape (N,)*n; S² shape (N,)
        at the polar angles :attr:`grid`; S³ shape (1,) (homogeneous)."""
        return self.term.scalar_curvature(self.state(t))

    @property
    def grid(self) -> Array:
        """Solver grid: torus points (N**n, n); S² polar angles θ_j (N,); S³ none (empty)."""
        return self.term.grid

    @property
    def ops(self) -> PolarSpectralOps:
        """S² only: the operators of the polar grid."""
        return self.term.ops


def _check_state(term, y: Array, t: float) -> None:
    if not np.isfinite(np.asarray(y)).all():
        raise RicciFlowError(f"{term.name}: NaN or inf in the flow state at t = {t:.6g}")
    eig = term.min_eigenvalue(y)
    if eig <= 0:
        raise RicciFlowError(
            f"{term.name}: metric not positive-definite at t = {t:.6g} (min eigenvalue {eig:.3g})"
        )


def ricci_flow(
    initial_metric: SpectralTorusMetric | AxisymmetricS2Metric | LeftInvariantS3Metric,
    t_end: float,
    *,
    size: int | None = None,
    ts: Sequence[float] | None = None,
    num_saves: int = 21,
    normalised: bool = False,
    deturck: bool = True,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    max_steps: int = 200_000,
    progress: Callable[[float], None] | None = None,
) -> RicciFlowSolution:
    """Solve Ricci(-DeTurck) flow from ``initial_metric`` on [0, t_end]; :class:`RicciFlowError`
    for a bad metric, a t_end at or past the singular time T* = n/(2 R_min) or a failed solve.
    Arguments: docs/derivations.md#geometry-ricci_flow-ricci_flow."""
    if not (np.isfinite(t_end) and t_end > 0):
        raise RicciFlowError(f"t_end must be a positive finite number, got {t_end}")
    size = 32 if size is None else int(size)
    if isinstance(initial_metric, SpectralTorusMetric):
        m = initial_metric
        term = TorusFlow(m.dim, size, m.length, deturck, normalised)
        y0 = components_from_sym(m.grid_values(size))
    elif isinstance(initial_metric, AxisymmetricS2Metric):
        term = S2Flow(PolarSpectralOps.build(size), normalised)
        y0 = initial_metric.u(term.ops.theta)
    elif isinstance(initial_metric, LeftInvariantS3Metric):
        term, y0 = S3Flow(normalised), jnp.asarray(initial_metric.abc, dtype=float)
    else:
        raise RicciFlowError(
            "ricci_flow: initial_metric must be a SpectralTorusMetric, AxisymmetricS2Metric or "
            f"LeftInvariantS3Metric, got {type(initial_metric).__name__}"
        )
    _check_state(term, y0, 0.0)
    r_min = float(np.min(term.scalar_curvature(y0)))
    if not normalised and r_min > 0 and t_end >= term.n / (2 * r_min) * (1 - 1e-9):
        raise RicciFlowError(
            f"{term.name}: t_end = {t_end} is at or past the singular time: with R >= "
            f"{r_min:.6g} the flow is singular by T = n/(2 R_min) = {term.n / (2 * r_min):.6g}"
        )
    save = np.linspace(0.0, t_end, num_saves) if ts is None else np.asarray(ts, dtype=float)
    if save.ndim != 1 or np.any(np.diff(save) <= 0) or save[0] < 0 or save[-1] > t_end:
        raise RicciFlowError("ts must be strictly increasing within [0, t_end]")
    save = np.unique(np.concatenate([[0.0], save, [t_end]]))
    states = [y0]
    for t0, t1 in zip(save[:-1], save[1:], strict=True):
        y, ok = _solve_segment(term, states[-1], t0, t1, rtol, atol, max_steps)
        if not bool(ok):
            raise RicciFlowError(
                f"{term.name}: the solver failed between t = {t0:.6g} and {t1:.6g} (singular "
                "or too stiff: curvature blew up, or max_steps reached)"
            )
        _check_state(term, y, float(t1))
        states.append(y)
        if progress is not None:
            progress(float(t1))
    return RicciFlowSolution(term, jnp.asarray(save), jnp.stack(states), float(rtol), float(atol))
