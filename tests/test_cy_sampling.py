"""Sampling, weights, measures and point files on the Fermat quintic and friends."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkflow.cy.fubini_study import FubiniStudy, fs_det, fs_metric, fs_metric_pn, fs_potential
from ntkflow.cy.kahler import kahler_metric_ambient, local_embedding, pullback, pullback_jacobian
from ntkflow.cy.measures import sigma_measure, volume, volume_error
from ntkflow.cy.points import PointSet, PointSetError
from ntkflow.cy.sampling import sample_points
from ntkflow.cy.variety import fermat_quintic


@pytest.fixture(scope="module")
def quintic_points():
    return fermat_quintic(), sample_points(fermat_quintic(), 6000, jax.random.PRNGKey(0))


def test_points_on_variety(quintic_points):
    v, ps = quintic_points
    z = np.asarray(ps.z)
    assert z.dtype == np.complex128 and len(ps) == 6000
    assert np.abs(np.asarray(jax.vmap(v.polynomial)(ps.z))).max() < 1e-10
    patch = np.asarray(ps.patch)
    assert np.allclose(z[np.arange(len(z)), patch], 1.0, atol=1e-14)
    assert (np.abs(z) <= 1 + 1e-12).all()
    dq = np.abs(5 * z**4)
    dq[np.arange(len(z)), patch] = -1
    assert (np.asarray(ps.elim) == dq.argmax(axis=1)).all()
    assert np.allclose(ps.omega_sq, 1 / dq.max(axis=1) ** 2, rtol=1e-12)


def test_reproducible():
    v = fermat_quintic()
    a = sample_points(v, 50, jax.random.PRNGKey(3))
    b = sample_points(v, 50, jax.random.PRNGKey(3))
    assert np.array_equal(np.asarray(a.z), np.asarray(b.z))


def test_fs_ambient_autodiff_matches_closed_form():
    z = jnp.array([0.3 + 0.1j, -1.0, 0.2j, 0.5 - 0.4j, 0.7])
    for t in (1.0, 2.5):
        g = kahler_metric_ambient(lambda u, t=t: fs_potential(u, t), z)
        assert jnp.allclose(g, fs_metric_pn(z, t), atol=1e-14)


def test_pullback_jacobian_is_tangent_and_holomorphic(quintic_points):
    v, ps = quintic_points
    z, p, e = ps.z[0], ps.patch[0], ps.elim[0]
    J = pullback_jacobian(v, z, p, e)
    assert jnp.abs(J @ v.gradient(z)).max() < 1e-12  # rows tangent to Q = 0
    embed, x0 = local_embedding(v, z, p, e)
    auto = jax.jacfwd(embed, holomorphic=True)(x0)  # (n, dim), independent of the formula
    assert jnp.allclose(J, auto.T, atol=1e-12)


def test_sigma_fubini_study(quintic_points):
    v, ps = quintic_points
    det = jax.vmap(lambda z, p, e: fs_det(v, z, p, e))(ps.z, ps.patch, ps.elim)
    sigma, err = sigma_measure(det, ps.omega_sq, ps.weights)
    # anchors.md: σ_FS = 0.372 (quoted to ±0.005); statistical tolerance 4 standard errors
    assert abs(sigma - 0.372) < 0.005 + 4 * err
    assert 0 < err < 0.01


def test_volume_is_topological(quintic_points):
    """∫ω^3 = 5 t^3 for any Kähler metric in the class t·H: check with ∂∂̄(K_FS + φ), φ a
    global C*-invariant function, which changes det g pointwise but not the integral."""
    v, ps = quintic_points
    ps = ps.take(np.arange(3000))

    def K(z, t):
        r2 = jnp.sum(jnp.abs(z) ** 2)
        phi = 0.08 * jnp.abs(z[0]) ** 4 / r2**2 + 0.05 * jnp.real(z[1] * jnp.conj(z[2])) / r2
        return fs_potential(z, t) + phi

    for t in (1.0, 1.5):
        det = jax.vmap(
            lambda z, p, e, t=t: jnp.real(
                jnp.linalg.det(
                    pullback(
                        kahler_metric_ambient(lambda u: K(u, t), z), pullback_jacobian(v, z, p, e)
                    )
                )
            )
        )(ps.z, ps.patch, ps.elim)
        fs = jax.vmap(lambda z, p, e, t=t: fs_det(v, z, p, e, t))(ps.z, ps.patch, ps.elim)
        assert float(jnp.max(jnp.abs(det / fs - 1))) > 0.05  # really a different metric
        vol, err = volume(det, ps.omega_sq, ps.weights), volume_error(det, ps.omega_sq, ps.weights)
        assert abs(vol - 5 * t**3) < 4 * err
        assert err < 0.02 * 5 * t**3


def test_fs_metric_positive(quintic_points):
    v, ps = quintic_points
    g = fs_metric(v, ps.z[1], ps.patch[1], ps.elim[1])
    assert jnp.allclose(g, jnp.conj(g).T, atol=1e-15)
    assert jnp.linalg.eigvalsh(g).min() > 0
    assert FubiniStudy([4])(ps.z[1]) == pytest.approx(float(fs_potential(ps.z[1])))


def test_save_load_roundtrip(tmp_path, quintic_points):
    _, ps = quintic_points
    path = ps.take(np.arange(100)).save(tmp_path / "pts.npz")
    back = PointSet.load(path)
    assert len(back) == 100 and back.variety_name == "fermat-quintic"
    assert np.array_equal(np.asarray(back.z), np.asarray(ps.z[:100]))
    assert back.variety().dim == 3
    train, test = back.split(30)
    assert (len(train), len(test)) == (70, 30)


def test_bad_point_files(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(PointSetError, match="empty"):
        PointSet.load(empty)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.ones(3))
    with pytest.raises(PointSetError, match="not an ntkflow point set"):
        PointSet.load(foreign)
    good = sample_points(fermat_quintic(), 20, jax.random.PRNGKey(1)).save(tmp_path / "g.npz")
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(good.read_bytes()[:200])
    with pytest.raises(PointSetError, match="truncated|unreadable"):
        PointSet.load(trunc)
    with pytest.raises(PointSetError, match="no such"):
        PointSet.load(tmp_path / "missing.npz")
