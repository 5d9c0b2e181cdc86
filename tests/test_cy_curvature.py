"""Kähler curvature on P^n against closed forms (Ric = (n+1)π g, ∫c_n = n+1)."""

import math

import jax
import jax.numpy as jnp
import pytest

from ntkflow.cy.curvature import (
    ricci_form_local,
    ricci_scalar_local,
    riemann_local,
    top_chern_density,
)
from ntkflow.cy.fubini_study import fs_potential


@pytest.mark.parametrize("n", [1, 2, 3])
def test_fubini_study_pn(n):
    def k(u):  # FS potential in the affine chart z_0 = 1
        return fs_potential(jnp.concatenate([jnp.ones(1), u[:n] + 1j * u[n:]]))

    u = jnp.linspace(-0.5, 0.7, 2 * n)
    g, Rm = jax.jit(lambda v: riemann_local(k, v))(u)
    assert jnp.allclose(jnp.einsum("aacd->cd", Rm), (n + 1) * jnp.pi * g, atol=1e-12)
    assert jnp.allclose(
        jax.jit(lambda v: ricci_form_local(k, v))(u), (n + 1) * jnp.pi * g, atol=1e-12
    )
    assert jax.jit(lambda v: ricci_scalar_local(k, v))(u) == pytest.approx(
        n * (n + 1) * jnp.pi, rel=1e-12
    )
    # FS is homogeneous, so ∫c_n = (S/det g) · vol / (π^n) with ∫det g d^{2n}x = 1/n!
    chi = top_chern_density(Rm) / jnp.real(jnp.linalg.det(g)) / (jnp.pi**n * math.factorial(n))
    assert chi == pytest.approx(n + 1, rel=1e-12)


@pytest.mark.parametrize(("name", "chi_exact"), [("cubic-torus", 0.0), ("quartic-k3", 24.0)])
def test_euler_characteristic_of_fubini_study_is_topological(name, chi_exact):
    """χ = ∫_X c_n of the (non-Ricci-flat) Fubini–Study metric is the topological Euler number:
    0 for the cubic curve, 24 for the quartic K3 (adjunction: euler_characteristic_exact)."""
    from ntkflow.cy.curvature import euler_characteristic, point_curvature
    from ntkflow.cy.fubini_study import FubiniStudy
    from ntkflow.cy.sampling import sample_points
    from ntkflow.cy.variety import variety_from_name

    X = variety_from_name(name)
    assert X.euler_characteristic_exact() == chi_exact
    pts = sample_points(X, 3000, jax.random.PRNGKey(11))
    fs = FubiniStudy(X.ambient)
    curv = jax.jit(jax.vmap(lambda z, p, e: point_curvature(X, fs, z, p, e)))(
        pts.z, pts.patch, pts.elim
    )
    chi, err = euler_characteristic(curv["euler_density"], pts.omega_sq, pts.weights, X.dim)
    scale = max(abs(chi_exact), 1.0)
    assert err < 0.1 * max(abs(chi_exact), 10.0)  # the check below is not vacuous
    assert abs(chi - chi_exact) < 4 * err + 1e-9 * scale, (chi, err)
