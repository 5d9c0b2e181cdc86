"""The Kähler metric-NTK on a variety (paper.md §5; paper §4).

For a Kähler potential K = K_FS + φ_θ(u(z)) (:class:`ntkflow.cy.potential.PhiPotential`),
with only φ's trainable leaves θ_I moving:

- potential NTK      Θ(z, z')        = Σ_I ∂K(z)/∂θ_I ∂K(z')/∂θ_I;
- metric–potential   Θ_{a b̄}(z, z')  = Σ_I ∂K(z)/∂θ_I ∂g_{a b̄}(z')/∂θ_I = ∂'_a ∂̄'_b Θ(z, z');
- metric–metric      Θ_{a b̄ c d̄}(z, z') = Σ_I ∂g_{a b̄}(z)/∂θ_I ∂g_{c d̄}(z')/∂θ_I
                                      = ∂_a ∂̄_b ∂'_c ∂̄'_d Θ(z, z'),

with g_{a b̄} = ∂_a ∂̄_b K pulled back by the embedding Jacobian J (rows = local coordinates).
θ is real, so no complex conjugation enters the sums over I.

Infinite width: the Gaussian kernel k(u, u') = exp(−|u − u'|²/(2 s²)) on the C*-invariant
spectral inputs u(z) (:func:`ntkflow.cy.potential.spectral_inputs`), the NNGP of a cos-net
(paper.md §4 with s² = d/σ_b²), and its derivative kernels by Wirtinger calculus.

Kernel–vector products never form the kernel: in the real packing p(g) ∈ R^{d²} of a
Hermitian d × d matrix (:func:`pack_hermitian`), the metric–metric kernel acting on
v ∈ R^{N × d²} is J (Jᵀ v) with J = ∂p(g(z_p))/∂θ (a vjp followed by a jvp).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Complex, Float

from ntkflow.cy.potential import PhiPotential, complex_hessian_along, spectral_inputs
from ntkflow.nets.trainable import trainable

# ----------------------------------------------------------------------------------------------
# Hermitian packing and pulled-back jets
# ----------------------------------------------------------------------------------------------


def _upper(d: int):
    return np.triu_indices(d, 1)


def pack_hermitian(g: Complex[Array, "d d"]) -> Float[Array, " dd"]:
    """p(g) = (Re g_aa, Re g_ab (a<b), Im g_ab (a<b)) ∈ R^{d²}; with weights 1 on the
    diagonal and 2 off it, ⟨p(g), p(h)⟩_w = Re tr(g hᴴ) (the real Frobenius pairing)."""
    d = g.shape[-1]
    iu = _upper(d)
    return jnp.concatenate([jnp.real(jnp.diagonal(g)), jnp.real(g[iu]), jnp.imag(g[iu])])


def unpack_hermitian(p: Float[Array, " dd"], d: int) -> Complex[Array, "d d"]:
    """Inverse of :func:`pack_hermitian`."""
    iu = _upper(d)
    m = len(iu[0])
    diag, re, im = p[:d], p[d : d + m], p[d + m :]
    g = jnp.zeros((d, d), jnp.result_type(p.dtype, jnp.complex64)).at[iu].set(re + 1j * im)
    return g + g.conj().T + jnp.diag(diag)


def pullback_jet(f, z: Complex[Array, " n"], jac: Complex[Array, "d n"]):
    """Value, holomorphic derivative and complex Hessian of a real f: Cⁿ → R^m along J:

        D_{α a} = ∂_a f_α = J_{a i} ∂f_α/∂z_i,   H_{α a b} = ∂_a ∂̄_b f_α

    (Wirtinger: ∂_v = ½(∂_{Re v} − i ∂_{Im v}) for the real directions e = v, f = i v).
    """

    def fr(x):
        n = x.shape[0] // 2
        return f(x[:n] + 1j * x[n:])

    x = jnp.concatenate([jnp.real(z), jnp.imag(z)])
    e = jnp.concatenate([jnp.real(jac), jnp.imag(jac)], axis=1)
    fd = jnp.concatenate([jnp.real(1j * jac), jnp.imag(1j * jac)], axis=1)
    dirs = jnp.concatenate([e, fd], axis=0).astype(x.dtype)  # (2d, 2n)
    val = fr(x)
    grad = jax.jacfwd(fr)(x)  # (m, 2n)
    hess = jax.hessian(fr)(x)  # (m, 2n, 2n)
    d = jac.shape[0]
    gd = grad @ dirs.T  # (m, 2d)
    D = 0.5 * (gd[:, :d] - 1j * gd[:, d:])
    Hm = jnp.einsum("ip,mpq,jq->mij", dirs, hess, dirs)
    ee, ff, ef, fe = Hm[:, :d, :d], Hm[:, d:, d:], Hm[:, :d, d:], Hm[:, d:, :d]
    H = 0.25 * (ee + ff + 1j * (ef - fe))
    return val, D, H


def spectral_jets(z: Complex[Array, " n"], jac: Complex[Array, "d n"], ambient):
    """(u, D, H) of the spectral inputs u(z) at one point (see :func:`pullback_jet`)."""
    return pullback_jet(lambda w: spectral_inputs(w, ambient), z, jac)


def metric_from_jet(grad_u, hess_u, D, H) -> Complex[Array, "d d"]:
    """∂_a ∂̄_b f(u(z)) = Σ_{αβ} ∂²f/∂u_α∂u_β D_{αa} conj(D_{βb}) + Σ_α ∂f/∂u_α H_{αab}
    (chain rule; u real, so ∂̄_b u_β = conj(∂_b u_β))."""
    return jnp.einsum("ab,ai,bj->ij", hess_u, D, D.conj()) + jnp.einsum("a,aij->ij", grad_u, H)


# ----------------------------------------------------------------------------------------------
# empirical kernels of a φ-network potential
# ----------------------------------------------------------------------------------------------


def _partition(potential: PhiPotential):
    if not isinstance(potential, PhiPotential):
        raise TypeError(
            f"Kähler NTK: expected a PhiPotential (K_FS + φ), got {type(potential).__name__}"
        )
    params, static = eqx.partition(potential.phi, trainable(potential.phi))
    flat, unravel = ravel_pytree(params)
    return flat, unravel, static


@eqx.filter_jit
def potential_jacobian(potential: PhiPotential, z: Complex[Array, "N n"]) -> Float[Array, "N P"]:
    """∂K(z_p)/∂θ_I for the trainable leaves of φ (K_FS does not depend on θ)."""
    flat, unravel, static = _partition(potential)
    ambient = potential.fs.ambient

    def k_of(theta, zz):
        phi = eqx.combine(unravel(theta), static)
        return jnp.reshape(phi(spectral_inputs(zz, ambient).astype(theta.dtype)), ())

    return jax.vmap(lambda zz: jax.grad(k_of)(flat, zz))(z)


@eqx.filter_jit
def metric_jacobian(
    potential: PhiPotential, z: Complex[Array, "N n"], jac: Complex[Array, "N d n"]
) -> Complex[Array, "N d d P"]:
    """∂g_{a b̄}(z_p)/∂θ_I of the pulled-back metric (forward mode over θ)."""
    flat, unravel, static = _partition(potential)

    def g_of(theta, zz, jj):
        model = PhiPotential(eqx.combine(unravel(theta), static), potential.fs)
        return pack_hermitian(model.pullback_metric(zz, jj))

    Jp = jax.vmap(lambda zz, jj: jax.jacfwd(g_of)(flat, zz, jj))(z, jac)  # (N, d², P)
    d = jac.shape[1]
    return jax.vmap(jax.vmap(lambda c: unpack_hermitian(c, d), in_axes=1, out_axes=-1))(Jp)


def potential_ntk(potential, z1, z2=None) -> Float[Array, "N1 N2"]:
    """Θ(z, z') = Σ_I ∂K(z)/∂θ_I ∂K(z')/∂θ_I."""
    A = potential_jacobian(potential, z1)
    B = A if z2 is None else potential_jacobian(potential, z2)
    return A @ B.T


def metric_potential_ntk(potential, z1, z2, jac2) -> Complex[Array, "N1 N2 d d"]:
    """Θ_{a b̄}(z, z') = Σ_I ∂K(z)/∂θ_I ∂g_{a b̄}(z')/∂θ_I."""
    return jnp.einsum(
        "pI,qabI->pqab", potential_jacobian(potential, z1), metric_jacobian(potential, z2, jac2)
    )


def metric_metric_ntk(potential, z1, jac1, z2=None, jac2=None) -> Complex[Array, "N1 N2 d d d d"]:
    """Θ_{a b̄ c d̄}(z, z') = Σ_I ∂g_{a b̄}(z)/∂θ_I ∂g_{c d̄}(z')/∂θ_I."""
    A = metric_jacobian(potential, z1, jac1)
    B = A if z2 is None else metric_jacobian(potential, z2, jac2)
    return jnp.einsum("pabI,qcdI->pqabcd", A, B)


@eqx.filter_jit
def metric_kernel_vector_product(
    potential: PhiPotential,
    z: Complex[Array, "N n"],
    jac: Complex[Array, "N d n"],
    v: Float[Array, "N dd"],
) -> Float[Array, "N dd"]:
    """(Θ v)_p = Σ_q J_p J_qᵀ v_q in the packing of :func:`pack_hermitian`, with
    J_p = ∂p(g(z_p))/∂θ: one vjp (Jᵀ v) and one jvp (J w); the kernel is never formed."""
    flat, unravel, static = _partition(potential)

    def gs(theta):
        model = PhiPotential(eqx.combine(unravel(theta), static), potential.fs)
        return jax.vmap(lambda zz, jj: pack_hermitian(model.pullback_metric(zz, jj)))(z, jac)

    _, vjp = jax.vjp(gs, flat)
    (w,) = vjp(v)
    return jax.jvp(gs, (flat,), (w,))[1]


def metric_potential_vector_product(
    potential: PhiPotential, z_eval, z, jac, v: Float[Array, "N dd"]
) -> Float[Array, " M"]:
    """Σ_q Σ_I ∂K(z_eval)/∂θ_I ∂p(g(z_q))/∂θ_I · v_q: the change of K under the flow
    dK/dt = −Θ_{a b̄} δl/δg_{a b̄} when v = −δl/δp(g) (paper.md §5)."""
    flat, unravel, static = _partition(potential)

    def gs(theta):
        model = PhiPotential(eqx.combine(unravel(theta), static), potential.fs)
        return jax.vmap(lambda zz, jj: pack_hermitian(model.pullback_metric(zz, jj)))(z, jac)

    _, vjp = jax.vjp(gs, flat)
    (w,) = vjp(v)
    return potential_jacobian(potential, z_eval) @ w


# ----------------------------------------------------------------------------------------------
# the analytic Gaussian kernel on the spectral inputs
# ----------------------------------------------------------------------------------------------


def gaussian_potential_kernel(u: Float[Array, " m"], v: Float[Array, " m"], width: float):
    """k(u, u') = exp(−|u − u'|²/(2 s²)), the infinite-width cos-net NNGP (paper.md §4)."""
    return jnp.exp(-jnp.sum((u - v) ** 2) / (2.0 * width**2))


def gaussian_kernels(z1, jac1, z2, jac2, ambient, width: float) -> tuple[Array, Array, Array]:
    """(Θ, Θ_{a b̄}, Θ_{a b̄ c d̄}) of the Gaussian kernel at all pairs, by autodiff in z'
    then z (nested :func:`complex_hessian_along`; for small point sets and tests)."""

    def k(za, zb):
        return gaussian_potential_kernel(
            spectral_inputs(za, ambient), spectral_inputs(zb, ambient), width
        )

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


class RandomFourierFeatures(eqx.Module):
    """ψ_r(u) = √(2/R) cos(ω_r·u + b_r), ω_r ~ N(0, s⁻² I), b_r ~ U[0, 2π):
    Σ_r ψ_r(u) ψ_r(u') → exp(−|u − u'|²/(2 s²)) as R → ∞ (Rahimi & Recht 2007). A cos-net of
    width R with only its read-out trained (talk ``seeds/001``): its NTK is exactly this
    rank-R kernel, an unbiased Monte-Carlo estimate of the Gaussian kernel."""

    omega: Float[Array, "R m"]
    bias: Float[Array, " R"]

    def __init__(self, n_inputs: int, n_features: int, width: float, *, key):
        if width <= 0 or n_features < 1:
            raise ValueError(
                f"RandomFourierFeatures: need width > 0 and n_features >= 1, got {width}, "
                f"{n_features}"
            )
        k1, k2 = jax.random.split(key)
        self.omega = jax.random.normal(k1, (n_features, n_inputs), jnp.float64) / width
        self.bias = jax.random.uniform(k2, (n_features,), jnp.float64, 0.0, 2 * jnp.pi)

    @property
    def scale(self):
        return jnp.sqrt(2.0 / self.omega.shape[0])

    def __call__(self, u: Float[Array, " m"]) -> Float[Array, " R"]:
        return self.scale * jnp.cos(self.omega @ u + self.bias)

    def metric_features(self, u, D, H) -> Complex[Array, "R d d"]:
        """∂_a ∂̄_b ψ_r(u(z)) = −√(2/R)[cos θ_r (ω_r·D_a) conj(ω_r·D_b) + sin θ_r ω_r·H_ab],
        θ_r = ω_r·u + b_r (:func:`metric_from_jet` for ψ_r)."""
        th = self.omega @ u + self.bias
        wd = self.omega @ D  # (R, d)
        wh = jnp.einsum("rm,mab->rab", self.omega, H)
        return -self.scale * (
            jnp.cos(th)[:, None, None] * wd[:, :, None] * wd.conj()[:, None, :]
            + jnp.sin(th)[:, None, None] * wh
        )


__all__ = [
    "RandomFourierFeatures",
    "gaussian_kernels",
    "gaussian_potential_kernel",
    "metric_from_jet",
    "metric_jacobian",
    "metric_kernel_vector_product",
    "metric_metric_ntk",
    "metric_potential_ntk",
    "metric_potential_vector_product",
    "pack_hermitian",
    "potential_jacobian",
    "potential_ntk",
    "pullback_jet",
    "spectral_jets",
    "unpack_hermitian",
]
