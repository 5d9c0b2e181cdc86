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
