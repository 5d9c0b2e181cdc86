"""Perelman's functionals by quadrature over points with weights.

    F[g, φ]    = ∫ (R + |∇φ|²) e^{−φ} dV                     (paper §3; Perelman 2002, §1.1)
    W[g, f, τ] = ∫ [τ(R + |∇f|²) + f − n] (4πτ)^{−n/2} e^{−f} dV          (Perelman, §3.1)
    dV = sqrt(det g) dⁿx

``points`` (N, n) and coordinate ``weights`` (N,) define ∫ h dⁿx ≈ Σ w_a h(x_a) (on the torus
:func:`torus_quadrature`, spectrally accurate); ``phi``/``f`` are scalar callables of a point.
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
