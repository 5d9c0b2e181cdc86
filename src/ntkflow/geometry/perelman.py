"""Perelman's functionals by quadrature over points with weights.

    F[g, φ]    = ∫ (R + |∇φ|²) e^{−φ} dV                                 (paper §3; Perelman
                                                                             2002, §1.1)
    W[g, f, τ] = ∫ [τ(R + |∇f|²) + f − n] (4πτ)^{−n/2} e^{−f} dV          (Perelman, §3.1)
    dV = sqrt(det g) dⁿx

``points`` (N, n) and coordinate ``weights`` (N,) define ∫ h dⁿx ≈ Σ w_a h(x_a); on the torus
use :func:`torus_quadrature` (the uniform grid, spectrally accurate for smooth periodic
integrands). ``phi``/``f`` are scalar callables of one point.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .curvature import Scalar, gradient_norm_sq, ricci_scalar, volume_density
from .metric import Metric, MetricError
from .spectral import torus_grid


def torus_quadrature(n: int, size: int, length: float = 2 * np.pi) -> tuple[Array, Array]:
    """Points (size**n, n) and equal weights (L/size)ⁿ of the uniform grid on [0, L)ⁿ."""
    pts = torus_grid(n, size, length)
    return pts, jnp.full(pts.shape[0], (length / size) ** n)


def _check_quadrature(points: Array, weights: Array, where: str) -> None:
    if points.ndim != 2 or weights.shape != (points.shape[0],):
        raise MetricError(
            f"{where}: expected points (N, n) and weights (N,), got {points.shape} and "
            f"{weights.shape}"
        )


def volume(metric: Metric, points: Array, weights: Array) -> Array:
    """Riemannian volume ``∫ dV ≈ Σ w sqrt(det g)``."""
    _check_quadrature(points, weights, "volume")
    return weights @ jax.vmap(lambda x: volume_density(metric, x))(points)


def perelman_F(metric: Metric, phi: Scalar, points: Array, weights: Array) -> Float[Array, ""]:
    """``F[g, φ] = ∫ (R + |∇φ|²) e^{−φ} dV``."""
    _check_quadrature(points, weights, "perelman_F")

    def integrand(x):
        return (
            (ricci_scalar(metric, x) + gradient_norm_sq(metric, phi, x))
            * jnp.exp(-phi(x))
            * volume_density(metric, x)
        )

    return weights @ jax.vmap(integrand)(points)


def perelman_W(
    metric: Metric, f: Scalar, tau: float, points: Array, weights: Array
) -> Float[Array, ""]:
    """``W[g, f, τ] = ∫ [τ(R + |∇f|²) + f − n] (4πτ)^{−n/2} e^{−f} dV``."""
    _check_quadrature(points, weights, "perelman_W")
    n = points.shape[1]

    def integrand(x):
        bracket = tau * (ricci_scalar(metric, x) + gradient_norm_sq(metric, f, x)) + f(x) - n
        return bracket * jnp.exp(-f(x)) * volume_density(metric, x)

    return (4 * jnp.pi * tau) ** (-n / 2) * (weights @ jax.vmap(integrand)(points))
