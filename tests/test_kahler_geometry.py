"""The one Kähler module (ntkflow.geometry.kahler) against closed forms on Pⁿ and Cⁿ:
Wirtinger ∂∂̄ and jets of explicit functions, Fubini–Study curvature Ric = (n+1)π g,
R = n(n+1)π, ∫c_n = n + 1, from a potential and from a closed-form metric function."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkflow.cy.fubini_study import fs_metric_pn, fs_potential
from ntkflow.geometry.kahler import (
    chern_curvature,
    complex_hessian,
    complex_jet,
    curvature_scalars,
    kahler_ricci_scalar,
    potential_metric,
    pullback,
    ricci_form,
    ricci_from_riemann,
    to_complex,
    to_real,
    top_chern_density,
)
from ntkflow.nets import kahler_metric, kahler_metric_parts

jax.config.update("jax_enable_x64", True)


def _affine(n):
    """FS on Pⁿ in the chart z_0 = 1: the potential k(u) and the closed-form metric g(u) =
    J g_FS(z) Jᴴ with z = (1, x), J = [0 | 1] (no autodiff inside)."""

    def z_of(u):
        return jnp.concatenate([jnp.ones(1, jnp.complex128), to_complex(u)])

    jac = jnp.concatenate([jnp.zeros((n, 1)), jnp.eye(n)], axis=1).astype(jnp.complex128)
    return (lambda u: fs_potential(z_of(u))), (lambda u: pullback(fs_metric_pn(z_of(u)), jac))


def _random_z(n, seed):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    return jax.random.normal(k1, (n,)) + 1j * jax.random.normal(k2, (n,))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_fubini_study_pn_from_potential_and_from_metric(n):
    k, g_closed = _affine(n)
    u = jnp.linspace(-0.5, 0.7, 2 * n)
    for metric in (potential_metric(k), g_closed):

        @jax.jit
        def everything(v, m=metric):
            g, Rm = chern_curvature(m, v)
            return g, Rm, ricci_form(m, v), kahler_ricci_scalar(m, v), curvature_scalars(m, v)

        g, Rm, ric, R, s = everything(u)
        np.testing.assert_allclose(g, g_closed(u), atol=1e-14)
        np.testing.assert_allclose(ricci_from_riemann(Rm), (n + 1) * jnp.pi * g, atol=1e-12)
        np.testing.assert_allclose(ric, (n + 1) * jnp.pi * g, atol=1e-12)
        assert float(R) == pytest.approx(n * (n + 1) * np.pi, rel=1e-12)
        assert float(s["ricci_scalar"]) == pytest.approx(n * (n + 1) * np.pi, rel=1e-12)
        # FS is homogeneous: ∫c_n = (S/det g) · vol/π^n with ∫det g d^{2n}x = 1/n!
        chi = s["euler_density"] / s["det_g"] / (np.pi**n * math.factorial(n))
        assert float(chi) == pytest.approx(n + 1, rel=1e-12)
        assert float(top_chern_density(Rm)) == pytest.approx(float(s["euler_density"]), rel=1e-14)


def test_complex_hessian_and_jet_of_explicit_functions():
    """f = log(1 + |z|²) has ∂∂̄f = FS of the affine chart; f = |z|² has ∂f = z̄, ∂∂̄f = 1;
    along directions V: V (∂∂̄f) Vᴴ and V ∂f."""
    n, d = 4, 2
    z = _random_z(n, 0)
    V = _random_z(d * n, 1).reshape(d, n)
    u = to_real(z)
    log_fs = lambda v: jnp.log1p(jnp.sum(v**2))  # noqa: E731
    r2 = 1.0 + jnp.vdot(z, z).real
    expect = (jnp.eye(n) / r2 - jnp.outer(z.conj(), z) / r2**2).astype(jnp.complex128)
    np.testing.assert_allclose(complex_hessian(log_fs, u), expect, atol=1e-14)
    np.testing.assert_allclose(complex_hessian(log_fs, u, V), V @ expect @ V.conj().T, atol=1e-13)
    np.testing.assert_allclose(kahler_metric(log_fs, u), expect, atol=1e-14)
    re, im = kahler_metric_parts(log_fs, u)
    np.testing.assert_allclose(re + 1j * im, expect, atol=1e-14)

    two = lambda v: jnp.stack([jnp.sum(v**2), log_fs(v)])  # noqa: E731  vector-valued
    val, D, H = complex_jet(two, u, V)
    np.testing.assert_allclose(val, [r2 - 1.0, jnp.log(r2)], rtol=1e-14)
    np.testing.assert_allclose(D[0], V @ z.conj(), atol=1e-13)  # ∂_a |z|² = z̄_a
    np.testing.assert_allclose(D[1], V @ z.conj() / r2, atol=1e-13)
    np.testing.assert_allclose(H[0], V @ V.conj().T, atol=1e-13)
    np.testing.assert_allclose(H[1], V @ expect @ V.conj().T, atol=1e-13)


def test_curvature_of_a_flat_metric_vanishes():
    """g = A constant Hermitian positive: Γ = 0, R = 0, c_n = 0."""
    A = jnp.asarray([[2.0, 0.3 + 0.4j, 0.0], [0.3 - 0.4j, 1.5, 0.1j], [0.0, -0.1j, 1.0]])
    g, Rm = chern_curvature(lambda u: A + 0.0 * u[0], jnp.ones(6) * 0.3)
    np.testing.assert_allclose(g, A)
    assert float(jnp.max(jnp.abs(Rm))) == 0.0
