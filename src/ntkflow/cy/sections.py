"""Sections of O(k) on a projective hypersurface: one basis, one convention.

A section of O_{Pⁿ}(k) is a homogeneous polynomial of degree k; the monomials s_α = z^{e_α}
(|e_α| = k) are a basis. On X = {Q = 0} ⊂ Pⁿ of degree d the restriction sequence
0 → O(k−d) →·Q→ O(k) → O_X(k) → 0 and H¹(Pⁿ, O(k−d)) = 0 give

    H⁰(X, O_X(k)) = C[z]_k / Q·C[z]_{k−d},   N_k = C(n+k, k) − C(n+k−d, k−d).

A basis of the quotient are the *standard monomials* of a monomial order ≻: since the ideal (Q)
is principal, {Q} is a Gröbner basis of it, and the degree-k monomials not divisible by the
leading monomial LT_≻(Q) are a basis of C[z]_k/(Q)_k (Cox–Little–O'Shea, *Ideals, Varieties,
and Algorithms*, §2.5 Prop. 4 and §5.3 Prop. 1). We use the lexicographic order
z₀ ≻ z₁ ≻ … ≻ z_n (for a homogeneous Q it agrees with graded lex): LT(Q) is the exponent
vector of Q that is largest as a tuple. (Dropping the monomial of largest |coefficient|, a rule
used before, can drop z₀z₁z₂z₃z₄ from the Dwork quintic, which is no leading term under any
order.)

The one convention for Hermitian forms on sections, used by the algebraic potential and by
Donaldson's algorithm alike (anchors.md; cyjax writes the same form as s̄ᵀHs with H ↔ Hᵀ):

    K_H(z) = (1/(π k)) log s(z)ᴴ H s(z),    H Hermitian positive definite, s a column vector.

Everything here is for ONE point z (complex, shape (n_coords,)); vmap for batches.
"""

from __future__ import annotations

import math
from itertools import combinations_with_replacement

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Int

from .variety import Hypersurface, VarietyError


def monomial_exponents(n_coords: int, k: int) -> Int[np.ndarray, "M n"]:
    """All exponent vectors of degree-k monomials in ``n_coords`` variables, in decreasing
    lexicographic order (z₀^k first)."""
    out = []
    for c in combinations_with_replacement(range(n_coords), k):
        e = np.zeros(n_coords, dtype=np.int64)
        np.add.at(e, list(c), 1)
        out.append(e)
    return np.array(out[::-1])


def leading_exponent(exponents: Int[np.ndarray, "M n"]) -> Int[np.ndarray, " n"]:
    """The leading monomial of a polynomial with these monomials in the lexicographic order
    z₀ ≻ z₁ ≻ …: the exponent vector largest as a tuple."""
    exponents = np.asarray(exponents)
    return exponents[max(range(len(exponents)), key=lambda i: tuple(exponents[i]))]


def n_sections(n: int, d: int, k: int) -> int:
    """dim H⁰(X, O(k)) = C(n+k, k) − C(n+k−d, k−d) for a degree-d hypersurface X ⊂ Pⁿ."""
    return math.comb(n + k, k) - (math.comb(n + k - d, k - d) if k >= d else 0)


def section_basis(variety: Hypersurface, k: int) -> Int[np.ndarray, "Nk n"]:
    """Exponents of a basis of H⁰(X, O(k)) for a hypersurface X = {Q = 0} ⊂ Pⁿ: the degree-k
    standard monomials, those not divisible by the lexicographic leading monomial of Q (module
    doc), in decreasing lexicographic order."""
    if not isinstance(variety, Hypersurface) or len(variety.ambient) != 1:
        raise VarietyError(
            "section_basis: the algebraic ansatz is implemented for hypersurfaces in a single "
            f"P^n; {getattr(variety, 'name', variety)!r} is not one (use the 'phi' ansatz)"
        )
    if not isinstance(k, int | np.integer) or k < 1:
        raise VarietyError(f"section_basis: degree k must be an integer >= 1, got {k!r}")
    exps = monomial_exponents(variety.n_coords, int(k))
    lead = leading_exponent(variety.exponents)
    return exps[~np.all(exps >= lead[None, :], axis=1)]


def _powers(z: Complex[Array, " n"], k: int) -> Complex[Array, "n k1"]:
    """powers[i, p] = z_i^p for p = 0..k, by cumulative products (no complex pow)."""
    n = z.shape[0]
    ones = jnp.ones((n, 1), z.dtype)
    return jnp.cumprod(jnp.concatenate([ones, jnp.broadcast_to(z[:, None], (n, k))], 1), 1)


def section_values(exponents: Int[Array, "Nk n"], z: Complex[Array, " n"], k: int):
    """s_α(z) = z^{e_α}, shape (Nk,)."""
    n = z.shape[0]
    return jnp.prod(_powers(z, k)[jnp.arange(n)[None, :], exponents], axis=1)


def sections(exponents: Int[Array, "Nk n"], z: Complex[Array, " n"], k: int) -> tuple[Array, Array]:
    """s_α(z) = z^{e_α} and ∂_i s_α = e_αi z^{e_α − δ_i}, shapes (Nk,) and (Nk, n)."""
    n = z.shape[0]
    powers = _powers(z, k)
    cols = jnp.arange(n)[None, :]
    vals = powers[cols, exponents]  # (Nk, n)
    s = jnp.prod(vals, axis=1)
    lower = powers[cols, jnp.maximum(exponents - 1, 0)]
    eye = jnp.eye(n, dtype=bool)
    others = jnp.prod(jnp.where(eye[:, None, :], 1.0, vals[None, :, :]), axis=2).T  # (Nk, n)
    return s, exponents * lower * others


def fs_hermitian(exponents: np.ndarray) -> np.ndarray:
    """The diagonal H of multinomial coefficients k!/∏e_i!: on the full monomial basis
    sᴴ H s = |z|^{2k}, so K_H is Fubini–Study (on a reduced basis: its restriction)."""
    exponents = np.asarray(exponents)
    k = int(exponents[0].sum())
    mult = [math.factorial(k) / np.prod([math.factorial(int(e)) for e in row]) for row in exponents]
    return np.diag(np.asarray(mult, dtype=np.float64))


__all__ = [
    "fs_hermitian",
    "leading_exponent",
    "monomial_exponents",
    "n_sections",
    "section_basis",
    "section_values",
    "sections",
]
