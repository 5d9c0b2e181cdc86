"""Axially symmetric metrics on S² and their Ricci flow (1-d pseudo-spectral, conformal form).

Every metric on S² is conformal to the round one; we take axially symmetric ones,

    g = e^{2u(θ)} ĝ,    ĝ = dθ² + sin²θ dϕ²  (unit round sphere, θ the polar angle),

with u even in θ (a cosine series, smooth at both poles). In two dimensions Ric = K g, so
Hamilton's flow ∂_t g = −2 Ric = −2K g keeps the conformal class *in fixed coordinates* and
reduces to the scalar parabolic equation (Hamilton 1988; Chow 1991)

    ∂_t u = −K = e^{−2u} (Δ̂u − 1),        Δ̂u = u_θθ + cot θ u_θ,
    R = 2K = 2 e^{−2u} (1 − Δ̂u),

and the volume-normalised flow ∂_t g = (r̄ − R) g, r̄ = 8π/Area, to ∂_t u = r̄/2 − K. The
round sphere u = log r shrinks as r(t)² = r₀² − 2t. The state is u at θ_j = (j + ½)π/N;
derivatives are those of the cosine interpolant (Boyd, *Chebyshev and Fourier Spectral
Methods*, ch. 18). (A 1-d Ricci–DeTurck collocation of g = a²dθ² + b²g_{S^{n−1}}, n ≥ 3, has
spurious growing pole modes, so S³ uses the homogeneous metrics of :mod:`.ricci_flow_s3`.)
"""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .metric import MetricError


class PolarSpectralOps(eqx.Module):
    """Dense cosine-series operators on the interior polar grid θ_j = (j + ½)π/N (N ≲ 128).

    ``even_to_coeffs``: values → cosine coefficients c_k (k = 0..N−1);
    ``d_even``: values of an even function → values of its θ-derivative (odd);
    ``d_odd``: the same for odd functions (sine series, k = 1..N);
    ``w_area``: weights with ∫_0^π f sin θ dθ ≈ Σ w_j f_j for even f.
    """

    theta: Array
    even_to_coeffs: Array
    d_even: Array
    d_odd: Array
    w_area: Array

    @classmethod
    def build(cls, size: int) -> PolarSpectralOps:
        th = (np.arange(size) + 0.5) * np.pi / size
        k_e, k_o = np.arange(size), np.arange(1, size + 1)
        c_inv = np.linalg.inv(np.cos(np.outer(th, k_e)))
        s_inv = np.linalg.inv(np.sin(np.outer(th, k_o)))
        d_even = (-np.sin(np.outer(th, k_e)) * k_e) @ c_inv
        d_odd = (np.cos(np.outer(th, k_o)) * k_o) @ s_inv
        # f sin θ is odd: ∫_0^π sin kθ dθ = (1 − (−1)^k)/k; f_j sin θ_j → sine coefficients
        int_o = (1.0 - (-1.0) ** k_o) / k_o
        w_area = (s_inv.T @ int_o) * np.sin(th)
        return cls(*map(jnp.asarray, (th, c_inv, d_even, d_odd, w_area)))


def polar_laplacian(ops: PolarSpectralOps, u: Array) -> Array:
    """Δ̂u = u_θθ + cot θ u_θ on the unit round sphere (axially symmetric u)."""
    u_th = ops.d_even @ u
    return ops.d_odd @ u_th + jnp.cos(ops.theta) / jnp.sin(ops.theta) * u_th


def s2_scalar_curvature(ops: PolarSpectralOps, u: Array) -> Array:
    """R = 2 e^{−2u}(1 − Δ̂u) on the grid."""
    return 2 * jnp.exp(-2 * u) * (1 - polar_laplacian(ops, u))


def s2_area(ops: PolarSpectralOps, u: Array) -> Array:
    """Area ∫ e^{2u} dÂ = 2π ∫_0^π e^{2u} sin θ dθ."""
    return 2 * jnp.pi * ops.w_area @ jnp.exp(2 * u)


def _chebyshev_t_series(coeffs: Array, c: Array) -> Array:
    """Σ_k c_k T_k(c), k = 0..N−1 (= Σ c_k cos kθ for c = cos θ)."""
    t_prev, t_cur = jnp.ones_like(c), c
    total = coeffs[0] * t_prev
    for ck in coeffs[1:]:
        total = total + ck * t_cur
        t_prev, t_cur = t_cur, 2 * c * t_cur - t_prev
    return total


class AxisymmetricS2Metric(eqx.Module):
    """g = e^{2u(θ)} ĝ on S², u = Σ_k c_k cos kθ (k = 0..N−1).

    Called on x ∈ ℝ² in the stereographic chart from the south pole (|x| = tan(θ/2), north
    pole at x = 0, ĝ = 4/(1+|x|²)² δ there) it returns e^{2u} 4/(1+|x|²)² δ, smooth in x
    (cos θ = (1−|x|²)/(1+|x|²), u via Chebyshev polynomials T_k(cos θ)).
    """

    cos_coeffs: Float[Array, " N"]

    def u(self, theta: Array) -> Array:
        return _chebyshev_t_series(self.cos_coeffs, jnp.cos(theta))

    @classmethod
    def from_grid(cls, ops: PolarSpectralOps, u: Array) -> AxisymmetricS2Metric:
        return cls(ops.even_to_coeffs @ u)

    @classmethod
    def round(cls, radius: float, size: int = 16) -> AxisymmetricS2Metric:
        """The round sphere of the given radius (u = log r)."""
        return cls(jnp.zeros(size).at[0].set(jnp.log(radius)))

    def __call__(self, x: Float[Array, " 2"]) -> Float[Array, "2 2"]:
        if x.shape != (2,):
            raise MetricError(
                f"AxisymmetricS2Metric: expected a point of shape (2,), got {x.shape}"
            )
        rho2 = x @ x
        u = _chebyshev_t_series(self.cos_coeffs, (1 - rho2) / (1 + rho2))
        return jnp.exp(2 * u) * 4.0 / (1 + rho2) ** 2 * jnp.eye(2, dtype=x.dtype)


class S2Flow(eqx.Module):
    """∂_t u = e^{−2u}(Δ̂u − 1) [+ r̄/2, r̄ = 8π/Area, for the normalised flow] on the grid."""

    ops: PolarSpectralOps
    normalised: bool = eqx.field(static=True)
    name, n = "sphere2", 2

    def __call__(self, t, u, args):
        du = jnp.exp(-2 * u) * (polar_laplacian(self.ops, u) - 1)
        return du + 0.5 * 8 * jnp.pi / s2_area(self.ops, u) if self.normalised else du

    def solver(self, y, rtol, atol):
        # stiff near the poles (cot θ ∂_θ ~ N²): implicit ESDIRK, cheap for an N-vector
        return diffrax.Kvaerno5(), diffrax.PIDController(rtol=rtol, atol=atol)

    def metric(self, y):
        return AxisymmetricS2Metric.from_grid(self.ops, y)

    def scalar_curvature(self, y):
        return s2_scalar_curvature(self.ops, y)

    def min_eigenvalue(self, y):
        return np.inf  # e^{2u} > 0

    @property
    def grid(self):
        return self.ops.theta
