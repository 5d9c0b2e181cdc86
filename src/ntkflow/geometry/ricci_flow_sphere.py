"""Ricci flow on spheres: axially symmetric metrics on S² (1-d pseudo-spectral, conformal form)
and left-invariant metrics on S³ (ODEs): ∂_t u = e^{−2u} (Δ̂u − 1) for g = e^{2u(θ)} ĝ
(Hamilton 1988; Chow 1991); dA/dt = −(A² − (B − C)²)/(BC), cyclically (Isenberg–Jackson
1992; Chow–Knopf §1.4). Derivation: docs/derivations.md#geometry-ricci_flow_sphere."""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .metric import MetricError


class PolarSpectralOps(eqx.Module):
    """Dense cosine-series operators on the interior polar grid θ_j = (j + ½)π/N (N ≲ 128)."""

    theta: Array
    even_to_coeffs: Array  # values → cosine coefficients c_k (k = 0..N−1)
    d_even: Array  # values of an even function → values of its θ-derivative (odd)
    d_odd: Array  # the same for odd functions (sine series, k = 1..N)
    w_area: Array  # weights with ∫_0^π f sin θ dθ ≈ Σ w_j f_j for even f

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


def s3_coframe(x: Float[Array, " 3"]) -> Float[Array, "3 3"]:
    """Rows σ^i_μ of the left-invariant coframe at Euler angles x = (θ, ϕ, ψ)."""
    th, _, ps = x[0], x[1], x[2]
    zero = jnp.zeros_like(th)
    return jnp.array(
        [
            [-jnp.sin(ps), jnp.cos(ps) * jnp.sin(th), zero],
            [jnp.cos(ps), jnp.sin(ps) * jnp.sin(th), zero],
            [zero, jnp.cos(th), jnp.ones_like(th)],
        ]
    )


def s3_frame_ricci(abc: Float[Array, " 3"]) -> Float[Array, " 3"]:
    """Frame Ricci eigenvalues (A² − (B−C)²)/(2BC), cyclic."""
    a, b, c = abc, jnp.roll(abc, -1), jnp.roll(abc, -2)
    return (a**2 - (b - c) ** 2) / (2 * b * c)


def s3_scalar_curvature(abc: Float[Array, " 3"]) -> Float[Array, ""]:
    """R = Σ_i Ric_ii / A_i."""
    return jnp.sum(s3_frame_ricci(abc) / abc)


class LeftInvariantS3Metric(eqx.Module):
    """g = A(σ¹)² + B(σ²)² + C(σ³)² on S³, evaluated in Euler angles x = (θ, ϕ, ψ)."""

    abc: Float[Array, " 3"]

    @classmethod
    def round(cls, radius: float) -> LeftInvariantS3Metric:
        """The round 3-sphere of the given radius (A = B = C = r²/4)."""
        return cls(jnp.full(3, radius**2 / 4.0))

    def __call__(self, x: Float[Array, " 3"]) -> Float[Array, "3 3"]:
        if x.shape != (3,):
            raise MetricError(
                f"LeftInvariantS3Metric: expected a point of shape (3,), got {x.shape}"
            )
        e = s3_coframe(x)
        g = e.T @ (self.abc[:, None] * e)
        return 0.5 * (g + g.T)


class S3Flow(eqx.Module):
    """d(A, B, C)/dt = −2 Ric_ii  [+ (2/3) R A_i for the volume-normalised flow; R is constant
    in space for a homogeneous metric, so r̄ = R]."""

    normalised: bool = eqx.field(static=True)
    name, n = "sphere3", 3

    def __call__(self, t, abc, args):
        rhs = -2 * s3_frame_ricci(abc)
        return rhs + (2.0 / 3.0) * s3_scalar_curvature(abc) * abc if self.normalised else rhs

    def solver(self, y, rtol, atol):
        return diffrax.Dopri8(), diffrax.PIDController(rtol=rtol, atol=atol)

    def metric(self, y):
        return LeftInvariantS3Metric(y)

    def scalar_curvature(self, y):
        return s3_scalar_curvature(y)[None]

    def min_eigenvalue(self, y):
        return np.min(np.asarray(y))  # A, B, C are the frame eigenvalues

    @property
    def grid(self):
        return jnp.zeros((0,))
