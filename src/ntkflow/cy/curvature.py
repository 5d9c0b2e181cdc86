"""Curvature of Kähler metrics g = ∂∂̄K in local holomorphic coordinates, by autodiff.

For a real potential k(u), u = [Re x | Im x] the local coordinates (see
:func:`ntkflow.cy.kahler.local_potential`), with G[a, b] = g_{a b̄} = ∂_a ∂̄_b k
(Griffiths-Harris ch. 0 §7; Kobayashi-Nomizu II ch. IX):

    Γ^a_{c b}     = g^{a ē} ∂_c g_{b ē}                   (Chern connection)
    R^a_{b c d̄}   = −∂̄_d Γ^a_{c b}                        (curvature Θ^a_b = R^a_{b c d̄} dz^c∧dz̄^d)
    Ric_{c d̄}     = R^a_{a c d̄} = −∂_c ∂̄_d log det g
    R             = g^{c d̄} Ric_{c d̄}                      (the Ricci scalar of the brief)

Top Chern form (Chern-Gauss-Bonnet, Griffiths-Harris p. 416), c_n = det((i/2π) Θ). Expanding
the determinant of commuting 2-forms and using Π_a (i dz^a∧dz̄^a) = 2^n d^{2n}x,

    c_n = π^{-n} S d^{2n}x,   S = Σ ε^{b_1..b_n} ε^{c_1..c_n} ε^{d_1..d_n} Π_a R^a_{b_a c_a d̄_a}.

Checks: FS on P^n has Ric = (n+1) π g (t = 1) and ∫ c_n = n + 1.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from .kahler import local_potential, wirtinger_hessian


def _d(f_u_deriv: Array, n: int, which: str) -> Array:
    """Wirtinger derivative from real derivatives along the last axis (length 2n)."""
    dx, dy = f_u_deriv[..., :n], f_u_deriv[..., n:]
    return 0.5 * (dx - 1j * dy) if which == "holo" else 0.5 * (dx + 1j * dy)


def kahler_metric_local(k, u: Float[Array, " 2n"]) -> Complex[Array, "n n"]:
    """g_{a b̄} = ∂_a ∂̄_b k at u."""
    return wirtinger_hessian(k, u)


def _gamma(k, u):
    """Γ[c, b, a] = Γ^a_{c b} = Σ_e ∂_c g_{b ē} g^{a ē}, and g."""
    n = u.shape[0] // 2
    dg, g = jax.jacfwd(lambda v: (wirtinger_hessian(k, v),) * 2, has_aux=True)(u)  # (n,n,2n)
    dcg = jnp.moveaxis(_d(dg, n, "holo"), -1, 0)  # [c, b, e] = ∂_c g_{b ē}
    ginv = jnp.linalg.inv(g)  # ginv[e, a] = g^{a ē}
    return jnp.einsum("cbe,ea->cba", dcg, ginv), g


def riemann_local(k, u: Float[Array, " 2n"]) -> tuple[Array, Array]:
    """(g, Rm) with Rm[a, b, c, d] = R^a_{b c d̄} = −∂̄_d Γ^a_{c b}."""
    n = u.shape[0] // 2
    dgam, (gam, g) = jax.jacfwd(lambda v: (_gamma(k, v)[0], _gamma(k, v)), has_aux=True)(u)
    dbar = _d(dgam, n, "anti")  # [c, b, a, d] = ∂̄_d Γ^a_{cb}
    return g, -jnp.einsum("cbad->abcd", dbar)


def ricci_form_local(k, u) -> Complex[Array, "n n"]:
    """Ric_{c d̄} = −∂_c ∂̄_d log det g."""
    return wirtinger_hessian(lambda v: -jnp.linalg.slogdet(wirtinger_hessian(k, v))[1], u)


def ricci_scalar_local(k, u) -> Float[Array, ""]:
    """R = g^{c d̄} Ric_{c d̄} = −g^{c d̄} ∂_c ∂̄_d log det g."""
    g = wirtinger_hessian(k, u)
    return jnp.real(jnp.trace(jnp.linalg.solve(g, ricci_form_local(k, u))))


def _levi_civita(n: int) -> np.ndarray:
    eps = np.zeros((n,) * n)
    for p in itertools.permutations(range(n)):
        inv = sum(1 for i in range(n) for j in range(i + 1, n) if p[i] > p[j])
        eps[p] = -1.0 if inv % 2 else 1.0
    return eps


def top_chern_density(Rm: Complex[Array, "n n n n"]) -> Float[Array, ""]:
    """S with c_n = π^{-n} S d^{2n}x (module docstring), from R^a_{b c d̄}."""
    n = Rm.shape[0]
    eps = jnp.asarray(_levi_civita(n))
    letters = "abcdefghijklmnopqrstuvwxyz"
    B, C, Dd = letters[:n], letters[n : 2 * n], letters[2 * n : 3 * n]
    terms = [B, C, Dd] + [B[a] + C[a] + Dd[a] for a in range(n)]
    expr = ",".join(terms) + "->"
    return jnp.real(jnp.einsum(expr, eps, eps, eps, *[Rm[a] for a in range(n)]))


def point_curvature(variety, potential, z, patch, elim) -> dict[str, Array]:
    """At one point of X, in its chart: det g, the Ricci scalar R and the Euler density S.

    ``potential``: a real function K(z) of the ambient homogeneous coordinates (e.g.
    :class:`~ntkflow.cy.fubini_study.FubiniStudy`, a Donaldson potential, or K_FS + φ)."""
    k, u0 = local_potential(variety, potential, z, patch, elim)
    g, Rm = riemann_local(k, u0)
    ric = jnp.einsum("aacd->cd", Rm)
    R = jnp.real(jnp.trace(jnp.linalg.solve(g, ric)))
    return {
        "det_g": jnp.real(jnp.linalg.det(g)),
        "ricci_scalar": R,
        "euler_density": top_chern_density(Rm),
    }


def euler_characteristic(euler_density, omega_sq, weights, dim: int) -> tuple[float, float]:
    """χ = ∫_X c_n ≈ π^{-n}/n! ⟨S w/|Ω|²⟩ (w/|Ω|² = V_FS/det g_FS: see ntkflow.cy.points),
    and its Monte-Carlo standard error."""
    f = (
        jnp.asarray(euler_density)
        * jnp.asarray(weights)
        / jnp.asarray(omega_sq)
        / (jnp.pi**dim * math.factorial(dim))
    )
    if not bool(jnp.all(jnp.isfinite(f))):
        raise ValueError("euler_characteristic: the Euler density is NaN or inf at some point")
    return float(jnp.mean(f)), float(jnp.std(f, ddof=1) / jnp.sqrt(f.shape[0]))
