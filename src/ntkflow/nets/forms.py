"""Maps from a raw network matrix to a metric (positive-definite forms).

For a reference metric g_ref(x) and the network's raw n×n output M(x):

- ``'additive'``: g = g_ref + S,                        S = (M + Mᵀ)/2 (symmetric part);
- ``'cholesky'``: g = g_ref + L Lᵀ,                      L = lower triangle of M;
- ``'exp'``:      g = g_ref^{1/2} exp(S) g_ref^{1/2}      (positive-definite for every S).

``'additive'`` is linear in the network, so its infinite-width metric-NTK is deterministic
(paper §2); the other two are positive-definite by construction but non-linear in the network
output, so their metric-NTK at initialisation stays random at infinite width.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

FORMS = ("additive", "cholesky", "exp")


def check_form(form: str, where: str) -> str:
    if form not in FORMS:
        raise ValueError(f"{where}: form must be one of {FORMS}, got {form!r}")
    return form


def sym(m: Array) -> Array:
    return 0.5 * (m + m.T)


def sqrtm_spd(a: Float[Array, "n n"], iterations: int = 30) -> Float[Array, "n n"]:
    """Principal square root of a symmetric positive-definite matrix by the Denman–Beavers
    iteration Y ← (Y + Z⁻¹)/2, Z ← (Z + Y⁻¹)/2 on a/‖a‖_F (Higham, *Functions of Matrices*,
    §6.3). Unlike an eigendecomposition it stays differentiable at repeated eigenvalues.
    """
    c = jnp.linalg.norm(a)
    eye = jnp.eye(a.shape[0], dtype=a.dtype)

    def step(_, yz):
        y, z = yz
        return 0.5 * (y + jnp.linalg.inv(z)), 0.5 * (z + jnp.linalg.inv(y))

    y, _ = jax.lax.fori_loop(0, iterations, step, (a / c, eye))
    return sym(y) * jnp.sqrt(c)


def expm_sym(s: Float[Array, "n n"], squarings: int = 8, order: int = 12) -> Float[Array, "n n"]:
    """exp(S) by scaling and squaring with a fixed Taylor polynomial: (T_order(S/2^k))^(2^k),
    k = ``squarings`` (Higham, *Functions of Matrices*, §10.3). Pure matrix products, so it
    compiles and differentiates cheaply; the truncation error is below 1e-15 relative while
    ‖S‖₂ ≲ 50 (metric entries up to e^50).
    """
    a = s / 2.0**squarings
    eye = jnp.eye(s.shape[0], dtype=s.dtype)
    term, total = eye, eye
    for k in range(1, order + 1):
        term = term @ a / k
        total = total + term
    for _ in range(squarings):
        total = total @ total
    return total


def apply_form(
    form: str, m: Float[Array, "n n"], g_ref: Float[Array, "n n"] | None
) -> Float[Array, "n n"]:
    """Metric from the raw network matrix ``m`` and ``g_ref`` (``None`` means δ_ij)."""
    n = m.shape[0]
    eye = jnp.eye(n, dtype=m.dtype)
    if form == "additive":
        return (eye if g_ref is None else g_ref) + sym(m)
    if form == "cholesky":
        low = jnp.tril(m)
        return (eye if g_ref is None else g_ref) + low @ low.T
    if form == "exp":
        e = expm_sym(sym(m))
        if g_ref is None:
            return sym(e)
        r = sqrtm_spd(g_ref)
        return sym(r @ e @ r)
    raise ValueError(f"unknown form {form!r}; known: {FORMS}")
