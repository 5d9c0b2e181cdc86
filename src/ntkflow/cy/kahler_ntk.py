"""The Kähler metric-NTK on a variety (paper.md §5; paper §4), for K = K_FS + φ_θ(u(z)):
Θ(z, z') = Σ_I ∂K(z)/∂θ_I ∂K(z')/∂θ_I,  Θ_{a b̄ c d̄}(z, z') = ∂_a ∂̄_b ∂'_c ∂̄'_d Θ(z, z'),
applied as J (Jᵀ v), never formed. Derivation: docs/derivations.md#cy-kahler_ntk."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from ntkflow.cy.fubini_study import FubiniStudy
from ntkflow.cy.potential import (
    PhiPotential,
    _float_dtype,
    complex_hessian_along,
    spectral_inputs,
)
from ntkflow.geometry.kahler import complex_jet, to_complex, to_real
from ntkflow.kernels import GaussianKernel, empirical_ntk, kernel_vector_product
from ntkflow.kernels import RandomFourierFeatures as RandomFourierFeatures  # re-exported


def pack_hermitian(g: Complex[Array, "d d"]) -> Float[Array, " dd"]:
    """p(g) = (Re g_aa, Re g_ab (a<b), Im g_ab (a<b)) ∈ R^{d²}; with weights 1 on the
    diagonal and 2 off it, ⟨p(g), p(h)⟩_w = Re tr(g hᴴ) (the real Frobenius pairing)."""
    iu = np.triu_indices(g.shape[-1], 1)
    return jnp.concatenate([jnp.real(jnp.diagonal(g)), jnp.real(g[iu]), jnp.imag(g[iu])])


def unpack_hermitian(p: Float[Array, " dd"], d: int) -> Complex[Array, "d d"]:
    """Inverse of :func:`pack_hermitian`."""
    iu = np.triu_indices(d, 1)
    m = len(iu[0])
    diag, re, im = p[:d], p[d : d + m], p[d + m :]
    g = jnp.zeros((d, d), jnp.result_type(p.dtype, jnp.complex64)).at[iu].set(re + 1j * im)
    return g + g.conj().T + jnp.diag(diag)


def pullback_jet(f, z: Complex[Array, " n"], jac: Complex[Array, "d n"]):
    """Value, holomorphic derivative and complex Hessian of a real f: Cⁿ → R^m along J:

        D_{α a} = ∂_a f_α = J_{a i} ∂f_α/∂z_i,   H_{α a b} = ∂_a ∂̄_b f_α

    (:func:`ntkflow.geometry.kahler.complex_jet` along the rows of J)."""
    return complex_jet(lambda u: f(to_complex(u)), to_real(z), jac)


def spectral_jets(z: Complex[Array, " n"], jac: Complex[Array, "d n"], ambient):
    """(u, D, H) of the spectral inputs u(z) at one point (see :func:`pullback_jet`)."""
    return pullback_jet(lambda w: spectral_inputs(w, ambient), z, jac)


def metric_from_jet(grad_u, hess_u, D, H) -> Complex[Array, "d d"]:
    """∂_a ∂̄_b f(u(z)) = Σ_{αβ} ∂²f/∂u_α∂u_β D_{αa} conj(D_{βb}) + Σ_α ∂f/∂u_α H_{αab}
    (chain rule; u real, so ∂̄_b u_β = conj(∂_b u_β))."""
    return jnp.einsum("ab,ai,bj->ij", hess_u, D, D.conj()) + jnp.einsum("a,aij->ij", grad_u, H)


class PotentialOutput(eqx.Module):
    """fn(φ, z) = φ(u(z)) (as a 1-vector): the part of K = K_FS + φ that depends on θ."""

    fs: FubiniStudy

    def __call__(self, phi, z):
        u = spectral_inputs(z, self.fs.ambient)
        return jnp.reshape(phi(u.astype(_float_dtype(phi))), (1,))


class MetricOutput(eqx.Module):
    """fn(φ, (z, J)) = p(g(z)) ∈ R^{d²}: the packed pulled-back metric of K_FS + φ."""

    fs: FubiniStudy

    def __call__(self, phi, point):
        z, jac = point
        return pack_hermitian(PhiPotential(phi, self.fs).pullback_metric(z, jac))


def _check(potential) -> PhiPotential:
    if not isinstance(potential, PhiPotential):
        raise TypeError(
            f"Kähler NTK: expected a PhiPotential (K_FS + φ), got {type(potential).__name__}"
        )
    return potential


def _unpacked_basis(d: int, dtype) -> Complex[Array, "dd d d"]:
    """The Hermitian matrices of the packed unit vectors (unpacking is real-linear)."""
    return jax.vmap(lambda e: unpack_hermitian(e, d))(jnp.eye(d * d, dtype=dtype))


def potential_ntk(potential, z1, z2=None) -> Float[Array, "N1 N2"]:
    """Θ(z, z') = Σ_I ∂K(z)/∂θ_I ∂K(z')/∂θ_I (:func:`ntkflow.kernels.empirical_ntk`)."""
    fn = PotentialOutput(_check(potential).fs)
    return empirical_ntk(fn, potential.phi, z1, z2, strategy="jacobian")[:, :, 0, 0]


def metric_potential_ntk(potential, z1, z2, jac2) -> Complex[Array, "N1 N2 d d"]:
    """Θ_{a b̄}(z, z') = Σ_I ∂K(z)/∂θ_I ∂g_{a b̄}(z')/∂θ_I."""
    fs = _check(potential).fs
    th = empirical_ntk(
        PotentialOutput(fs),
        potential.phi,
        z1,
        (z2, jac2),
        fn2=MetricOutput(fs),
        strategy="jacobian",
    )
    u = _unpacked_basis(jac2.shape[1], th.dtype)
    return jnp.einsum("xyq,qcd->xycd", th[:, :, 0], u)


def metric_metric_ntk(potential, z1, jac1, z2=None, jac2=None) -> Complex[Array, "N1 N2 d d d d"]:
    """Θ_{a b̄ c d̄}(z, z') = Σ_I ∂g_{a b̄}(z)/∂θ_I ∂g_{c d̄}(z')/∂θ_I."""
    fn = MetricOutput(_check(potential).fs)
    x2 = None if z2 is None else (z2, jac2)
    th = empirical_ntk(fn, potential.phi, (z1, jac1), x2, strategy="jacobian")
    u = _unpacked_basis(jac1.shape[1], th.dtype)
    return jnp.einsum("pab,xypq,qcd->xyabcd", u, th, u)


def metric_kernel_vector_product(
    potential: PhiPotential,
    z: Complex[Array, "N n"],
    jac: Complex[Array, "N d n"],
    v: Float[Array, "N dd"],
) -> Float[Array, "N dd"]:
    """(Θ v)_p = Σ_q J_p J_qᵀ v_q in the packing of :func:`pack_hermitian`, with
    J_p = ∂p(g(z_p))/∂θ: one vjp (Jᵀ v) and one jvp (J w); the kernel is never formed."""
    fn = MetricOutput(_check(potential).fs)
    return kernel_vector_product(potential.phi, (z, jac), v, fn=fn)


def gaussian_kernels(z1, jac1, z2, jac2, ambient, lengthscale: float) -> tuple[Array, Array, Array]:
    """(Θ, Θ_{a b̄}, Θ_{a b̄ c d̄}) of the Gaussian kernel at all pairs, by autodiff in z'
    then z (nested :func:`complex_hessian_along`; for small point sets and tests)."""

    gauss = GaussianKernel(lengthscale)

    def k(za, zb):
        return gauss(spectral_inputs(za, ambient), spectral_inputs(zb, ambient))

    def k_ab(za, zb, jb):
        return complex_hessian_along(lambda w: k(za, w), zb, jb)

    def k_abcd(za, ja, zb, jb):
        d = ja.shape[0]
        # ∂_a ∂̄_b of each real component of the inner kernel: Re and Im parts separately
        re = pullback_jet(lambda w: jnp.real(k_ab(w, zb, jb)).ravel(), za, ja)[2]
        im = pullback_jet(lambda w: jnp.imag(k_ab(w, zb, jb)).ravel(), za, ja)[2]
        out = (re + 1j * im).reshape(d, d, d, d)  # [c, d, a, b] with (c d̄) the inner pair
        return jnp.transpose(out, (2, 3, 0, 1))

    pairs = lambda f: jax.vmap(lambda *a: jax.vmap(lambda *b: f(*a, *b))(z2, jac2))(z1, jac1)
    th = pairs(lambda za, ja, zb, jb: k(za, zb))
    th_ab = pairs(lambda za, ja, zb, jb: k_ab(za, zb, jb))
    th_abcd = pairs(k_abcd)
    return th, th_ab, th_abcd


def spectral_input_jet(z: Complex[Array, " n"], jac: Complex[Array, "d n"], ambient):
    """The real 2-jet of w ↦ u(z + Σ_a w_a J_a) at w = 0 in the real coordinates
    (Re w | Im w) ∈ R^{2d}: (u, ∂u, ∂²u), shapes (m,), (m, 2d), (m, 2d, 2d)."""
    d = jac.shape[0]
    f = lambda wr: spectral_inputs(z + (wr[:d] + 1j * wr[d:]) @ jac, ambient)
    w0 = jnp.zeros(2 * d, jnp.real(z).dtype)
    return f(w0), jax.jacfwd(f)(w0), jax.jacfwd(jax.jacfwd(f))(w0)


def _taylor(jet, s):
    u0, u1, u2 = jet
    return u0 + u1 @ s + 0.5 * jnp.einsum("mij,i,j->m", u2, s, s)


def potential_metric_kernel(
    kernel: Callable[[Array, Array], Array],
    ambient,
    z1: Complex[Array, "N1 n"],
    jac1: Complex[Array, "N1 d n"],
    z2: Complex[Array, "N2 n"],
    jac2: Complex[Array, "N2 d n"],
    budget: int | None = None,
) -> Float[Array, "N1 N2 dd dd"]:
    """The metric kernel of a potential kernel k(u, u′) on the spectral inputs, packed:

        Θ_{pq}(z, z′) = p(∂_a ∂̄_b) p(∂′_c ∂̄′_d) k(u(z), u(z′))      (p = :func:`pack_hermitian`)

    — for k = Θ_∞ the metric-NTK of the infinite-width network, Θ_{ab̄cd̄} of the module
    docstring. Each point's u enters through its 2-jet along J (:func:`spectral_input_jet`;
    exact for the second derivatives taken on each side), so the fourth derivatives of a
    pair cost a few hundred scalar operations, not four nested passes through u(z); rows in
    chunks sized from the memory budget (:func:`ntkflow.memory.map_chunked`)."""
    from ntkflow.geometry.kahler import complex_hessian
    from ntkflow.memory import map_chunked

    jets2 = jax.vmap(lambda z, j: spectral_input_jet(z, j, ambient))(z2, jac2)
    zero = jnp.zeros(2 * jac1.shape[1], jnp.real(z1).dtype)

    def pair(ja, jb):
        def inner(s):
            ua = _taylor(ja, s)
            return pack_hermitian(complex_hessian(lambda t: kernel(ua, _taylor(jb, t)), zero))

        return jax.vmap(pack_hermitian)(complex_hessian(inner, zero)).T  # [p (z), q (z′)]

    def row(z, jac):
        ja = spectral_input_jet(z, jac, ambient)
        return jax.vmap(lambda *jb: pair(ja, jb))(*jets2)

    return jnp.asarray(map_chunked(row, z1, jac1, budget=budget))
