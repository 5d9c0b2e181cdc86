"""Reference Ricci-flow solver: ``ricci_flow(initial_metric, t_end) -> solution``.

Ricci flow ∂_t g = −2 Ric (Hamilton 1982), integrated in float64 with diffrax (adaptive Tsit5,
PID step control) in the strictly parabolic Ricci–DeTurck form:

* ``SpectralTorusMetric`` on Tⁿ (n = 2, 3): pseudo-spectral on the uniform grid
  (:mod:`.ricci_flow_torus`), flat DeTurck background;
* ``AxisymmetricS2Metric`` e^{2u(θ)}ĝ on S²: the conformal factor equation
  ∂_t u = e^{−2u}(Δ̂u − 1), 1-d pseudo-spectral in the polar angle, implicit Kvaerno5
  (:mod:`.ricci_flow_sphere`); Hamilton's flow in fixed coordinates;
* ``LeftInvariantS3Metric`` A(σ¹)² + B(σ²)² + C(σ³)² on S³: the exact reduction of Ricci flow
  to three ODEs (:mod:`.ricci_flow_s3`).

On T² the DeTurck field vanishes for conformal metrics e^{2u}δ, so for such data the solution
is Hamilton's flow in the *same coordinates* — what a local kernel flow approximates.
Otherwise the torus solution is the Ricci flow pulled back by the DeTurck diffeomorphisms
(curvature values are the same, positions move).

The solution object evaluates the flowed metric anywhere: ``sol.metric(t)`` is a metric module
(callable x ↦ g, differentiable), ``sol.metric_at(t, xs)`` a batch of matrices,
``sol.scalar_curvature(t)`` R on the solver grid. Times that are not saved are reached by
integrating from the nearest saved time (same tolerances).

Exact solution: ``ricci_flow_round_sphere(n, r0, t)`` (radius r(t) = sqrt(r0² − 2(n−1)t),
g(t) = (1 − 2(n−1)t/r0²) g0, singular at T = r0²/(2(n−1))).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .metric import MetricError
from .ricci_flow_s3 import LeftInvariantS3Metric, s3_ricci_flow_rhs, s3_scalar_curvature
from .ricci_flow_sphere import (
    AxisymmetricS2Metric,
    PolarSpectralOps,
    s2_ricci_flow_rhs,
    s2_scalar_curvature,
)
from .ricci_flow_torus import grid_scalar_curvature, torus_ricci_deturck_rhs
from .spectral import SpectralTorusMetric, components_from_sym, sym_from_components, torus_grid


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
    """A start for :func:`ricci_flow` on ``sphere2``, ``sphere3``, ``torus2`` or ``torus3``.

    Spheres: round of ``radius``; with ``perturbation`` ε, three N(0, ε²) numbers ξ (numpy,
    ``seed``) are the cos θ, cos 2θ, cos 3θ coefficients of u on S², log-factors of
    A_i = r²/4 on S³. Tori: δ + ε h, each component of the symmetric h a sum of 4 waves
    a cos(k·x + φ), a ~ N(0, 1/4), φ uniform, k ∈ {−2..2}ⁿ (jax, ``seed``).
    """
    noise = perturbation * np.random.default_rng(seed).standard_normal(3)
    if manifold == "sphere2":
        u = jnp.zeros(8).at[0].set(np.log(radius))
        return AxisymmetricS2Metric(u.at[1:4].set(noise) if perturbation else u)
    if manifold == "sphere3":
        return LeftInvariantS3Metric(jnp.asarray(np.full(3, radius**2 / 4) * np.exp(noise)))
    n, modes = int(manifold[-1]), 4
    c, iu = n * (n + 1) // 2, np.triu_indices(n)
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    amp = jax.random.normal(k1, (c, modes)) / np.sqrt(modes)
    phase = jax.random.uniform(k2, (c, modes), maxval=2 * np.pi)
    kvec = jax.random.randint(k3, (c, modes, n), -2, 3)

    def g(x):
        waves = jnp.sum(amp * jnp.cos(jnp.einsum("cmi,i->cm", kvec, x) + phase), axis=1)
        h = jnp.zeros((n, n)).at[iu].set(waves)
        return jnp.eye(n) + perturbation * (h + h.T - jnp.diag(jnp.diag(h)))

    return SpectralTorusMetric.from_function(g, n, 8)


class _TorusTerm(eqx.Module):
    n: int = eqx.field(static=True)
    length: float = eqx.field(static=True)
    deturck: bool = eqx.field(static=True)
    normalised: bool = eqx.field(static=True)

    def __call__(self, t, y, args):
        return torus_ricci_deturck_rhs(y, self.n, self.length, self.deturck, self.normalised)


class _SphereTerm(eqx.Module):
    ops: PolarSpectralOps
    normalised: bool = eqx.field(static=True)

    def __call__(self, t, y, args):
        return s2_ricci_flow_rhs(self.ops, y, self.normalised)


class _S3Term(eqx.Module):
    normalised: bool = eqx.field(static=True)

    def __call__(self, t, y, args):
        return s3_ricci_flow_rhs(y, self.normalised)


def _stable_dtmax(term, y0) -> Array:
    """Explicit-stability cap for Tsit5 on the torus: the principal symbol of the
    Ricci–DeTurck operator is g^{ab}k_a k_b, largest for the highest kept mode |k_i| = N/3."""
    g = sym_from_components(y0, term.n)
    size = y0.shape[0]
    kmax = 2 * jnp.pi / term.length * (size // 3)
    lam = term.n * kmax**2 * jnp.max(1.0 / jnp.linalg.eigvalsh(g)[..., 0])
    return 2.0 / lam


@eqx.filter_jit
def _solve_segment(term, y0, t0, t1, rtol, atol, max_steps):
    if isinstance(term, _SphereTerm):
        # stiff near the poles (cot θ ∂_θ ~ N²): implicit ESDIRK, cheap for an N-vector
        solver, controller = (
            diffrax.Kvaerno5(),
            diffrax.PIDController(rtol=rtol, atol=atol),
        )
    elif isinstance(term, _S3Term):
        solver, controller = diffrax.Dopri8(), diffrax.PIDController(rtol=rtol, atol=atol)
    else:
        solver = diffrax.Tsit5()
        controller = diffrax.PIDController(rtol=rtol, atol=atol, dtmax=_stable_dtmax(term, y0))
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(term),
        solver,
        t0=t0,
        t1=t1,
        dt0=None,
        y0=y0,
        stepsize_controller=controller,
        max_steps=max_steps,
        saveat=diffrax.SaveAt(t1=True),
        throw=False,
    )
    return sol.ys[0], sol.result == diffrax.RESULTS.successful, sol.stats["num_steps"]


class RicciFlowSolution(eqx.Module):
    """Saved states of a Ricci-flow solve; see the module docstring for the methods."""

    term: eqx.Module
    ts: Array
    states: Array
    manifold: str = eqx.field(static=True)
    n: int = eqx.field(static=True)
    size: int = eqx.field(static=True)
    length: float = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    ops: PolarSpectralOps | None = None

    def state(self, t: float) -> Array:
        """Grid state at time t (saved, or integrated from the last saved time ≤ t)."""
        t = float(t)
        ts = np.asarray(self.ts)
        if t < ts[0] - 1e-14 or t > ts[-1] + 1e-12:
            raise RicciFlowError(f"t = {t} outside the solved interval [{ts[0]}, {ts[-1]}]")
        i = int(np.searchsorted(ts, t, side="right") - 1)
        i = max(0, min(i, len(ts) - 1))
        if abs(ts[i] - t) <= 1e-14 * max(1.0, abs(t)):
            return self.states[i]
        y, ok, _ = _solve_segment(
            self.term, self.states[i], ts[i], t, self.rtol, self.atol, 1_000_000
        )
        if not bool(ok):
            raise RicciFlowError(f"{self.manifold}: re-integration to t = {t} failed")
        return y

    def metric(self, t: float):
        """The flowed metric at time t as a callable module x ↦ g(x)."""
        y = self.state(t)
        if self.manifold == "torus":
            vals = sym_from_components(y, self.n)
            return SpectralTorusMetric.from_grid_values(vals, self.length)
        if self.manifold == "sphere2":
            return AxisymmetricS2Metric.from_grid(self.ops, y)
        return LeftInvariantS3Metric(y)

    def metric_at(self, t: float, xs: Array) -> Array:
        """The flowed metric at time t at points ``xs`` (N, n) → (N, n, n)."""
        return jax.vmap(self.metric(t))(jnp.asarray(xs))

    def scalar_curvature(self, t: float) -> Array:
        """Scalar curvature at time t on the solver grid: torus shape (N,)*n; S² shape (N,)
        at the polar angles :attr:`grid`; S³ shape (1,) (homogeneous)."""
        y = self.state(t)
        if self.manifold == "torus":
            return grid_scalar_curvature(sym_from_components(y, self.n), self.n, self.length)
        if self.manifold == "sphere2":
            return s2_scalar_curvature(self.ops, y)
        return s3_scalar_curvature(y)[None]

    @property
    def grid(self) -> Array:
        """Solver grid: torus points (N**n, n); S² polar angles θ_j (N,); S³ none (empty)."""
        if self.manifold == "torus":
            return torus_grid(self.n, self.size, self.length)
        if self.manifold == "sphere2":
            return self.ops.theta
        return jnp.zeros((0,))


def _check_state(y: Array, t: float, manifold: str, n: int) -> None:
    arr = np.asarray(y)
    if not np.isfinite(arr).all():
        raise RicciFlowError(f"{manifold}: NaN or inf in the flow state at t = {t:.6g}")
    if manifold == "torus":
        eig = np.linalg.eigvalsh(np.asarray(sym_from_components(y, n))).min()
        if eig <= 0:
            raise RicciFlowError(
                f"torus: metric not positive-definite at t = {t:.6g} (min eigenvalue {eig:.3g})"
            )
    elif manifold == "sphere3" and (arr <= 0).any():
        raise RicciFlowError(
            f"sphere3: metric not positive-definite at t = {t:.6g} (A, B, C = {arr})"
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
    """Solve Ricci(-DeTurck) flow from ``initial_metric`` on [0, t_end].

    Args:
        initial_metric: ``SpectralTorusMetric`` (T², T³), ``AxisymmetricS2Metric`` (S²) or
            ``LeftInvariantS3Metric`` (S³).
        t_end: final time (> 0).
        size: grid points per axis (torus, default 32) or polar points (S², default 32).
        ts: save times (sorted, within [0, t_end]); default ``num_saves`` equally spaced.
        normalised: volume-normalised flow ∂_t g = −2 Ric + (2/n) r̄ g.
        deturck: torus only; False gives Hamilton's weakly parabolic flow in fixed coordinates.
        rtol, atol: diffrax PID tolerances.
        progress: called with each saved time as it is reached (for progress bars).

    Raises:
        RicciFlowError: bad metric (NaN, non-PD), t_end at or past the singular time of a
        sphere (by the maximum principle the unnormalised flow on Sⁿ with R ≥ R_min > 0 is
        singular by T* = n/(2 R_min); equality for round spheres), or a failed solve.
    """
    if not (np.isfinite(t_end) and t_end > 0):
        raise RicciFlowError(f"t_end must be a positive finite number, got {t_end}")
    size = 32 if size is None else int(size)
    if isinstance(initial_metric, SpectralTorusMetric):
        n = initial_metric.dim
        length = initial_metric.length
        manifold = "torus"
        vals = initial_metric.grid_values(size)
        y0 = components_from_sym(vals)
        term = _TorusTerm(n, length, deturck, normalised)
        ops = None
    elif isinstance(initial_metric, AxisymmetricS2Metric):
        n, length, manifold = 2, float(np.pi), "sphere2"
        ops = PolarSpectralOps.build(size)
        y0 = initial_metric.u(ops.theta)
        term = _SphereTerm(ops, normalised)
    elif isinstance(initial_metric, LeftInvariantS3Metric):
        n, length, manifold, ops = 3, 0.0, "sphere3", None
        y0 = jnp.asarray(initial_metric.abc, dtype=float)
        term = _S3Term(normalised)
    else:
        raise RicciFlowError(
            "ricci_flow: initial_metric must be a SpectralTorusMetric, AxisymmetricS2Metric or "
            f"LeftInvariantS3Metric, got {type(initial_metric).__name__}"
        )
    _check_state(y0, 0.0, manifold, n)
    if manifold.startswith("sphere") and not normalised:
        r0 = np.asarray(
            s2_scalar_curvature(ops, y0) if manifold == "sphere2" else s3_scalar_curvature(y0)
        )
        if r0.min() > 0:
            t_star = n / (2 * r0.min())
            if t_end >= t_star * (1 - 1e-9):
                raise RicciFlowError(
                    f"{manifold}: t_end = {t_end} is at or past the singular time: with "
                    f"R >= {r0.min():.6g} the flow is singular by T = n/(2 R_min) = {t_star:.6g}"
                )
    save = np.linspace(0.0, t_end, num_saves) if ts is None else np.asarray(ts, dtype=float)
    if save.ndim != 1 or np.any(np.diff(save) <= 0) or save[0] < 0 or save[-1] > t_end:
        raise RicciFlowError("ts must be strictly increasing within [0, t_end]")
    if save[0] != 0.0:
        save = np.concatenate([[0.0], save])
    if save[-1] != t_end:
        save = np.concatenate([save, [t_end]])
    states = [y0]
    y = y0
    for t0, t1 in zip(save[:-1], save[1:], strict=True):
        y, ok, _ = _solve_segment(term, y, t0, t1, rtol, atol, max_steps)
        if not bool(ok):
            raise RicciFlowError(
                f"{manifold}: the solver failed between t = {t0:.6g} and {t1:.6g} (singular "
                "or too stiff: curvature blew up, or max_steps reached)"
            )
        _check_state(y, float(t1), manifold, n)
        states.append(y)
        if progress is not None:
            progress(float(t1))
    return RicciFlowSolution(
        term,
        jnp.asarray(save),
        jnp.stack(states),
        manifold,
        n,
        size,
        float(length),
        float(rtol),
        float(atol),
        ops,
    )
