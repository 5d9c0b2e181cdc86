"""Varieties: polynomials against autodiff, topological numbers against the literature,
and clear errors on bad input."""

import jax
import jax.numpy as jnp
import pytest

from ntkflow.cy.variety import (
    VarietyError,
    bicubic,
    cicy_p5_33,
    cubic_torus,
    dwork_quintic,
    fermat_quintic,
    hypersurface_from_string,
    quartic_k3,
    tetraquadric,
    variety_from_name,
)


def _rand_z(key, n):
    k1, k2 = jax.random.split(key)
    return jax.random.normal(k1, (n,)) + 1j * jax.random.normal(k2, (n,))


def test_fermat_polynomial_and_gradient():
    v = fermat_quintic()
    z = _rand_z(jax.random.PRNGKey(0), 5)
    assert jnp.allclose(v.polynomial(z), jnp.sum(z**5), rtol=1e-13)
    assert jnp.allclose(v.gradient(z), 5 * z**4, rtol=1e-13)
    assert (v.n_coords, v.dim, v.degree) == (5, 3, 5)


def test_gradient_matches_autodiff_for_dense_polynomial():
    v = bicubic()
    z = _rand_z(jax.random.PRNGKey(1), 6)
    auto = jax.jacfwd(v.polynomial, holomorphic=True)(z)
    assert jnp.allclose(v.gradient(z), auto, rtol=1e-11, atol=1e-12)
    # vmappable
    zs = jax.vmap(lambda k: _rand_z(k, 6))(jax.random.split(jax.random.PRNGKey(2), 4))
    assert jax.vmap(v.polynomial)(zs).shape == (4,)


def test_dwork_polynomial():
    psi = 0.3 + 0.2j
    v = dwork_quintic(psi)
    z = _rand_z(jax.random.PRNGKey(3), 5)
    assert jnp.allclose(v.polynomial(z), jnp.sum(z**5) - 5 * psi * jnp.prod(z), rtol=1e-13)


@pytest.mark.parametrize(
    "make, volume, chi",
    [
        # ∫J^n = intersection numbers; χ from the literature (Hubsch; Candelas et al. 1988)
        (fermat_quintic, 5, -200),
        (quartic_k3, 4, 24),
        (cubic_torus, 3, 0),
        (bicubic, 18, -162),
        (tetraquadric, 48, -128),
        (cicy_p5_33, 9, -144),
    ],
)
def test_topological_numbers(make, volume, chi):
    v = make()
    assert v.fs_volume() == pytest.approx(volume)
    assert v.euler_characteristic_exact() == chi


def test_fs_volume_scales_with_moduli():
    # bicubic: J = t1 J1 + t2 J2, ∫J^3 = 9 (3 t1^2 t2 + 3 t1 t2^2)·... = 27 t1^2 t2 + 27 t1 t2^2 / 3
    v = bicubic()
    t1, t2 = 1.5, 0.5
    # ∫_X J1^2 J2 = 3, ∫_X J1 J2^2 = 3 ; J^3 = 3 t1^2 t2 J1^2J2 + 3 t1 t2^2 J1J2^2
    assert v.fs_volume([t1, t2]) == pytest.approx(9 * t1**2 * t2 + 9 * t1 * t2**2)
    assert fermat_quintic().fs_volume(2.0) == pytest.approx(40.0)


def test_string_and_names():
    v = hypersurface_from_string("z0^5 + z1^5 + z2**5 + z3^5 + z4^5 - 5*(0.5+0.1j)*z0*z1*z2*z3*z4")
    w = dwork_quintic(0.5 + 0.1j)
    z = _rand_z(jax.random.PRNGKey(4), 5)
    assert jnp.allclose(v.polynomial(z), w.polynomial(z), rtol=1e-13)
    assert variety_from_name("dwork:psi=0.5+0.1i").name.startswith("dwork:psi=0.5")
    for name in ("fermat-quintic", "quartic-k3", "cubic-torus"):
        assert variety_from_name(name).name == name


def test_toml(tmp_path):
    p = tmp_path / "k3.toml"
    p.write_text('name = "k3"\nambient = [3]\npolynomial = "z0^4 + z1^4 + z2^4 + z3^4"\n')
    v = variety_from_name(str(p))
    assert (v.dim, v.degree) == (2, 4)


def test_bad_degree():
    with pytest.raises(VarietyError, match="not Calabi-Yau"):
        hypersurface_from_string("z0^4 + z1^4 + z2^4 + z3^4 + z4^4")
    with pytest.raises(VarietyError, match="not homogeneous"):
        hypersurface_from_string("z0^5 + z1^4 + z2^5 + z3^5 + z4^5")


def test_ill_formed():
    with pytest.raises(VarietyError, match="ill-formed"):
        hypersurface_from_string("z0^5 + + * z1")
    with pytest.raises(VarietyError, match="unknown symbol"):
        hypersurface_from_string("x^5 + z1^5")
    with pytest.raises(VarietyError, match="unknown variety"):
        variety_from_name("sextic")
    with pytest.raises(VarietyError, match="ill-formed|exponents must be"):
        hypersurface_from_string("z0^(1/2) + z1")


def test_singular_dwork_refused():
    with pytest.raises(VarietyError, match="singular"):
        dwork_quintic(1.0)
    with pytest.raises(VarietyError, match="singular"):
        variety_from_name("dwork:psi=1")
    dwork_quintic(0.9)  # smooth: no error


def test_singular_found_numerically():
    # the conifold quintic typed as a string: found by the critical-point search
    with pytest.raises(VarietyError, match="singular"):
        hypersurface_from_string("z0^5+z1^5+z2^5+z3^5+z4^5-5*z0*z1*z2*z3*z4")
    # a cubic curve with a node at (0:0:1): z2 z0 z1 + z0^3 + z1^3
    with pytest.raises(VarietyError, match="singular"):
        hypersurface_from_string("z0*z1*z2 + z0^3 + z1^3")
    # smooth members pass
    hypersurface_from_string("z0^3 + z1^3 + z2^3 - 0.5*z0*z1*z2")
