"""Riemannian curvature of any metric callable, by automatic differentiation; ``(metric, x)``.
The formulas live once, on the metric's 2-jet batched over leading axes (``*_from_jet``,
``*_from_connection``); the callable functions feed them the autodiff jet (``metric_jet``).
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


def metric_jet(
    metric: Metric, x: Float[Array, " n"], strategy: str = DEFAULT_STRATEGY
) -> tuple[Float[Array, "n n"], Float[Array, "n n n"], Float[Array, "n n n n"]]:
    """The 2-jet ``(g, ∂g, ∂²g)`` of ``metric`` at ``x`` by autodiff, in the index order of
    :func:`ricci_from_jet`; ``strategy`` picks the outer (∂²) and inner (∂) mode."""
    outer, inner = _modes(strategy)

    def first(y):
        dg, g = inner(lambda z: (metric_at(metric, z),) * 2, has_aux=True)(y)
        return dg, (g, dg)

    d2g, (g, dg) = outer(first, has_aux=True)(x)
    return g, dg, d2g


def _inverse(g: Float[Array, "*batch n n"]) -> Float[Array, "*batch n n"]:
    """g⁻¹ batched over the leading axes: the adjugate for n ≤ 3 (elementwise, so on a grid of
    points it fuses with the contractions into one loop instead of one LU per point), LU
    (``jnp.linalg.inv``) otherwise."""
    n = g.shape[-1]
    if n == 2:
        a, b, d = g[..., 0, 0], g[..., 0, 1], g[..., 1, 1]
        adj = jnp.stack([jnp.stack([d, -b], -1), jnp.stack([-b, a], -1)], -2)
        return adj / (a * d - b * b)[..., None, None]
    if n == 3:
        col = [g[..., :, j] for j in range(3)]
        cross = lambda u, v: jnp.stack(
            [u[..., 1] * v[..., 2] - u[..., 2] * v[..., 1],
             u[..., 2] * v[..., 0] - u[..., 0] * v[..., 2],
             u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]], -1,
        )  # fmt: skip
        rows = [cross(col[1], col[2]), cross(col[2], col[0]), cross(col[0], col[1])]
        return jnp.stack(rows, -2) / jnp.sum(col[0] * rows[0], -1)[..., None, None]
    return jnp.linalg.inv(g)


# The jet functions below take every tensor with its indices last and any batch (points) in
# front, e.g. ``g[..., a, b]``, and write each contraction Σ_l A[.., l, ..] B[.., l, ..] as a
# sum over l of broadcast products: elementwise, so on a grid of points XLA fuses the whole
# formula into one loop (a batched einsum would be a batched tiny matrix product per
# contraction, several times slower on CPU), and a single point costs a few dozen small ops.


def christoffel_from_jet(
    g: Float[Array, "*batch n n"],
    dg: Float[Array, "*batch n n n"],
    ginv: Float[Array, "*batch n n"] | None = None,
) -> Float[Array, "*batch n n n"]:
    """``Γ[..., k, i, j] = Γ^k_ij = g^{kl} Γ_lij`` from the 1-jet ``dg[..., a, b, c] = ∂_c g_ab``
    (``Γ_lij = ½(∂_i g_jl + ∂_j g_il − ∂_l g_ij)``); ``ginv`` is g⁻¹ if the caller has it."""
    ginv = _inverse(g) if ginv is None else ginv
    low = _christoffel_lower(dg)
    return sum(ginv[..., :, l, None, None] * low[..., None, l, :, :] for l in range(g.shape[-1]))


def connection_from_jet(
    g: Float[Array, "*batch n n"],
    dg: Float[Array, "*batch n n n"],
    d2g: Float[Array, "*batch n n n n"],
) -> tuple[Float[Array, "*batch n n n"], Float[Array, "*batch n n n n"]]:
    """``(Γ, ∂Γ)`` from the 2-jet, ``dΓ[..., k, i, j, m] = ∂_m Γ^k_ij``:
    ``∂_m Γ^k_ij = g^{kl} (∂_m Γ_lij − ∂_m g_lb Γ^b_ij)`` (∂g⁻¹ = −g⁻¹ ∂g g⁻¹)."""
    r = range(g.shape[-1])
    ginv = _inverse(g)
    gam = christoffel_from_jet(g, dg, ginv)
    dlow = _christoffel_lower(d2g, "m")  # [..., l, i, j, m] = ∂_m Γ_lij
    inner = dlow - sum(dg[..., :, b, None, None, :] * gam[..., None, b, :, :, None] for b in r)
    dgam = sum(ginv[..., :, l, None, None, None] * inner[..., None, l, :, :, :] for l in r)
    return gam, dgam


def riemann_from_connection(
    gam: Float[Array, "*batch n n n"], dgam: Float[Array, "*batch n n n n"]
) -> Float[Array, "*batch n n n n"]:
    """``R[..., a, b, c, d] = R^a_bcd`` from ``Γ`` and ``dΓ[..., k, i, j, m] = ∂_m Γ^k_ij``."""
    term_d = jnp.einsum("...adbc->...abcd", dgam) - jnp.einsum("...acbd->...abcd", dgam)
    term_q = jnp.einsum("...ace,...edb->...abcd", gam, gam) - jnp.einsum(
        "...ade,...ecb->...abcd", gam, gam
    )
    return term_d + term_q


def ricci_from_connection(
    gam: Float[Array, "*batch n n n"], dgam: Float[Array, "*batch n n n n"]
) -> Float[Array, "*batch n n"]:
    """``R_bd = R^a_bad = ∂_a Γ^a_db − ∂_d Γ^a_ab + Γ^a_ae Γ^e_db − Γ^a_de Γ^e_ab`` from ``Γ`` and
    ``dΓ[..., k, i, j, m] = ∂_m Γ^k_ij``, whatever computed ∂Γ (:func:`connection_from_jet`,
    or a spectral derivative of Γ on a grid); contracted directly, no n⁴ Riemann tensor."""
    r = range(gam.shape[-1])
    trace = sum(gam[..., a, a, :] for a in r)  # Γ^a_ae
    # the ∂_aΓ^a_db and Γ^a_ae Γ^e_db terms come out as [..., d, b]: one transpose at the end
    db = sum(dgam[..., a, :, :, a] for a in r) + sum(
        trace[..., e, None, None] * gam[..., e, :, :] for e in r
    )
    bd = sum(dgam[..., a, a, :, :] for a in r) + sum(
        gam[..., e, a, :, None] * gam[..., a, None, :, e] for a in r for e in r
    )
    return jnp.swapaxes(db, -1, -2) - bd


def ricci_from_jet(
    g: Float[Array, "*batch n n"],
    dg: Float[Array, "*batch n n n"],
    d2g: Float[Array, "*batch n n n n"],
) -> Float[Array, "*batch n n"]:
    """The Ricci tensor ``R_bd`` from the 2-jet of the metric, batched over the leading axes:
    ``g[..., a, b]``, ``dg[..., a, b, c] = ∂_c g_ab``, ``d2g[..., a, b, c, d] = ∂_c∂_d g_ab``.
    The one 2-jet Ricci formula: :func:`ricci_tensor` feeds it the autodiff jet
    (:func:`metric_jet`), the sphere Ricci-limit flow its grid jets (points in front)."""
    return ricci_from_connection(*connection_from_jet(g, dg, d2g))


def _christoffel_lower(dg: Array, extra: str = "") -> Array:
    """``Γ_lij = ½(∂_i g_jl + ∂_j g_il − ∂_l g_ij)`` as ``[..., l, i, j]`` from ``dg[..., a, b,
    c] = ∂_c g_ab``; ``extra="m"``: ``∂_m Γ_lij`` as ``[..., l, i, j, m]`` from ``d2g``."""
    perm = lambda src: jnp.einsum(f"...{src}{extra}->...lij{extra}", dg)
    return 0.5 * (perm("jli") + perm("ilj") - perm("ijl"))


def christoffel(
    metric: Metric, x: Float[Array, " n"], strategy: str = DEFAULT_STRATEGY
) -> Float[Array, "n n n"]:
    """Christoffel symbols of the second kind, ``Γ[k, i, j] = Γ^k_ij`` (Levi-Civita)."""
    jac = _modes(strategy)[1]
    dg, g = jac(lambda y: (metric_at(metric, y),) * 2, has_aux=True)(x)
    return christoffel_from_jet(g, dg)


def riemann(
    metric: Metric, x: Float[Array, " n"], strategy: str = DEFAULT_STRATEGY
) -> Float[Array, "n n n n"]:
    """Riemann tensor ``R[a, b, c, d] = R^a_bcd`` (see module docstring for the convention)."""
    return riemann_from_connection(*connection_from_jet(*metric_jet(metric, x, strategy)))


def riemann_lower(metric: Metric, x: Float[Array, " n"]) -> Float[Array, "n n n n"]:
    """Fully covariant Riemann tensor ``R_abcd = g_ae R^e_bcd``."""
    return jnp.einsum("ae,ebcd->abcd", metric_at(metric, x), riemann(metric, x))


def ricci_tensor(
    metric: Metric, x: Float[Array, " n"], strategy: str = DEFAULT_STRATEGY
) -> Float[Array, "n n"]:
    """Ricci tensor ``R_bd = R^a_bad``: :func:`ricci_from_jet` of the autodiff 2-jet."""
    return ricci_from_jet(*metric_jet(metric, x, strategy))


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
