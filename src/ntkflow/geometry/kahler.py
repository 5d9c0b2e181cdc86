"""Kähler geometry by automatic differentiation: the one ∂∂̄, pullbacks and curvature.
g_{a b̄} = ¼ (K_{x_a x_b} + K_{y_a y_b} + i (K_{x_a y_b} − K_{y_a x_b}))  (Griffiths–Harris ch. 0)
Equations (1)–(6) and their derivation: docs/derivations.md#geometry-kahler."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

#: a Kähler metric as a function of local real coordinates u = [Re x | Im x]
MetricFunction = Callable[[Float[Array, " 2n"]], Complex[Array, "n n"]]


def to_real(z: Complex[Array, "... n"]) -> Float[Array, "... 2n"]:
    """[Re z | Im z] along the last axis."""
    return jnp.concatenate([jnp.real(z), jnp.imag(z)], axis=-1)


def to_complex(u: Float[Array, "... 2n"]) -> Complex[Array, "... n"]:
    """Inverse of :func:`to_real`."""
    n = u.shape[-1] // 2
    return u[..., :n] + 1j * u[..., n:]


def _wirtinger(h: Array, d: int) -> Array:
    """Eq. (1) from a real Hessian whose last two axes are ordered [e_1..e_d | f_1..f_d]."""
    return 0.25 * (h[..., :d, :d] + h[..., d:, d:] + 1j * (h[..., :d, d:] - h[..., d:, :d]))


def _restricted(f: Callable, u: Array, directions: Array | None):
    """(h, s0, d): h(s) = f(u + s D) with D = [to_real(V); to_real(i V)], s0 = 0 — or f itself
    at u when ``directions`` is None."""
    if directions is None:
        return f, u, u.shape[0] // 2
    V = jnp.asarray(directions)
    D = jnp.concatenate([to_real(V), to_real(1j * V)], axis=0).astype(u.dtype)  # (2d, 2n)
    # zeros_like(u): s0 varies as u does (per device inside shard_map), so derivatives at s0
    # stay per point and are never summed over devices
    return (lambda s: f(u + s @ D)), jnp.zeros_like(u, shape=(D.shape[0],)), V.shape[0]


def complex_hessian(
    f: Callable[[Float[Array, " 2n"]], Array],
    u: Float[Array, " 2n"],
    directions: Complex[Array, "d n"] | None = None,
) -> Complex[Array, "... d d"]:
    """∂_a ∂̄_b f at u = [Re z | Im z] for a real f (eq. 1); output axes of f come first. Along
    ``directions`` V: (V (∂∂̄ f) Vᴴ)_{ab}, the pullback by a holomorphic map.
    Method: docs/derivations.md#geometry-kahler-complex_hessian."""
    h, s0, d = _restricted(f, u, directions)
    scalar = jax.eval_shape(h, s0).shape == ()
    hess = jax.hessian(h)(s0) if scalar else jax.jacfwd(jax.jacfwd(h))(s0)
    return _wirtinger(hess, d)


def complex_jet(
    f: Callable[[Float[Array, " 2n"]], Array],
    u: Float[Array, " 2n"],
    directions: Complex[Array, "d n"] | None = None,
) -> tuple[Array, Complex[Array, "... d"], Complex[Array, "... d d"]]:
    """(f, ∂_a f, ∂_a ∂̄_b f) at u for a real f, along ``directions`` as in
    :func:`complex_hessian`; ∂_{v} = ½(∂_e − i ∂_f) with e = v, f = i v. One forward-over-
    forward pass gives all three."""
    h, s0, d = _restricted(f, u, directions)

    def grad_and_value(s):
        df, val = jax.jacfwd(lambda t: (h(t),) * 2, has_aux=True)(s)
        return df, (df, val)

    hess, (grad, val) = jax.jacfwd(grad_and_value, has_aux=True)(s0)
    return val, 0.5 * (grad[..., :d] - 1j * grad[..., d:]), _wirtinger(hess, d)


def potential_metric(potential: Callable[[Float[Array, " 2n"]], Float[Array, ""]]):
    """The metric function u ↦ ∂∂̄K(u) of a real potential K of u = [Re z | Im z]."""
    return lambda u: complex_hessian(potential, u)


def pullback(g: Complex[Array, "n n"], jac: Complex[Array, "d n"]) -> Complex[Array, "d d"]:
    """g_{a b̄} = J_{a i} g_{i j̄} conj(J_{b j}) = (J g Jᴴ)_{ab}, J[a, i] = ∂z_i/∂x_a."""
    return jac @ g @ jnp.conj(jac).T


def chern_connection(
    metric: MetricFunction, u: Float[Array, " 2n"]
) -> tuple[Complex[Array, "n n n"], Complex[Array, "n n"]]:
    """(Γ, g) with Γ[c, b, a] = Γ^a_{c b} = Σ_e ∂_c g_{b ē} g^{a ē} (eq. 2)."""
    n = u.shape[0] // 2
    du, g = jax.jacfwd(lambda v: (metric(v),) * 2, has_aux=True)(u)
    dg = 0.5 * (du[..., :n] - 1j * du[..., n:])  # dg[b, e, c] = ∂_c g_{b ē}
    ginv = jnp.linalg.inv(g)  # ginv[e, a] = g^{a ē}
    return jnp.einsum("bec,ea->cba", dg, ginv), g


def chern_curvature(
    metric: MetricFunction, u: Float[Array, " 2n"]
) -> tuple[Complex[Array, "n n"], Complex[Array, "n n n n"]]:
    """(g, Rm) with Rm[a, b, c, d] = R^a_{b c d̄} = −∂̄_d Γ^a_{c b} (eq. 3); Γ is evaluated
    once (its jet carries it as the primal)."""
    n = u.shape[0] // 2
    # dgam[c, b, a, k] = ∂_{u_k} Γ^a_{c b}
    dgam, g = jax.jacfwd(lambda v: chern_connection(metric, v), has_aux=True)(u)
    dbar = 0.5 * (dgam[..., :n] + 1j * dgam[..., n:])
    return g, -jnp.einsum("cbad->abcd", dbar)


def ricci_from_riemann(Rm: Complex[Array, "n n n n"]) -> Complex[Array, "n n"]:
    """Ric_{c d̄} = R^a_{a c d̄} (eq. 4)."""
    return jnp.einsum("aacd->cd", Rm)


def ricci_form(metric: MetricFunction, u: Float[Array, " 2n"]) -> Complex[Array, "n n"]:
    """Ric_{c d̄} = −∂_c ∂̄_d log det g (eq. 4, the second form: independent of Γ)."""
    return complex_hessian(lambda v: -jnp.linalg.slogdet(metric(v))[1], u)


def trace_with_metric(g: Complex[Array, "n n"], h: Complex[Array, "n n"]) -> Float[Array, ""]:
    """g^{c d̄} h_{c d̄} (eq. 5 for h = Ric)."""
    return jnp.real(jnp.trace(jnp.linalg.solve(g, h)))


def kahler_ricci_scalar(metric: MetricFunction, u: Float[Array, " 2n"]) -> Float[Array, ""]:
    """R = g^{c d̄} Ric_{c d̄} (eq. 5), with Ric from eq. (4)'s second form."""
    return trace_with_metric(metric(u), ricci_form(metric, u))


def top_chern_density(Rm: Complex[Array, "n n n n"]) -> Float[Array, ""]:
    """S with c_n = π^{-n} S d^{2n}x (eq. 6), from Rm[a, b, c, d] = R^a_{b c d̄}."""
    n = Rm.shape[0]
    eps = np.zeros((n,) * n)  # the Levi-Civita symbol, ε_{0..n-1} = 1
    for p in itertools.permutations(range(n)):
        eps[p] = np.linalg.det(np.eye(n)[list(p)])
    ab = "abcdefghijklmnopqrstuvwxyz"
    B, C, D = ab[:n], ab[n : 2 * n], ab[2 * n : 3 * n]
    expr = ",".join([B, C, D] + [B[a] + C[a] + D[a] for a in range(n)]) + "->"
    return jnp.real(jnp.einsum(expr, eps, eps, eps, *[Rm[a] for a in range(n)]))


def curvature_scalars(metric: MetricFunction, u: Float[Array, " 2n"]) -> dict[str, Array]:
    """det g, the Ricci scalar R (eq. 5) and the Euler density S (eq. 6) at one point, from
    one evaluation of the curvature tensor (eq. 3)."""
    g, Rm = chern_curvature(metric, u)
    return {
        "det_g": jnp.real(jnp.linalg.det(g)),
        "ricci_scalar": trace_with_metric(g, ricci_from_riemann(Rm)),
        "euler_density": top_chern_density(Rm),
    }
