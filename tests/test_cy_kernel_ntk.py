"""Kähler metric-NTK: derivative kernels, symmetries, matrix-free products, Gaussian limit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkflow.cy import kahler_ntk as kn
from ntkflow.cy.fubini_study import FubiniStudy
from ntkflow.cy.potential import PhiPotential, complex_hessian_along, n_spectral_inputs
from ntkflow.cy.sampling import sample_points
from ntkflow.cy.train import TrainingSet
from ntkflow.cy.variety import variety_from_name
from ntkflow.kernels import empirical_ntk
from ntkflow.nets import MLP


@pytest.fixture(scope="module")
def setup():
    X = variety_from_name("fermat-quintic")
    pts = sample_points(X, 6, jax.random.PRNGKey(3))
    data = TrainingSet.from_points(X, pts)
    phi = MLP(n_spectral_inputs(X.ambient), "scalar", 8, 2, "gelu", key=jax.random.PRNGKey(4))
    return X, data, PhiPotential(phi, FubiniStudy(X.ambient))


def test_metric_potential_is_ddbar_of_potential_ntk(setup):
    _, data, pot = setup
    z, J = data.z, data.jac
    mp = kn.metric_potential_ntk(pot, z[:2], z[2:4], J[2:4])
    ref = jax.jit(
        jax.vmap(
            jax.vmap(
                lambda a, b, jb: complex_hessian_along(
                    lambda w: kn.potential_ntk(pot, a[None], w[None])[0, 0], b, jb
                ),
                in_axes=(None, 0, 0),
            ),
            in_axes=(0, None, None),
        )
    )(z[:2], z[2:4], J[2:4])
    np.testing.assert_allclose(mp, ref, rtol=1e-9, atol=1e-12)


def test_metric_metric_symmetries_and_fourth_derivative(setup):
    _, data, pot = setup
    z, J = data.z, data.jac
    T = kn.metric_metric_ntk(pot, z[:2], J[:2], z[2:5], J[2:5])
    T2 = kn.metric_metric_ntk(pot, z[2:5], J[2:5], z[:2], J[:2])
    np.testing.assert_allclose(T, jnp.transpose(T2, (1, 0, 4, 5, 2, 3)), rtol=1e-12, atol=1e-14)
    # Hermitian in each index pair: conj Θ_{a b̄ c d̄} = Θ_{b ā d c̄}
    np.testing.assert_allclose(
        jnp.conj(T), jnp.transpose(T, (0, 1, 3, 2, 5, 4)), rtol=1e-12, atol=1e-14
    )
    # = ∂_a ∂̄_b of the metric–potential kernel Θ_{c d̄}(z, z')
    for i in range(2):
        re = kn.pullback_jet(
            lambda w: jnp.real(kn.metric_potential_ntk(pot, w[None], z[2:3], J[2:3])[0, 0]).ravel(),
            z[i],
            J[i],
        )[2]
        im = kn.pullback_jet(
            lambda w: jnp.imag(kn.metric_potential_ntk(pot, w[None], z[2:3], J[2:3])[0, 0]).ravel(),
            z[i],
            J[i],
        )[2]
        ref = jnp.transpose((re + 1j * im).reshape(3, 3, 3, 3), (2, 3, 0, 1))
        np.testing.assert_allclose(T[i, 0], ref, rtol=1e-8, atol=1e-11)


def test_kernel_vector_product_matches_dense(setup):
    _, data, pot = setup
    z, J = data.z, data.jac
    v = jax.random.normal(jax.random.PRNGKey(5), (len(z), 9))
    out = kn.metric_kernel_vector_product(pot, z, J, v)
    # the dense packed kernel by explicit per-point Jacobians (jacobian strategy)
    theta = empirical_ntk(kn.MetricOutput(pot.fs), pot.phi, (z, J), strategy="jacobian")
    dense = jnp.einsum("pqkl,ql->pk", theta, v)
    np.testing.assert_allclose(out, dense, rtol=1e-10, atol=1e-12)


def test_pack_roundtrip_and_pairing():
    g = jax.random.normal(jax.random.PRNGKey(0), (3, 3)) + 1j * jax.random.normal(
        jax.random.PRNGKey(1), (3, 3)
    )
    g = g + g.conj().T
    np.testing.assert_allclose(kn.unpack_hermitian(kn.pack_hermitian(g), 3), g, atol=1e-14)


def test_gaussian_kernel_jets_and_random_features(setup):
    X, data, _ = setup
    z, J = data.z[:3], data.jac[:3]
    s = 0.7
    th, th_ab, th_abcd = kn.gaussian_kernels(z, J, z, J, X.ambient, s)
    # independent route: chain rule through the jets of u(z') (closed-form Gaussian derivatives)
    u, D, H = jax.vmap(lambda a, b: kn.spectral_jets(a, b, X.ambient))(z, J)
    for i in range(3):
        for j in range(3):
            delta = u[i] - u[j]
            k = np.exp(-np.sum(delta**2) / (2 * s**2))
            grad = k * delta / s**2  # ∂k/∂u'
            hess = k * (np.outer(delta, delta) / s**4 - np.eye(len(delta)) / s**2)
            ref = kn.metric_from_jet(grad, hess, D[j], H[j])
            np.testing.assert_allclose(th[i, j], k, rtol=1e-12)
            np.testing.assert_allclose(th_ab[i, j], ref, rtol=1e-9, atol=1e-12)
    # symmetry of the analytic 4-index kernel
    np.testing.assert_allclose(
        th_abcd, jnp.transpose(th_abcd, (1, 0, 4, 5, 2, 3)), rtol=1e-9, atol=1e-11
    )
    # random Fourier features: metric features equal autodiff, kernel → Gaussian (Monte Carlo)
    rf = kn.RandomFourierFeatures(u.shape[1], 20000, s, key=jax.random.PRNGKey(7))
    Psi = jax.vmap(rf.metric_features)(u, D, H)  # (N, R, 3, 3)
    for r in (0, 5):
        ref = complex_hessian_along(
            lambda w, r=r: rf(kn.spectral_jets(w, J[1], X.ambient)[0])[r], z[1], J[1]
        )
        np.testing.assert_allclose(Psi[1, r], ref, rtol=1e-9, atol=1e-12)
    feats = jax.vmap(rf)(u)
    mp_rf = jnp.einsum("pr,qrab->pqab", feats, Psi)
    scale = np.max(np.abs(th_ab))
    assert np.max(np.abs(mp_rf - th_ab)) < 5 * scale / np.sqrt(20000) * 5
    assert np.all(np.isfinite(np.asarray(mp_rf)))
