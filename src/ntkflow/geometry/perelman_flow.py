"""Perelman's functionals: by quadrature over points with weights, and F along Ricci flow on Tⁿ.
F[g, φ] = ∫ (R + |∇φ|²) e^{−φ} dV,  dF/dt = 2 ∫ |Ric + ∇∇φ|² e^{−φ} dV ≥ 0  (Perelman 2002).
W and the conjugate heat equation: docs/derivations.md#geometry-perelman_flow."""

from __future__ import annotations

from collections.abc import Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .curvature import Scalar, gradient_norm_sq, ricci_scalar, volume_density
from .metric import Metric, MetricError
from .ricci_flow import RicciFlowError, diffeqsolve
from .ricci_flow_torus import GridGeometry, TorusFlow, grid_geometry, grid_gradient
from .spectral import SpectralTorusMetric, components_from_sym, torus_grid


def torus_quadrature(n: int, size: int, length: float = 2 * np.pi) -> tuple[Array, Array]:
    """Points (size**n, n) and equal weights (L/size)ⁿ of the uniform grid on [0, L)ⁿ."""
    pts = torus_grid(n, size, length)
    return pts, jnp.full(pts.shape[0], (length / size) ** n)


def _integral(where, metric, points, weights, integrand) -> Array:
    """Σ_a w_a integrand(x_a) sqrt(det g(x_a)) for points (N, n) and weights (N,)."""
    if points.ndim != 2 or weights.shape != (points.shape[0],):
        raise MetricError(
            f"{where}: expected points (N, n) and weights (N,), got {points.shape} and "
            f"{weights.shape}"
        )
    return weights @ jax.vmap(lambda x: integrand(x) * volume_density(metric, x))(points)


def volume(metric: Metric, points: Array, weights: Array) -> Array:
    """Riemannian volume ``∫ dV ≈ Σ w sqrt(det g)``."""
    return _integral("volume", metric, points, weights, lambda x: 1.0)


def perelman_F(metric: Metric, phi: Scalar, points: Array, weights: Array) -> Float[Array, ""]:
    """``F[g, φ] = ∫ (R + |∇φ|²) e^{−φ} dV``."""

    def integrand(x):
        return (ricci_scalar(metric, x) + gradient_norm_sq(metric, phi, x)) * jnp.exp(-phi(x))

    return _integral("perelman_F", metric, points, weights, integrand)


def perelman_W(
    metric: Metric, f: Scalar, tau: float, points: Array, weights: Array
) -> Float[Array, ""]:
    """``W[g, f, τ] = ∫ [τ(R + |∇f|²) + f − n] (4πτ)^{−n/2} e^{−f} dV``."""
    n = points.shape[-1]

    def integrand(x):
        bracket = tau * (ricci_scalar(metric, x) + gradient_norm_sq(metric, f, x)) + f(x) - n
        return bracket * jnp.exp(-f(x))

    return (4 * jnp.pi * tau) ** (-n / 2) * _integral(
        "perelman_W", metric, points, weights, integrand
    )


def _hessian(geo: GridGeometry, f: Array, n: int, length: float) -> tuple[Array, Array]:
    """(∂f, ∇∇f) on the grid: ∇_i∇_j f = ∂_i∂_j f − Γ^k_ij ∂_k f."""
    df = grid_gradient(f, n, length)
    ddf = grid_gradient(df, n, length)
    return df, ddf - jnp.einsum("...kij,...k->...ij", geo.gam, df)


class _ConjugateHeatTerm(eqx.Module):
    """∂_t û = −Δ̂û + R̂û + W^k ∂_k û along the dense forward solution; the backward equation
    has the stiffness of the forward one, so it takes the forward step cap."""

    forward: diffrax.Solution
    flow: TorusFlow

    def __call__(self, t, u, args):
        n, length = self.flow.n, self.flow.length
        geo = grid_geometry(self.forward.evaluate(t), n, length)
        du, hess = _hessian(geo, u, n, length)
        lap = jnp.einsum("...ij,...ij->...", geo.ginv, hess)
        return -lap + geo.r * u + jnp.einsum("...k,...k->...", geo.w_up, du)

    def solver(self, y, rtol, atol):
        return self.flow.solver(y, rtol, atol)


@eqx.filter_jit
def _solve(flow, y0, u_final, t_end, ts_desc, rtol, atol):
    # dense output preallocates max_steps x state; raises if exceeded
    save = diffrax.SaveAt(dense=True, t1=True)
    fwd = diffeqsolve(flow, y0, 0.0, t_end, rtol, atol, 1024, save)
    back_term, cap_state = _ConjugateHeatTerm(fwd, flow), fwd.evaluate(t_end)
    save = diffrax.SaveAt(ts=ts_desc)
    back = diffeqsolve(back_term, u_final, t_end, 0.0, rtol, atol, 200_000, save, cap_state)
    return jax.vmap(fwd.evaluate)(ts_desc), back.ys


def perelman_F_along_flow(
    initial_metric: SpectralTorusMetric,
    phi_final: Callable[[Array], Array],
    t_end: float,
    num_times: int = 11,
    size: int = 24,
    rtol: float = 1e-9,
    atol: float = 1e-11,
) -> dict[str, Array]:
    """Evaluate Perelman's F along Ricci(–DeTurck) flow on Tⁿ with φ(T) = ``phi_final``: a dict
    with ``t`` (increasing), ``F`` = ∫(R + |∇φ|²)e^{−φ}dV, ``dF_dt_formula`` =
    2∫|Ric + ∇∇φ|²e^{−φ}dV (Perelman's monotonicity formula, to compare with finite
    differences of F) and ``mass`` = ∫e^{−φ}dV (conserved)."""
    if not isinstance(initial_metric, SpectralTorusMetric):
        raise RicciFlowError("perelman_F_along_flow: initial_metric must be a SpectralTorusMetric")
    if not (np.isfinite(t_end) and t_end > 0):
        raise RicciFlowError(f"t_end must be a positive finite number, got {t_end}")
    n, length = initial_metric.dim, initial_metric.length
    y0 = components_from_sym(initial_metric.grid_values(size))
    pts = torus_grid(n, size, length)
    phi_t = jax.vmap(phi_final)(pts).reshape((size,) * n)
    if not bool(jnp.all(jnp.isfinite(phi_t))):
        raise RicciFlowError("perelman_F_along_flow: phi_final is NaN or inf on the grid")
    ts = np.linspace(0.0, t_end, num_times)
    flow = TorusFlow(n, size, length)
    gs, us = _solve(flow, y0, jnp.exp(-phi_t), t_end, ts[::-1], rtol, atol)
    if not bool(jnp.all(jnp.isfinite(us))) or not bool(jnp.all(us > 0)):
        raise RicciFlowError("perelman_F_along_flow: u = e^{-phi} lost positivity or became NaN")

    def along(comps, u):
        geo = grid_geometry(comps, n, length)
        dphi, hess = _hessian(geo, -jnp.log(u), n, length)
        grad2 = jnp.einsum("...i,...ij,...j->...", dphi, geo.ginv, dphi)
        dm = u * geo.sqrt_det * (length / size) ** n
        mixed = jnp.einsum("...ia,...ab->...ib", geo.ginv, geo.ric + hess)
        return {
            "F": jnp.sum((geo.r + grad2) * dm),
            "dF_dt_formula": 2 * jnp.sum(jnp.einsum("...ij,...ji->...", mixed, mixed) * dm),
            "mass": jnp.sum(dm),
        }

    return {"t": jnp.asarray(ts), **jax.vmap(along)(gs[::-1], us[::-1])}
