"""Kähler metrics from potentials, and their pullback to a variety.

Wirtinger derivatives (Griffiths-Harris ch. 0): with z = x + i y,
∂_a = ½(∂_{x_a} − i ∂_{y_a}) and ∂̄_b = ½(∂_{x_b} + i ∂_{y_b}), so for a real potential K

    g_{a b̄} = ∂_a ∂̄_b K = ¼ (K_{x_a x_b} + K_{y_a y_b} + i (K_{x_a y_b} − K_{y_a x_b})),

computed by real (forward-over-forward) autodiff on the real vector [Re z | Im z]
(anchors.md, "network inputs [Re z | Im z]").

Local coordinates on a variety X (anchors.md, "Sampling"): in the patch where the coordinate
``patch`` (one per projective factor) equals 1, the eliminated coordinates ``elim`` (one per
equation) are holomorphic functions of the remaining ``dim`` free affine coordinates x by the
implicit function theorem, ∂z_e/∂x_a = −(∂Q/∂z_e)^{-1} ∂Q/∂x_a. The Jacobian of the embedding
x ↦ z has rows J[a] = ∂z/∂x_a and the pulled-back metric is g = J g_amb Jᴴ (anchors.md).

Everything is written for one point; vmap for batches.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float, Int

RealPotential = Callable[[Complex[Array, " n"]], Float[Array, ""]]


def wirtinger_hessian(f: Callable[[Array], Array], u: Float[Array, " m"]) -> Complex[Array, "n n"]:
    """∂_a ∂̄_b f at the real point u = [Re z | Im z] (m = 2n) for a real function f(u)."""
    n = u.shape[0] // 2
    H = jax.jacfwd(jax.jacfwd(f))(u)
    hxx, hxy = H[:n, :n], H[:n, n:]
    hyx, hyy = H[n:, :n], H[n:, n:]
    return 0.25 * (hxx + hyy + 1j * (hxy - hyx))


def to_real(z: Complex[Array, " n"]) -> Float[Array, " 2n"]:
    """[Re z | Im z]."""
    return jnp.concatenate([jnp.real(z), jnp.imag(z)])


def to_complex(u: Float[Array, " 2n"]) -> Complex[Array, " n"]:
    n = u.shape[0] // 2
    return u[:n] + 1j * u[n:]


def kahler_metric_ambient(
    potential: RealPotential, z: Complex[Array, " n"]
) -> Complex[Array, "n n"]:
    """g_{i j̄} = ∂_i ∂̄_j K(z) in the ambient homogeneous coordinates (one point)."""
    return wirtinger_hessian(lambda u: jnp.real(potential(to_complex(u))), to_real(z))


def _as_index(a) -> Array:
    return jnp.atleast_1d(jnp.asarray(a, dtype=jnp.int32))


def free_coordinates(variety, patch, elim) -> Int[Array, " dim"]:
    """Indices of the free affine coordinates: all but the patch and eliminated ones."""
    mask = jnp.ones(variety.n_coords, dtype=bool)
    mask = mask.at[_as_index(patch)].set(False).at[_as_index(elim)].set(False)
    return jnp.nonzero(mask, size=variety.dim)[0]


def pullback_jacobian(variety, z: Complex[Array, " n"], patch, elim) -> Complex[Array, "dim n"]:
    """J[a, i] = ∂z_i/∂x_a on X at z (patch coordinates of z equal to 1).

    Rows: the free affine coordinates x_a; J[a, free_a] = 1, J[a, patch] = 0, and the
    eliminated coordinates from the implicit function theorem
    ∂z_e/∂x_a = −[(∂Q/∂z_elim)^{-1} ∂Q/∂z_{free_a}]_e.
    """
    elim = _as_index(elim)
    free = free_coordinates(variety, patch, elim)
    dQ = variety.jacobian(z)  # (E, n)
    A = dQ[:, elim]  # (E, E)
    B = dQ[:, free]  # (E, dim)
    dze = -jnp.linalg.solve(A, B)  # (E, dim)
    D = variety.dim
    J = jnp.zeros((D, variety.n_coords), dtype=jnp.complex128)
    J = J.at[jnp.arange(D), free].set(1.0)
    J = J.at[:, elim].set(dze.T)
    return J


def pullback(g_amb: Complex[Array, "n n"], J: Complex[Array, "dim n"]) -> Complex[Array, "dim dim"]:
    """g_{a b̄} = J_{a i} g_{i j̄} conj(J_{b j}) = (J g Jᴴ)_{ab}."""
    return J @ g_amb @ jnp.conj(J).T


def omega_squared(variety, z: Complex[Array, " n"], elim) -> Float[Array, ""]:
    """|Ω|² = 1/|det ∂Q/∂z_elim|² in the patch of z (Poincaré residue, Griffiths-Harris
    p. 147; anchors.md: Ω ∝ 1/(∂Q/∂z_elim))."""
    dQ = variety.jacobian(z)
    A = dQ[:, _as_index(elim)]
    return 1.0 / jnp.abs(jnp.linalg.det(A)) ** 2


def local_embedding(variety, z0: Complex[Array, " n"], patch, elim, newton_steps: int = 3):
    """The holomorphic embedding x ↦ z(x) near z0 in the chart (patch, elim).

    z_elim(x) is obtained by ``newton_steps`` Newton steps for Q(z) = 0 started at z0's value
    (held constant): the result agrees with the implicit function to order 2^steps − 1 in
    x − x0, so all derivatives up to that order at x0 are exact (3 steps: order 7; curvature
    needs order 3). Returns ``(embed, x0)``."""
    elim = _as_index(elim)
    free = free_coordinates(variety, patch, elim)
    z0 = jax.lax.stop_gradient(z0)
    x0 = z0[free]

    def embed(x):
        z = z0.at[free].set(x)
        for _ in range(newton_steps):
            A = variety.jacobian(z)[:, elim]
            z = z.at[elim].add(-jnp.linalg.solve(A, variety.equations(z)))
        return z

    return embed, x0


def local_potential(variety, potential: RealPotential, z0, patch, elim):
    """k(u) = K(z(x)) as a real function of u = [Re x | Im x] near z0; returns ``(k, u0)``.

    The pulled-back metric is the Wirtinger Hessian of k (pullback of ∂∂̄K = ∂∂̄ of the
    pullback, z(x) being holomorphic)."""
    embed, x0 = local_embedding(variety, z0, patch, elim)
    return (lambda u: jnp.real(potential(embed(to_complex(u))))), to_real(x0)
