"""Left-invariant (homogeneous) metrics on S³ = SU(2) and their Ricci flow (ODEs).

With the left-invariant coframe in Euler angles x = (θ, ϕ, ψ) (chart 0 < θ < π),

    σ¹ = −sin ψ dθ + cos ψ sin θ dϕ,   σ² = cos ψ dθ + sin ψ sin θ dϕ,   σ³ = dψ + cos θ dϕ,

a diagonal left-invariant metric is g = A (σ¹)² + B (σ²)² + C (σ³)² (Milnor 1976; Berger
spheres for A = B). Its Ricci tensor is diagonal in the same frame,

    Ric_11 = (A² − (B − C)²) / (2BC)      (and cyclically),

so Ricci flow ∂_t g = −2 Ric is the ODE system (Isenberg–Jackson 1992; Chow–Knopf §1.4)

    dA/dt = −(A² − (B − C)²)/(BC),  dB/dt = −(B² − (C − A)²)/(CA),  dC/dt = −(C² − (A − B)²)/(AB).

A = B = C = r²/4 is the round sphere of radius r (R = 6/r²): d(r²)/dt = −4 = −2(n−1), n = 3.
Every solution becomes round as it shrinks to a point (Isenberg–Jackson).
"""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .metric import MetricError


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
