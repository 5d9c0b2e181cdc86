"""Curvature of a Kähler metric on a variety at its sampled points.

The curvature itself (R^a_{b c d̄}, Ricci scalar, top Chern density c_n) is
:mod:`ntkflow.geometry.kahler`, for a metric given as a function of u = [Re x | Im x] in the
chart (patch, elim) of a point, built from the 2-jet of the embedding x ↦ z(x)
(:func:`ntkflow.cy.kahler.embedding_2jet`, exact for curvature) in one of two ways:

* ``"metric"``: g(x) = J(x) g_amb(z(x)) J(x)ᴴ, J = ∂z/∂x, for potentials with a closed-form
  ``pullback_metric(z, jac)``; two derivative levels (Γ = ∂g·g⁻¹, R = −∂̄Γ).
* ``"potential"``: g = ∂∂̄ (K∘z)(x) for any real K(z); three levels, four derivatives of K.

Both agree to rounding; per point on 2 CPU cores the metric route is 7× faster for
Fubini–Study and 6× for algebraic k = 5, the potential route as fast for a φ-network (whose
metric is itself an autodiff Hessian): :func:`default_method`.

χ = ∫_X c_n ≈ π^{-n}/n! ⟨S w/|Ω|²⟩ (Chern–Gauss–Bonnet; weights: :mod:`ntkflow.cy.points`).
On 10⁵ FS-sampled points: quintic −201.9 ± 3.4 (exact −200), bicubic −161.1 ± 19.1 (−162),
tetraquadric −120.7 ± 9.0 (−128), P⁵[3,3] −137.2 ± 8.2 (−144); heavy-tailed densities, so a few
thousand points do not give a reliable error bar.
"""

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
    (:func:`ntkflow.geometry.kahler.curvature_scalars`).

    ``potential``: a real function K(z) of the ambient homogeneous coordinates (e.g.
    :class:`~ntkflow.cy.fubini_study.FubiniStudy`, an algebraic or Donaldson potential, or
    K_FS + φ). ``method``: ``"metric"`` (differentiate the pulled-back metric; needs
    ``potential.pullback_metric``) or ``"potential"`` (∂∂̄ of K∘z); default
    :func:`default_method` (module docstring)."""
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
    variety, potential, z, patch, elim, method: str | None = None, budget=None, progress=None
) -> dict[str, np.ndarray]:
    """:func:`point_curvature` at every point, in chunks whose size follows from the compiled
    function's memory analysis and the budget (:func:`ntkflow.memory.map_chunked`)."""
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
