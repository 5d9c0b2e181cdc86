"""Curvature of a Kähler metric on a variety at its sampled points (:func:`default_method`).
``"metric"``: g = J g_amb(z(x)) Jᴴ; ``"potential"``: g = ∂∂̄ (K∘z)(x); both through
:mod:`ntkflow.geometry.kahler`. χ = ∫_X c_n ≈ π^{-n}/n! ⟨S w/|Ω|²⟩ (Chern–Gauss–Bonnet).
Derivation and measured χ: docs/derivations.md#cy-curvature."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from ntkflow.geometry.kahler import curvature_scalars, potential_metric, to_complex, to_real
from ntkflow.memory import map_chunked

from .kahler import embedding_2jet, local_potential
from .potential import PhiPotential

METHODS = ("metric", "potential")


def local_metric(variety, potential, z0: Complex[Array, " n"], patch, elim):
    """(g, u0): the pulled-back metric g(u) = J(x) g_amb(z(x)) J(x)ᴴ of ``potential`` (which has
    ``pullback_metric(z, jac)``) as a function of u = [Re x | Im x] near the point z0."""
    embed, jac, x0 = embedding_2jet(variety, z0, patch, elim)

    def metric(u: Float[Array, " 2d"]) -> Complex[Array, "d d"]:
        x = to_complex(u)
        return potential.pullback_metric(embed(x), jac(x))

    return metric, to_real(x0)


def default_method(potential) -> str:
    """``"metric"`` when the potential has a closed-form pulled-back metric
    (``pullback_metric``, not itself a Hessian by autodiff), else ``"potential"``."""
    if isinstance(potential, PhiPotential) or not hasattr(potential, "pullback_metric"):
        return "potential"
    return "metric"


def point_curvature(variety, potential, z, patch, elim, method: str | None = None) -> dict:
    """At one point of X, in its chart: det g, the Ricci scalar R and the Euler density S
    (:func:`ntkflow.geometry.kahler.curvature_scalars`) of a potential K(z), by ``method``
    (default :func:`default_method`). Arguments:
    docs/derivations.md#cy-curvature-point_curvature."""
    method = default_method(potential) if method is None else method
    if method == "metric":
        metric, u0 = local_metric(variety, potential, z, patch, elim)
    elif method == "potential":
        k, u0 = local_potential(variety, potential, z, patch, elim)
        metric = potential_metric(k)
    else:
        raise ValueError(f"point_curvature: method must be one of {METHODS}, got {method!r}")
    return curvature_scalars(metric, u0)


def curvature_on_points(
    variety,
    potential,
    z,
    patch,
    elim,
    method: str | None = None,
    budget=None,
    progress=None,
    mesh=None,
) -> dict[str, np.ndarray]:
    """:func:`point_curvature` at every point, in chunks whose size follows from the compiled
    function's memory analysis and the budget (:func:`ntkflow.memory.map_chunked`); with a
    ``mesh``, the points sharded over its devices and each device's rows chunked by the budget
    (:func:`ntkflow.parallel.map_points`; ``progress`` is then called once, at the end)."""
    from ntkflow.parallel import active_mesh, map_points

    if active_mesh(mesh) is not None:
        out = map_points(
            lambda pot, zz, p, e: point_curvature(variety, pot, zz, p, e, method),
            potential,
            np.asarray(z),
            np.asarray(patch),
            np.asarray(elim),
            mesh=mesh,
            budget=budget,
        )
        if progress is not None:
            progress(int(np.shape(z)[0]))
        return out
    return map_chunked(
        lambda zz, p, e: point_curvature(variety, potential, zz, p, e, method),
        jnp.asarray(z),
        jnp.asarray(patch),
        jnp.asarray(elim),
        budget=budget,
        progress=progress,
    )


def euler_characteristic(euler_density, omega_sq, weights, dim: int) -> tuple[float, float]:
    """χ = ∫_X c_n ≈ π^{-n}/n! ⟨S w/|Ω|²⟩ (w/|Ω|² = V_FS/det g_FS: see ntkflow.cy.points),
    and its Monte-Carlo standard error."""
    f = (
        jnp.asarray(euler_density)
        * jnp.asarray(weights)
        / jnp.asarray(omega_sq)
        / (jnp.pi**dim * math.factorial(dim))
    )
    if not bool(jnp.all(jnp.isfinite(f))):
        raise ValueError("euler_characteristic: the Euler density is NaN or inf at some point")
    return float(jnp.mean(f)), float(jnp.std(f, ddof=1) / jnp.sqrt(f.shape[0]))
