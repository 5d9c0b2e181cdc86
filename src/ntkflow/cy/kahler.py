"""Kähler metrics from potentials, and their pullback g = J g_amb Jᴴ to a variety, for one point:
∂z_e/∂x_a = −(∂Q/∂z_e)^{-1} ∂Q/∂x_a (implicit function theorem).
Charts: docs/derivations.md#cy-kahler."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float, Int

from ntkflow.geometry.kahler import complex_hessian, to_complex, to_real
from ntkflow.geometry.kahler import pullback as pullback  # re-exported

RealPotential = Callable[[Complex[Array, " n"]], Float[Array, ""]]


def kahler_metric_ambient(
    potential: RealPotential, z: Complex[Array, " n"]
) -> Complex[Array, "n n"]:
    """g_{i j̄} = ∂_i ∂̄_j K(z) in the ambient homogeneous coordinates (one point)."""
    return complex_hessian(lambda u: jnp.real(potential(to_complex(u))), to_real(z))


def _as_index(a) -> Array:
    return jnp.atleast_1d(jnp.asarray(a, dtype=jnp.int32))


def free_coordinates(variety, patch, elim) -> Int[Array, " dim"]:
    """Indices of the free affine coordinates: all but the patch and eliminated ones."""
    mask = jnp.ones(variety.n_coords, dtype=bool)
    mask = mask.at[_as_index(patch)].set(False).at[_as_index(elim)].set(False)
    return jnp.nonzero(mask, size=variety.dim)[0]


def pullback_jacobian(variety, z: Complex[Array, " n"], patch, elim) -> Complex[Array, "dim n"]:
    """J[a, i] = ∂z_i/∂x_a on X at z (patch coordinates of z equal to 1), rows the free affine
    coordinates x_a: J[a, free_a] = 1, J[a, patch] = 0 and, by the implicit function theorem,
    ∂z_e/∂x_a = −[(∂Q/∂z_elim)^{-1} ∂Q/∂z_{free_a}]_e."""
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


def omega_squared(variety, z: Complex[Array, " n"], elim) -> Float[Array, ""]:
    """|Ω|² = 1/|det ∂Q/∂z_elim|² in the patch of z (Poincaré residue, Griffiths-Harris
    p. 147; anchors.md: Ω ∝ 1/(∂Q/∂z_elim))."""
    dQ = variety.jacobian(z)
    A = dQ[:, _as_index(elim)]
    return 1.0 / jnp.abs(jnp.linalg.det(A)) ** 2


def local_embedding(variety, z0: Complex[Array, " n"], patch, elim, newton_steps: int = 3):
    """The holomorphic embedding x ↦ z(x) near z0 in the chart (patch, elim): ``(embed, x0)``,
    z_elim(x) by ``newton_steps`` Newton steps, exact to order 2^steps − 1 in x − x0.
    Orders needed: docs/derivations.md#cy-kahler-local_embedding."""
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


def embedding_2jet(variety, z0: Complex[Array, " n"], patch, elim):
    """The 2-jet ``(embed, jac, x0)`` of the embedding x ↦ z(x) at z0, exact to order 2 in δ:
    z(x0 + δ) = z0 + δ_a J_a + ½ δ_a δ_b B_{ab},  J(x0 + δ) = J_a + δ_b B_{ab}.
    Derivation: docs/derivations.md#cy-kahler-embedding_2jet."""
    elim = _as_index(elim)
    z0 = jax.lax.stop_gradient(z0)
    J = pullback_jacobian(variety, z0, patch, elim)  # (d, n)
    x0 = z0[free_coordinates(variety, patch, elim)]
    dQ = variety.jacobian(z0)  # (E, n)
    # second derivatives of Q along J: hq[b, r, k] = Σ_l ∂_k ∂_l Q_r J_b^l (holomorphic jvp)
    hq = jax.vmap(lambda t: jax.jvp(variety.jacobian, (z0,), (t,))[1])(J.astype(z0.dtype))
    rhs = -jnp.einsum("brk,ak->rab", hq, J)  # (E, d, d)
    b_elim = jnp.linalg.solve(dQ[:, elim], rhs.reshape(rhs.shape[0], -1))
    B = jnp.zeros((variety.n_coords,) + rhs.shape[1:], J.dtype)
    B = B.at[elim].set(b_elim.reshape(rhs.shape)).transpose(1, 2, 0)  # B[a, b, k]

    def embed(x):
        dx = x - x0
        return z0 + dx @ J + 0.5 * jnp.einsum("a,b,abk->k", dx, dx, B)

    def jac(x):
        return J + jnp.einsum("b,abk->ak", x - x0, B)

    return embed, jac, x0


def local_potential(variety, potential: RealPotential, z0, patch, elim):
    """k(u) = K(z(x)) as a real function of u = [Re x | Im x] near z0: ``(k, u0)``, with z(x) the
    2-jet of the embedding (:func:`embedding_2jet`); its Wirtinger Hessian is the pulled-back
    metric (docs/derivations.md#cy-kahler-local_potential)."""
    embed, _, x0 = embedding_2jet(variety, z0, patch, elim)
    return (lambda u: jnp.real(potential(embed(to_complex(u))))), to_real(x0)
