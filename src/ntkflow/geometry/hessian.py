"""Covariant derivatives of a scalar function φ for a metric given as a callable.

    ∇_i∇_j φ = ∂_i∂_j φ − Γ^k_ij ∂_k φ                 (covariant Hessian)
    |∇φ|²    = g^{ij} ∂_i φ ∂_j φ
    Δφ       = g^{ij} ∇_i∇_j φ                          (Laplace–Beltrami, Δ ≤ 0 spectrum)

(Petersen, *Riemannian Geometry*, §2.1; the Hessian enters Perelman's flow
dg/dt = −2(Ric + ∇∇φ), paper §3.) Written for one point ``x``; ``jax.vmap`` for batches.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .curvature import christoffel
from .metric import Metric, check_point, metric_at

Scalar = Callable[[Float[Array, " n"]], Float[Array, ""]]


def covariant_hessian(metric: Metric, phi: Scalar, x: Float[Array, " n"]) -> Float[Array, "n n"]:
    """``∇_i∇_j φ = ∂_i∂_j φ − Γ^k_ij ∂_k φ`` at ``x`` (symmetric n×n)."""
    x = check_point(x, "covariant_hessian")
    grad = jax.grad(phi)(x)
    hess = jax.jacfwd(jax.grad(phi))(x)
    return hess - jnp.einsum("kij,k->ij", christoffel(metric, x), grad)


def gradient_norm_sq(metric: Metric, phi: Scalar, x: Float[Array, " n"]) -> Float[Array, ""]:
    """``|∇φ|² = g^{ij} ∂_iφ ∂_jφ``."""
    grad = jax.grad(phi)(check_point(x, "gradient_norm_sq"))
    return grad @ jnp.linalg.solve(metric_at(metric, x), grad)


def laplacian(metric: Metric, phi: Scalar, x: Float[Array, " n"]) -> Float[Array, ""]:
    """Laplace–Beltrami ``Δφ = g^{ij}∇_i∇_jφ``."""
    ginv = jnp.linalg.inv(metric_at(metric, x))
    return jnp.einsum("ij,ij->", ginv, covariant_hessian(metric, phi, x))
