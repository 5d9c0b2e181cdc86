"""Phase symmetries of a hypersurface and the algebraic ansatz invariant under them.
z_i → ζ^{a_i} z_i; sᴴHs is invariant iff H is block diagonal in the characters a·e_α mod d
(Headrick–Nassar, arXiv 0908.2635, §3.2). Derivation: docs/derivations.md#cy-symmetry."""

from __future__ import annotations

import itertools

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, Int

from .potential import SectionPotential, whitening
from .sections import section_degree, sections

MAX_GROUP = 200_000  # enumerate Z_d^{n+1} only when it has at most this many elements


def phase_group(variety) -> np.ndarray | None:
    """The exponents a ∈ Z_d^{n+1} (rows) of the diagonal phase maps that preserve the
    hypersurface (docs/derivations.md#cy-symmetry), or None when the variety is not a
    hypersurface in one Pⁿ or the search would be too large."""
    ambient = tuple(getattr(variety, "ambient", ()))
    exps = getattr(variety, "exponents", None)
    if len(ambient) != 1 or exps is None or np.ndim(exps) != 2:
        return None
    exps = np.asarray(exps, dtype=np.int64)
    d = int(exps.sum(axis=1).max())
    n = exps.shape[1]
    if d < 2 or d**n > MAX_GROUP:
        return None
    a = np.array(list(itertools.product(range(d), repeat=n)), dtype=np.int64)  # (d^n, n)
    chars = (a @ exps.T) % d  # (d^n, M): the phase of each monomial of Q
    keep = np.all(chars == chars[:, :1], axis=1)
    return a[keep], d


def invariant_classes(exponents: np.ndarray, group) -> np.ndarray:
    """Class label of each section: sections α, β share a class iff a·(e_α − e_β) ≡ 0 (mod d)
    for every a of ``group`` = (a's, d) from :func:`phase_group`."""
    a, d = group
    chars = (np.asarray(exponents, dtype=np.int64) @ a.T) % d  # (Nk, |G|)
    _, labels = np.unique(chars, axis=0, return_inverse=True)
    return labels.reshape(-1)


def invariant_pattern(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the upper triangle (i ≤ j) of the block pattern of ``labels``."""
    i, j = np.triu_indices(len(labels))
    keep = labels[i] == labels[j]
    return i[keep], j[keep]


def project_to_pattern(h: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """H with the entries outside the invariant pattern set to zero (the G-average of H)."""
    return np.where(labels[:, None] == labels[None, :], h, 0.0)


class InvariantAlgebraicPotential(SectionPotential):
    """K = (1/πk) log s(z)ᴴ H s(z) with H = Rᴴ M R supported on the invariant pattern
    (docs/derivations.md#cy-symmetry); trainable: the real and imaginary parts ``a``, ``b`` of
    the upper triangle of D on the pattern (M = 1 + ½(D + Dᴴ), D = 0 at the start)."""

    exponents: Int[Array, "Nk n"]
    whitening: Complex[Array, "Nk Nk"]
    rows: Int[Array, " P"]
    cols: Int[Array, " P"]
    a: Float[Array, " P"]
    b: Float[Array, " P"]
    k: int = eqx.field(static=True)

    def __init__(self, exponents, h0, labels, dtype=jnp.float64):
        exponents = np.asarray(exponents)
        labels = np.asarray(labels)
        n_sections = exponents.shape[0]
        if labels.shape != (n_sections,):
            raise ValueError(
                f"InvariantAlgebraicPotential: {labels.shape} labels, need ({n_sections},)"
            )
        self.whitening = whitening(
            h0,
            n_sections,
            "InvariantAlgebraicPotential",
            dtype,
            lambda h: project_to_pattern(h, labels),
        )
        rows, cols = invariant_pattern(labels)
        self.exponents = jnp.asarray(exponents)
        self.rows = jnp.asarray(rows)
        self.cols = jnp.asarray(cols)
        self.a = jnp.zeros(len(rows), dtype)
        self.b = jnp.zeros(len(rows), dtype)
        self.k = section_degree(exponents)

    @property
    def hermitian(self) -> Complex[Array, "Nk Nk"]:
        """H = Rᴴ M R in the monomial basis (zero outside the pattern)."""
        n = self.whitening.shape[0]
        cd = self.whitening.dtype
        d = jnp.zeros((n, n), cd).at[self.rows, self.cols].set((self.a + 1j * self.b).astype(cd))
        m = jnp.eye(n, dtype=cd) + 0.5 * (d + d.conj().T)
        R = self.whitening
        return R.conj().T @ m @ R

    def gram_operand(self):
        """(rows, cols, H entries) over the full pattern (both triangles)."""
        h = self.hermitian
        r = jnp.concatenate([self.rows, self.cols])
        c = jnp.concatenate([self.cols, self.rows])
        off = self.rows != self.cols
        v = jnp.concatenate([h[self.rows, self.cols], jnp.where(off, h[self.cols, self.rows], 0)])
        return r, c, v

    def gram(self, X: Complex[Array, "Nk m"], pattern=None) -> Complex[Array, "m m"]:
        """G[m, n] = X_mᴴ H X_n = Σ_p conj(X[r_p, m]) H_p X[c_p, n] over the pattern (pass
        ``pattern`` = :meth:`gram_operand` to form H once under vmap)."""
        r, c, v = self.gram_operand() if pattern is None else pattern
        return (X[r].conj() * v[:, None]).T @ X[c]

    def __call__(self, z: Complex[Array, " n"]) -> Float[Array, ""]:
        s, _ = sections(self.exponents, z.astype(self.whitening.dtype), self.k)
        g = self.gram(s[:, None])
        return jnp.log(jnp.real(g[0, 0])) / (jnp.pi * self.k)


def act(group_element: np.ndarray, d: int, z):
    """The phase map z_i → ζ^{a_i} z_i (ζ = e^{2πi/d}) on points (..., n)."""
    return z * np.exp(2j * np.pi * np.asarray(group_element) / d)
