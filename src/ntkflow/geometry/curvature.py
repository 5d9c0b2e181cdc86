"""Riemannian curvature of any metric callable, by automatic differentiation; ``(metric, x)``.
R^a_bcd = ∂_c Γ^a_db − ∂_d Γ^a_cb + Γ^a_ce Γ^e_db − Γ^a_de Γ^e_cb (Wald / MTW sign).
Conventions and strategies: docs/derivations.md#geometry-curvature."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .metric import Metric, check_point, metric_at

Scalar = Callable[[Float[Array, " n"]], Float[Array, ""]]

STRATEGIES = ("fwd-fwd", "rev-fwd", "fwd-rev", "rev-rev")
DEFAULT_STRATEGY = "fwd-fwd"


def _modes(strategy: str) -> tuple:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    outer, inner = strategy.split("-")
    pick = {"fwd": jax.jacfwd, "rev": jax.jacrev}
    return pick[outer], pick[inner]


def christoffel(
    metric: Metric, x: Float[Array, " n"], strategy: str = DEFAULT_STRATEGY
) -> Float[Array, "n n n"]:
    """Christoffel symbols of the second kind, ``Γ[k, i, j] = Γ^k_ij`` (Levi-Civita)."""
    jac = _modes(strategy)[1]
    dg, g = jac(lambda y: (metric_at(metric, y),) * 2, has_aux=True)(x)
    # Γ_{l i j} = ½(∂_i g_jl + ∂_j g_il − ∂_l g_ij); dg[a, b, c] = ∂_c g_ab
    gamma_lower = 0.5 * (
        jnp.einsum("jli->lij", dg) + jnp.einsum("ilj->lij", dg) - jnp.einsum("ijl->lij", dg)
    )
    return jnp.einsum("kl,lij->kij", jnp.linalg.inv(g), gamma_lower)


def riemann(
    metric: Metric, x: Float[Array, " n"], strategy: str = DEFAULT_STRATEGY
) -> Float[Array, "n n n n"]:
    """Riemann tensor ``R[a, b, c, d] = R^a_bcd`` (see module docstring for the convention)."""
    jac = _modes(strategy)[0]
    dgam, gam = jac(lambda y: (christoffel(metric, y, strategy),) * 2, has_aux=True)(x)
    # ∂_c Γ^a_db = dgam[a, d, b, c]
    term_d = jnp.einsum("adbc->abcd", dgam) - jnp.einsum("acbd->abcd", dgam)
    term_q = jnp.einsum("ace,edb->abcd", gam, gam) - jnp.einsum("ade,ecb->abcd", gam, gam)
    return term_d + term_q


def riemann_lower(metric: Metric, x: Float[Array, " n"]) -> Float[Array, "n n n n"]:
    """Fully covariant Riemann tensor ``R_abcd = g_ae R^e_bcd``."""
    return jnp.einsum("ae,ebcd->abcd", metric_at(metric, x), riemann(metric, x))


def ricci_tensor(
    metric: Metric, x: Float[Array, " n"], strategy: str = DEFAULT_STRATEGY
) -> Float[Array, "n n"]:
    """Ricci tensor ``R_bd = R^a_bad``."""
    return jnp.einsum("abad->bd", riemann(metric, x, strategy))


def ricci_scalar(
    metric: Metric, x: Float[Array, " n"], strategy: str = DEFAULT_STRATEGY
) -> Float[Array, ""]:
    """Scalar curvature ``R = g^{bd} R_bd``."""
    ginv = jnp.linalg.inv(metric_at(metric, x))
    return jnp.einsum("bd,bd->", ginv, ricci_tensor(metric, x, strategy))


def volume_density(metric: Metric, x: Float[Array, " n"]) -> Float[Array, ""]:
    """Riemannian volume density ``sqrt(det g)`` (dV = sqrt(det g) d^n x)."""
    return jnp.sqrt(jnp.linalg.det(metric_at(metric, x)))


volume_form = volume_density  # dV = sqrt(det g) dx¹∧…∧dxⁿ in a positively oriented chart


def covariant_hessian(metric: Metric, phi: Scalar, x: Float[Array, " n"]) -> Float[Array, "n n"]:
    """``∇_i∇_j φ = ∂_i∂_j φ − Γ^k_ij ∂_k φ`` at ``x`` (symmetric n×n)."""
    x = check_point(x, "covariant_hessian")
    hess, grad = jax.jacfwd(lambda y: (jax.grad(phi)(y),) * 2, has_aux=True)(x)
    return hess - jnp.einsum("kij,k->ij", christoffel(metric, x), grad)


def gradient_norm_sq(metric: Metric, phi: Scalar, x: Float[Array, " n"]) -> Float[Array, ""]:
    """``|∇φ|² = g^{ij} ∂_iφ ∂_jφ``."""
    grad = jax.grad(phi)(check_point(x, "gradient_norm_sq"))
    return grad @ jnp.linalg.solve(metric_at(metric, x), grad)


def laplacian(metric: Metric, phi: Scalar, x: Float[Array, " n"]) -> Float[Array, ""]:
    """Laplace–Beltrami ``Δφ = g^{ij}∇_i∇_jφ``."""
    ginv = jnp.linalg.inv(metric_at(metric, x))
    return jnp.einsum("ij,ij->", ginv, covariant_hessian(metric, phi, x))


def deturck_vector(metric: Metric, background: Metric, x: Float[Array, " n"]) -> Float[Array, " n"]:
    """``W^k = g^{ij}(Γ^k_ij − Γ̃^k_ij)`` at ``x`` (a tensor: a difference of connections)."""
    ginv = jnp.linalg.inv(metric_at(metric, x))
    dgam = christoffel(metric, x) - christoffel(background, x)
    return jnp.einsum("ij,kij->k", ginv, dgam)
