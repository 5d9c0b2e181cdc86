"""Kähler-potential ansätze for Ricci-flat metrics, pulled back to a variety.

Every ansatz is an equinox module with ``pullback_metric(z, jac) -> g`` for one point: the
metric g_{a b̄} = J_{a i} (∂_i ∂̄_j K)(z) conj(J_{b j}) of its potential K on the variety, in
the local affine coordinates whose embedding Jacobian is ``jac`` (rows = local coordinates,
see :func:`ntkflow.cy.kahler.pullback_jacobian`). Because the embedding is holomorphic,
∂_a ∂̄_b (K∘ι) = J (∂∂̄K) Jᴴ exactly (anchors.md, "pullback g = J g Jᴴ").

Two families:

* :class:`AlgebraicPotential` — K = (1/πk) log s(z)ᴴ H s(z) with s the degree-k sections of
  :mod:`ntkflow.cy.sections` (one basis, one convention) and H Hermitian. With H the balanced
  matrix of :func:`ntkflow.cy.donaldson.balanced_hermitian` (its start) this is Donaldson's
  metric (Donaldson 2005; Douglas et al. hep-th/0612075); with H
  trained on the Monge–Ampère loss it is the optimised algebraic metric of Headrick–Nassar
  (arXiv 0908.2635), a linear bihomogeneous network in the language of MLGeometry. Its metric
  is computed in closed form from s and ∂s.
* :class:`PhiPotential` — K = K_FS + φ_θ(u(z)) with φ a network on the C*-invariant inputs
  u = (z_i z̄_j / |z|²)_{i≤j} of each projective factor (real and imaginary parts), so K is a
  global function on the variety and needs no transition loss (cymyc's "spectral" inputs).
  Its metric is taken by autodiff: Hessian-vector products of K along the 2·dim real
  directions of the rows of J.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, Int

from ntkflow.cy.fubini_study import FubiniStudy
from ntkflow.cy.sections import (
    fs_hermitian,
    monomial_exponents,
    section_basis,
    section_degree,
    sections,
)
from ntkflow.geometry.kahler import complex_hessian, to_complex, to_real

# ----------------------------------------------------------------------------------------------
# the algebraic ansatz
# ----------------------------------------------------------------------------------------------


class AlgebraicPotential(eqx.Module):
    """K = (1/πk) log s(z)ᴴ H s(z),  H = Rᴴ (1 + ½(D + Dᴴ)) R,  D = A + iB.

    ``exponents`` are a basis of sections of O(k, …, k) on ∏ P^{n_f} (:mod:`.sections`); k is
    their degree in each factor (the factors from ``ambient``, else inferred from the
    exponents: :func:`ntkflow.cy.sections.factor_blocks`), so the metric is in the class
    Σ_f J_f and H = ``fs_hermitian`` on the full basis gives Fubini–Study with t_f = 1.

    ``R`` (frozen) whitens the basis at the initial H (e.g. the balanced one, H₀ = RᴴR), so the
    trainable deformation starts at D = 0 with an identity-conditioned problem. With
    t = R s:  g_{a b̄} = (1/πk)[ (∂_a t)ᴴ M ∂_b t / A − (tᴴ M ∂_b t)((∂_a t)ᴴ M t)/A² ]ᵀ
    for M = 1 + ½(D + Dᴴ), A = tᴴ M t — the complex Hessian of log A for holomorphic t.
    (Evaluated as sᴴ H s with H = Rᴴ M R: one product with H per point instead of two.)
    """

    exponents: Int[Array, "Nk n"]
    whitening: Complex[Array, "Nk Nk"]
    a: Float[Array, "Nk Nk"]
    b: Float[Array, "Nk Nk"]
    k: int = eqx.field(static=True)

    def __init__(self, exponents, h0, dtype=jnp.float64, ambient=None):
        exponents = np.asarray(exponents)
        k = section_degree(exponents, ambient)
        n_sections = exponents.shape[0]
        h0 = np.asarray(h0)
        if h0.shape != (n_sections, n_sections):
            raise ValueError(
                f"AlgebraicPotential: H has shape {h0.shape}, need ({n_sections}, {n_sections})"
            )
        h0 = 0.5 * (h0 + h0.conj().T)
        try:
            chol = np.linalg.cholesky(h0)  # H0 = L Lᴴ = Rᴴ R with R = Lᴴ
        except np.linalg.LinAlgError:
            raise ValueError("AlgebraicPotential: the initial H is not positive definite") from None
        cdtype = jnp.complex64 if dtype == jnp.float32 else jnp.complex128
        self.exponents = jnp.asarray(exponents)
        self.whitening = jnp.asarray(chol.conj().T, dtype=cdtype)
        self.a = jnp.zeros((n_sections, n_sections), dtype)
        self.b = jnp.zeros((n_sections, n_sections), dtype)
        self.k = k

    def trainable_mask(self):
        """Only the deformation (a, b) trains; the whitening R is frozen."""
        mask = jax.tree.map(lambda _: False, self)
        return eqx.tree_at(lambda m: (m.a, m.b), mask, (True, True))

    @property
    def hermitian(self) -> Complex[Array, "Nk Nk"]:
        """H in the monomial basis."""
        R = self.whitening
        return R.conj().T @ self._deformation() @ R

    def _deformation(self) -> Complex[Array, "Nk Nk"]:
        d = self.a + 1j * self.b
        n = self.a.shape[0]
        return jnp.eye(n, dtype=self.whitening.dtype) + 0.5 * (d + d.conj().T).astype(
            self.whitening.dtype
        )

    def __call__(self, z: Complex[Array, " n"]) -> Float[Array, ""]:
        s, _ = sections(self.exponents, z.astype(self.whitening.dtype), self.k)
        t = self.whitening @ s
        return jnp.log(jnp.real(jnp.vdot(t, self._deformation() @ t))) / (jnp.pi * self.k)

    def pullback_metric(
        self, z: Complex[Array, " n"], jac: Complex[Array, "d n"]
    ) -> Complex[Array, "d d"]:
        z = z.astype(self.whitening.dtype)
        s, ds = sections(self.exponents, z, self.k)
        X = jnp.concatenate([s[:, None], ds @ jac.T.astype(z.dtype)], axis=1)
        # G[m, n] = X_mᴴ H X_n with H = Rᴴ M R formed once (not per point under vmap)
        G = X.conj().T @ (self.hermitian @ X)
        A = jnp.real(G[0, 0])
        g_ba = G[1:, 1:] / A - G[1:, :1] @ G[:1, 1:] / A**2
        return g_ba.T / (jnp.pi * self.k)


# ----------------------------------------------------------------------------------------------
# the φ-network ansatz
# ----------------------------------------------------------------------------------------------


def spectral_inputs(z: Complex[Array, " n"], ambient: tuple[int, ...]) -> Float[Array, " m"]:
    """u = (Re, Im of z_i z̄_j/|z|², i ≤ j) per projective factor; C*-invariant in each factor."""
    out, start = [], 0
    for n in ambient:
        zf = z[start : start + n + 1]
        start += n + 1
        outer = jnp.outer(zf, zf.conj()) / jnp.real(jnp.vdot(zf, zf))
        iu = np.triu_indices(n + 1)
        iu_off = np.triu_indices(n + 1, 1)
        out += [jnp.real(outer[iu]), jnp.imag(outer[iu_off])]
    return jnp.concatenate(out)


def n_spectral_inputs(ambient) -> int:
    return sum((n + 1) ** 2 for n in ambient)


def complex_hessian_along(potential, z: Complex[Array, " n"], jac: Complex[Array, "d n"]):
    """g_{a b̄} = ∂_{v_a} ∂̄_{v_b} K for the complex directions v_a = J[a] (rows of ``jac``):
    :func:`ntkflow.geometry.kahler.complex_hessian` along J (2·d real directions, not the full
    2n × 2n Hessian)."""
    return complex_hessian(lambda u: potential(to_complex(u)), to_real(z), jac)


class PhiPotential(eqx.Module):
    """K = K_FS(z; t) + φ(u(z)) with φ a scalar network on :func:`spectral_inputs`."""

    phi: eqx.Module
    fs: FubiniStudy

    def __call__(self, z: Complex[Array, " n"]) -> Float[Array, ""]:
        u = spectral_inputs(z, self.fs.ambient)
        return self.fs(z) + jnp.reshape(self.phi(u.astype(_float_dtype(self.phi))), ())

    def pullback_metric(
        self, z: Complex[Array, " n"], jac: Complex[Array, "d n"]
    ) -> Complex[Array, "d d"]:
        return complex_hessian_along(self, z, jac)


def _float_dtype(module) -> jnp.dtype:
    leaves = [x for x in jax.tree.leaves(module) if eqx.is_inexact_array(x)]
    return leaves[0].dtype if leaves else jnp.float64


__all__ = [
    "AlgebraicPotential",
    "PhiPotential",
    "complex_hessian_along",
    "fs_hermitian",
    "monomial_exponents",
    "n_spectral_inputs",
    "section_basis",
    "sections",
    "spectral_inputs",
]
