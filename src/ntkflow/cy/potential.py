"""Kähler-potential ansätze for Ricci-flat metrics, pulled back to a variety: g = J (∂∂̄K) Jᴴ.
:class:`AlgebraicPotential` K = (1/πk) log sᴴHs (Headrick–Nassar, arXiv 0908.2635),
:class:`PhiPotential` K = K_FS + φ_θ(u(z)), :class:`CorrectedPotential` K = K₀ + φ_θ(u(z)).
Derivation: docs/derivations.md#cy-potential."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, Int

from ntkflow.cy.fubini_study import FubiniStudy
from ntkflow.cy.sections import fs_hermitian as fs_hermitian  # re-exported
from ntkflow.cy.sections import section_basis as section_basis  # re-exported
from ntkflow.cy.sections import section_degree, sections
from ntkflow.geometry.kahler import complex_hessian, to_complex, to_real


def section_features(exponents, k: int, z: Complex[Array, " n"], jac: Complex[Array, "d n"]):
    """X = [s | ∂s Jᵀ] of shape (N_k, 1 + d) at one point: the sections and their derivatives
    along the rows of J, from which every algebraic metric follows (:func:`algebraic_metric`)."""
    s, ds = sections(exponents, z, k)
    return jnp.concatenate([s[:, None], ds @ jac.T.astype(z.dtype)], axis=1)


def algebraic_metric(model, X: Complex[Array, "Nk d1"], gram=None) -> Complex[Array, "d d"]:
    """g_{a b̄} = (1/πk)[G_ab/A − G_a0 G_0b/A²]ᵀ with G = Xᴴ H X, A = G_00: the pulled-back
    metric of K = (1/πk) log sᴴHs from the features X. ``gram(X)`` gives G (default
    ``model.gram``)."""
    G = gram(X) if gram is not None else model.gram(X)
    A = jnp.real(G[0, 0])
    g_ba = G[1:, 1:] / A - G[1:, :1] @ G[:1, 1:] / A**2
    return g_ba.T / (jnp.pi * model.k)


def whitening(h0, n_sections: int, where: str, dtype, project=None) -> Array:
    """R with H₀ = RᴴR (R = Lᴴ of the Cholesky factor L of the Hermitian part of ``h0``, after
    ``project``), in the complex dtype matching ``dtype``."""
    h0 = np.asarray(h0)
    if h0.shape != (n_sections, n_sections):
        raise ValueError(f"{where}: H has shape {h0.shape}, need ({n_sections}, {n_sections})")
    h0 = 0.5 * (h0 + h0.conj().T)
    try:
        chol = np.linalg.cholesky(h0 if project is None else project(h0))
    except np.linalg.LinAlgError:
        raise ValueError(f"{where}: the initial H is not positive definite") from None
    cdtype = jnp.complex64 if dtype == jnp.float32 else jnp.complex128
    return jnp.asarray(chol.conj().T, dtype=cdtype)


class SectionPotential(eqx.Module):
    """The algebraic ansätze K = (1/πk) log sᴴHs, H = Rᴴ M R, M = 1 + ½(D + Dᴴ), D = a + ib:
    R (``whitening``) frozen, (a, b) trained; ``gram(X, operand)`` gives G = Xᴴ H X."""

    def trainable_mask(self):
        """Only the deformation (a, b) trains; the whitening R is frozen."""
        mask = jax.tree.map(lambda _: False, self)
        return eqx.tree_at(lambda m: (m.a, m.b), mask, (True, True))

    def pullback_metric(
        self, z: Complex[Array, " n"], jac: Complex[Array, "d n"]
    ) -> Complex[Array, "d d"]:
        """The closed form :func:`algebraic_metric` of X = [s | ∂s Jᵀ]."""
        z = z.astype(self.whitening.dtype)
        return algebraic_metric(self, section_features(self.exponents, self.k, z, jac))


class AlgebraicPotential(SectionPotential):
    """K = (1/πk) log s(z)ᴴ H s(z),  H = Rᴴ (1 + ½(D + Dᴴ)) R,  D = A + iB, R frozen.
    Derivation: docs/derivations.md#cy-potential-algebraicpotential."""

    exponents: Int[Array, "Nk n"]
    whitening: Complex[Array, "Nk Nk"]
    a: Float[Array, "Nk Nk"]
    b: Float[Array, "Nk Nk"]
    k: int = eqx.field(static=True)

    def __init__(self, exponents, h0, dtype=jnp.float64, ambient=None):
        exponents = np.asarray(exponents)
        n_sections = exponents.shape[0]
        self.k = section_degree(exponents, ambient)
        self.whitening = whitening(h0, n_sections, "AlgebraicPotential", dtype)
        self.exponents = jnp.asarray(exponents)
        self.a = jnp.zeros((n_sections, n_sections), dtype)
        self.b = jnp.zeros((n_sections, n_sections), dtype)

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

    def gram_operand(self) -> Complex[Array, "Nk Nk"]:
        """What :meth:`gram` needs, formed once outside a vmap: H."""
        return self.hermitian

    def gram(self, X: Complex[Array, "Nk m"], h=None) -> Complex[Array, "m m"]:
        """G = Xᴴ H X (H formed once per call, not per point under vmap)."""
        h = self.hermitian if h is None else h
        return X.conj().T @ (h @ X)

    def __call__(self, z: Complex[Array, " n"]) -> Float[Array, ""]:
        s, _ = sections(self.exponents, z.astype(self.whitening.dtype), self.k)
        t = self.whitening @ s
        return jnp.log(jnp.real(jnp.vdot(t, self._deformation() @ t))) / (jnp.pi * self.k)


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


class CorrectedPotential(eqx.Module):
    """K = K₀(z) + φ(u(z)) with K₀ frozen (docs/derivations.md#cy-potential):
    g = g⁰ + ∂_{v_a} ∂̄_{v_b} φ(u(z)) along the rows v_a of J, the first term in closed form,
    the second by autodiff."""

    base: eqx.Module
    phi: eqx.Module
    ambient: tuple[int, ...] = eqx.field(static=True)

    def correction(self, z: Complex[Array, " n"]) -> Float[Array, ""]:
        """φ(u(z)) in the network's precision."""
        u = spectral_inputs(z, self.ambient)
        return jnp.reshape(self.phi(u.astype(_float_dtype(self.phi))), ())

    def __call__(self, z: Complex[Array, " n"]) -> Float[Array, ""]:
        return self.base(z) + self.correction(z)

    def correction_metric(self, z, jac) -> Complex[Array, "d d"]:
        """∂_{v_a} ∂̄_{v_b} φ(u(z)) along the rows of J."""
        return complex_hessian_along(self.correction, z, jac)

    def pullback_metric(
        self, z: Complex[Array, " n"], jac: Complex[Array, "d n"]
    ) -> Complex[Array, "d d"]:
        g0 = self.base.pullback_metric(z, jac)
        return g0 + self.correction_metric(z, jac).astype(g0.dtype)

    def trainable_mask(self):
        """Only φ trains; K₀ is frozen."""
        from ntkflow.nets.trainable import frozen_mask, trainable

        return CorrectedPotential(frozen_mask(self.base), trainable(self.phi), self.ambient)


def zero_readout(mlp):
    """``mlp`` with its read-out weights and bias set to zero, so it is ≡ 0 (and its gradient
    w.r.t. the read-out layer is not: training moves it off zero)."""
    last = mlp.layers[-1]
    mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, jnp.zeros_like(last.weight))
    if getattr(last, "bias", None) is not None:
        mlp = eqx.tree_at(lambda m: m.layers[-1].bias, mlp, jnp.zeros_like(last.bias))
    return mlp
