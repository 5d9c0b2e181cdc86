"""Sections of O(k, …, k) on a complete intersection in P^{n_1} × … × P^{n_F}: one basis, one
convention.

A section of O(k, …, k) on the ambient product is a polynomial of degree k in each factor's
coordinates; the products of one degree-k monomial per factor, s_α = z^{e_α}, are a basis
(``multidegree_monomials``; for one Pⁿ all degree-k monomials). On X = {Q_1 = … = Q_E = 0}
with the Q_e a regular sequence (a complete intersection), the Koszul complex of (Q_1, …, Q_E)
is exact, so the multigraded piece of the quotient ring R = C[z]/I, I = (Q_1, …, Q_E), has

    dim R_k = Σ_{S ⊂ {1..E}} (−1)^{|S|} dim C[z]_{k − Σ_{e∈S} d_e},
    dim C[z]_m = ∏_f C(n_f + m_f, n_f)                                  (``koszul_count``)

(for the quintic C(4+k, 4) − C(k−1, 4); for P⁵[3,3] at k = 1, 2, 3: 6, 21, 54; for the bicubic
at (k, k) = (1,1), (2,2), (3,3): 9, 36, 99; for the tetraquadric 16, 80, 240), and R_k is
H⁰(X, O_X(k)) for these varieties (the Koszul terms have no higher ambient cohomology in the
degrees used; Hübsch, "Calabi–Yau manifolds", §1.2). A basis of R_k are the *standard monomials*
of a monomial order ≻: those of multidegree (k, …, k) that are not leading monomials of any
element of I (Cox–Little–O'Shea, *Ideals, Varieties, and Algorithms*, §5.3 Prop. 1). We use
the lexicographic order z₀ ≻ z₁ ≻ … on the concatenated coordinates.

* One equation (any product): (Q) is principal, {Q} is a Gröbner basis of it, and the standard
  monomials are those not divisible by LT(Q), the exponent vector of Q largest as a tuple
  (§2.5 Prop. 4; for the Dwork quintic z₀⁵, never z₀z₁z₂z₃z₄, which is no leading term under
  any order).
* Two or more equations: {Q_1, Q_2} need not be a Gröbner basis, so the leading monomials of
  I_k = Σ_e Q_e · C[z]_{k−d_e} are read off its Macaulay matrix (rows: the products Q_e·m,
  columns: the monomials of degree k): m ∈ LT(I_k) iff the column of m is
  linearly independent of the columns of larger monomials (row echelon form). Numerically, on
  an orthonormal basis of the row space (SVD) with a greedy Gram–Schmidt over the columns; the
  count is checked against the numerical rank, and ``koszul_count`` is the independent check.

The one convention for Hermitian forms on sections, used by the algebraic potential and by
Donaldson's algorithm alike (anchors.md; cyjax writes the same form as s̄ᵀHs with H ↔ Hᵀ):

    K_H(z) = (1/(π k)) log s(z)ᴴ H s(z),    H Hermitian positive definite, s a column vector,

with k the degree in each factor: its metric is in the class k·Σ_f J_f / k = Σ_f J_f, and for
H = ``fs_hermitian`` on the full basis sᴴHs = ∏_f |z_f|^{2k}, so K_H = Σ_f (1/π) log |z_f|² is
the Fubini–Study potential with t_f = 1 (:mod:`ntkflow.cy.fubini_study`).

Everything here is for ONE point z (complex, shape (n_coords,)); vmap for batches.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from itertools import combinations_with_replacement

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Int

from .variety import CompleteIntersection, Hypersurface, VarietyError


def monomial_exponents(n_coords: int, k: int) -> Int[np.ndarray, "M n"]:
    """All exponent vectors of degree-k monomials in ``n_coords`` variables, in increasing
    lexicographic order (z_{n−1}^k first, z₀^k last)."""
    out = []
    for c in combinations_with_replacement(range(n_coords), k):
        e = np.zeros(n_coords, dtype=np.int64)
        np.add.at(e, list(c), 1)
        out.append(e)
    return np.array(out[::-1]).reshape(-1, n_coords)


def multidegree_monomials(ambient: Sequence[int], degrees: Sequence[int]) -> np.ndarray:
    """Exponents of all monomials of multidegree ``degrees`` on ∏ P^{n_f} (one degree-d_f
    monomial per factor, concatenated), in increasing lexicographic order; empty (0, n) when
    a degree is negative."""
    n_coords = sum(n + 1 for n in ambient)
    if min(degrees) < 0:
        return np.zeros((0, n_coords), dtype=np.int64)
    blocks = [monomial_exponents(n + 1, int(d)) for n, d in zip(ambient, degrees, strict=True)]
    rows = [np.concatenate(c) for c in itertools.product(*blocks)]
    return np.array(rows, dtype=np.int64).reshape(-1, n_coords)  # product of sorted = sorted


def leading_exponent(exponents: Int[np.ndarray, "M n"]) -> Int[np.ndarray, " n"]:
    """The leading monomial of a polynomial with these monomials in the lexicographic order
    z₀ ≻ z₁ ≻ …: the exponent vector largest as a tuple."""
    exponents = np.asarray(exponents)
    return exponents[max(range(len(exponents)), key=lambda i: tuple(exponents[i]))]


def n_sections(n: int, d: int, k: int) -> int:
    """dim H⁰(X, O(k)) = C(n+k, k) − C(n+k−d, k−d) for a degree-d hypersurface X ⊂ Pⁿ."""
    return math.comb(n + k, k) - (math.comb(n + k - d, k - d) if k >= d else 0)


def _n_monomials(ambient: Sequence[int], degrees: Sequence[int]) -> int:
    if min(degrees) < 0:
        return 0
    return math.prod(math.comb(n + d, n) for n, d in zip(ambient, degrees, strict=True))


def koszul_count(ambient: Sequence[int], multidegrees: Sequence[Sequence[int]], k: int) -> int:
    """dim (C[z]/I)_{(k,…,k)} for I generated by a regular sequence of the given multidegrees:
    the alternating sum over subsets of equations of the Koszul complex (module doc)."""
    E, total = len(multidegrees), 0
    for r in range(E + 1):
        for S in itertools.combinations(range(E), r):
            deg = [k - sum(multidegrees[e][f] for e in S) for f in range(len(ambient))]
            total += (-1) ** r * _n_monomials(ambient, deg)
    return total


def _check_degree(k) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise VarietyError(f"section_basis: degree k must be an integer >= 1, got {k!r}")
    return int(k)


def section_basis(variety: Hypersurface | CompleteIntersection, k: int) -> Int[np.ndarray, "Nk n"]:
    """Exponents of a basis of H⁰(X, O(k, …, k)): the standard monomials of multidegree
    (k, …, k) in the lexicographic order (module doc), in increasing lexicographic order."""
    k = _check_degree(k)
    if isinstance(variety, Hypersurface):
        exps = multidegree_monomials(variety.ambient, [k] * variety.n_factors)
        lead = leading_exponent(variety.exponents)
        return exps[~np.all(exps >= lead[None, :], axis=1)]
    if isinstance(variety, CompleteIntersection):
        return standard_monomials(variety, k)
    raise VarietyError(
        f"section_basis: no sections for {type(variety).__name__}; give a hypersurface or a "
        "complete intersection in a product of P^n"
    )


def macaulay_matrix(variety, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(columns, A)``: the monomials of multidegree (k, …, k) in increasing lexicographic
    order and the matrix whose rows are the coefficient vectors of Q_e·m for every equation e
    and monomial m of multidegree (k, …, k) − deg Q_e; its rows span I_k."""
    amb = variety.ambient
    cols = multidegree_monomials(amb, [k] * len(amb))
    index = {tuple(e): i for i, e in enumerate(cols)}
    eqs = variety.equations_list if isinstance(variety, CompleteIntersection) else (variety,)
    rows = []
    for q in eqs:
        qe, qc = np.asarray(q.exponents), np.asarray(q.coefficients)
        for m in multidegree_monomials(amb, [k - d for d in q.multidegree]):
            row = np.zeros(len(cols), dtype=np.complex128)
            for e, c in zip(qe + m[None, :], qc, strict=True):
                row[index[tuple(e)]] += c
            rows.append(row)
    A = np.array(rows, dtype=np.complex128).reshape(-1, len(cols))
    return cols, A


def standard_monomials(variety, k: int, rtol: float = 1e-9) -> Int[np.ndarray, "Nk n"]:
    """The standard monomials of multidegree (k, …, k) of the ideal of ``variety`` in the
    lexicographic order, from its Macaulay matrix (module doc): a monomial is a leading
    monomial of I_k iff its column is independent of the columns of all larger monomials.
    Works for any number of equations (for one it equals the rule "not divisible by LT(Q)")."""
    k = _check_degree(k)
    cols, A = macaulay_matrix(variety, k)
    if A.shape[0] == 0:
        return cols
    _, sv, vh = np.linalg.svd(A, full_matrices=False)
    rank = int(np.sum(sv > rtol * sv[0]))
    B = vh[:rank]  # orthonormal rows spanning I_k; same column dependencies as A
    basis = np.zeros((rank, 0), dtype=np.complex128)
    leading = np.zeros(len(cols), dtype=bool)
    for j in reversed(range(len(cols))):  # largest monomial first
        if basis.shape[1] == rank:
            break
        b = B[:, j]
        for _ in range(2):  # Gram–Schmidt twice: orthogonal to working precision
            b = b - basis @ (basis.conj().T @ b)
        nb = np.linalg.norm(b)
        if nb > np.sqrt(rtol):
            leading[j] = True
            basis = np.concatenate([basis, (b / nb)[:, None]], axis=1)
    if leading.sum() != rank:
        raise VarietyError(
            f"{variety.name}: the leading monomials of the ideal in degree {k} are numerically "
            f"ill-determined ({int(leading.sum())} found, rank {rank}); rescale the equations"
        )
    return cols[~leading]


def factor_blocks(exponents: np.ndarray, ambient: Sequence[int] | None = None) -> list[slice]:
    """The coordinate blocks of the projective factors of a basis of sections of O(k, …, k):
    from ``ambient`` when given, else the finest split of the coordinates into consecutive
    blocks of at least two coordinates on each of which every exponent row has the same degree
    (one block for a basis on one Pⁿ, the factors for a basis on a product; one block when no
    such split covers all coordinates). Pass ``ambient`` where it is known: a subset of a
    basis that is degenerate (say one monomial) can look like a product."""
    exponents = np.asarray(exponents)
    n = exponents.shape[1]
    if ambient is not None:
        sizes = [int(a) + 1 for a in ambient]
        if sum(sizes) != n:
            raise ValueError(f"ambient {list(ambient)} has {sum(sizes)} coordinates, not {n}")
    else:  # a factor P^m has m + 1 >= 2 coordinates: blocks of one coordinate are no factor
        sizes, start = [], 0
        partial = np.cumsum(exponents, axis=1)
        for j in range(n):
            prefix = partial[:, j] - (partial[:, start - 1] if start else 0)
            if j > start and np.all(prefix == prefix[0]):
                sizes.append(j + 1 - start)
                start = j + 1
        if start != n:  # what is left has no constant degree: not a basis of a product
            sizes = [n]
    out, start = [], 0
    for s in sizes:
        out.append(slice(start, start + s))
        start += s
    return out


def section_degree(exponents: np.ndarray, ambient: Sequence[int] | None = None) -> int:
    """The degree k of a basis of sections of O(k, …, k) (the same in every factor); a basis of
    unequal multidegree is refused (K = (1/πk) log sᴴHs needs one k)."""
    exponents = np.asarray(exponents)
    degs = {int(d) for b in factor_blocks(exponents, ambient) for d in exponents[:, b].sum(axis=1)}
    if len(degs) != 1 or min(degs) < 1:
        raise ValueError(
            f"sections: the monomials do not have one degree k >= 1 in every projective factor "
            f"(degrees {sorted(degs)}); give a basis of O(k, ..., k)"
        )
    return degs.pop()


def _powers(z: Complex[Array, " n"], k: int) -> Complex[Array, "n k1"]:
    """powers[i, p] = z_i^p for p = 0..k, by cumulative products (no complex pow)."""
    n = z.shape[0]
    ones = jnp.ones((n, 1), z.dtype)
    return jnp.cumprod(jnp.concatenate([ones, jnp.broadcast_to(z[:, None], (n, k))], 1), 1)


def section_values(exponents: Int[Array, "Nk n"], z: Complex[Array, " n"], k: int):
    """s_α(z) = z^{e_α}, shape (Nk,); ``k`` ≥ the largest exponent (the degree per factor)."""
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


def fs_hermitian(exponents: np.ndarray, ambient: Sequence[int] | None = None) -> np.ndarray:
    """The diagonal H of products of multinomial coefficients ∏_f k!/∏_{i∈f} e_i!: on the
    full basis of O(k, …, k), sᴴ H s = ∏_f |z_f|^{2k}, so K_H is Fubini–Study with t_f = 1
    (on a reduced basis: its restriction, a different metric). Factors from
    :func:`factor_blocks`."""
    exponents = np.asarray(exponents)
    fact = [math.factorial(i) for i in range(int(exponents.max(initial=0)) + 1)]
    blocks = factor_blocks(exponents, ambient)
    mult = []
    for row in exponents:
        m = 1
        for b in blocks:
            m *= math.factorial(int(row[b].sum())) // math.prod(fact[int(e)] for e in row[b])
        mult.append(float(m))
    return np.diag(np.asarray(mult, dtype=np.float64))


__all__ = [
    "factor_blocks",
    "fs_hermitian",
    "koszul_count",
    "leading_exponent",
    "macaulay_matrix",
    "monomial_exponents",
    "multidegree_monomials",
    "n_sections",
    "section_basis",
    "section_degree",
    "section_values",
    "sections",
    "standard_monomials",
]
