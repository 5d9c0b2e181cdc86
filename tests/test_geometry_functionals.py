"""Covariant Hessian, Laplacian and DeTurck field against closed forms and tensoriality."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ntkflow.geometry import (
    Conformal,
    Flat,
    Pullback,
    RoundSphere,
    covariant_hessian,
    deturck_vector,
    laplacian,
    volume,
    volume_form,
)


def ambient_height(r):
    """Last ambient coordinate of the sphere of radius r in the stereographic chart
    |x| = r tan(θ/2): X_{n+1} = r (r² − |x|²)/(r² + |x|²)."""
    return lambda x: r * (r**2 - x @ x) / (r**2 + x @ x)


def test_hessian_of_ambient_coordinate_on_sphere():
    """Restrictions h of linear functions to S^n(r) satisfy ∇∇h = −h g / r², Δh = −n h/r²."""
    for n, r in ((2, 1.0), (3, 1.6)):
        g, h = RoundSphere(r), ambient_height(r)
        xs = 0.7 * jax.random.normal(jax.random.key(n), (3, n))
        hess = eqx.filter_jit(jax.vmap(covariant_hessian, in_axes=(None, None, 0)))(g, h, xs)
        lap = eqx.filter_jit(jax.vmap(laplacian, in_axes=(None, None, 0)))(g, h, xs)
        hs = jax.vmap(h)(xs)
        np.testing.assert_allclose(
            hess, -hs[:, None, None] * jax.vmap(g)(xs) / r**2, rtol=1e-10, atol=1e-12
        )
        np.testing.assert_allclose(lap, -n * hs / r**2, rtol=1e-10, atol=1e-12)


def test_deturck_vector_conformal_closed_form():
    """For g = e^{2u}δ and flat background, W^k = (2 − n) e^{−2u} ∂_k u."""
    u = lambda x: 0.3 * jnp.sin(x[0]) + 0.2 * x[1] * x[2]
    g = Conformal(u)
    x = jnp.array([0.4, -0.7, 1.1])
    expected = (2 - 3) * jnp.exp(-2 * u(x)) * jax.grad(u)(x)
    np.testing.assert_allclose(deturck_vector(g, Flat.identity(3), x), expected, rtol=1e-12)
    # in two dimensions it vanishes identically
    g2 = Conformal(lambda y: 0.3 * jnp.sin(y[0]) * jnp.cos(y[1]))
    np.testing.assert_allclose(deturck_vector(g2, Flat.identity(2), x[:2]), 0.0, atol=1e-14)


def test_deturck_vector_is_a_vector():
    """W(φ*g, φ*g̃)(x) = J(x)^{-1} W(g, g̃)(φ(x)) — a difference of connections is a tensor."""
    chart = lambda x: x + 0.2 * jnp.tanh(jnp.array([[0.5, -0.3], [0.4, 0.6]]) @ x + 0.1)
    g = lambda x: jnp.array([[1 + 0.3 * jnp.sin(x[0]), 0.2 * x[1]], [0.2 * x[1], 1.5]])
    bg = RoundSphere(1.5)
    x = jnp.array([0.3, -0.5])
    lhs = deturck_vector(Pullback(g, chart), Pullback(bg, chart), x)
    rhs = jnp.linalg.solve(jax.jacfwd(chart)(x), deturck_vector(g, bg, chart(x)))
    assert float(jnp.max(jnp.abs(rhs))) > 1e-2
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10)


def test_volume_of_hyperbolic_disc_and_form():
    """Area of the geodesic disc of the Poincaré disc |x| < ρ: 4πρ²/(1 − ρ²) (polar
    quadrature in coordinates), and volume_form = sqrt(det g)."""
    from ntkflow.geometry import Hyperbolic

    rho = 0.6
    nodes, weights = np.polynomial.legendre.leggauss(40)
    s = 0.5 * rho * (nodes + 1)
    ang = 2 * np.pi * np.arange(16) / 16
    pts = jnp.array([[r * np.cos(a), r * np.sin(a)] for r in s for a in ang])
    wts = jnp.array(
        [0.5 * rho * w * r * 2 * np.pi / 16 for r, w in zip(s, weights, strict=True) for _ in ang]
    )
    area = eqx.filter_jit(volume)(Hyperbolic(1.0), pts, wts)
    np.testing.assert_allclose(area, 4 * np.pi * rho**2 / (1 - rho**2), rtol=1e-12)
    x = jnp.array([0.2, 0.1])
    np.testing.assert_allclose(volume_form(Hyperbolic(1.0), x), 4 / (1 - x @ x) ** 2, rtol=1e-14)


def test_derivative_strategies_agree():
    """All four jacfwd/jacrev nestings give the same scalar curvature (round sphere: exact)."""
    import pytest

    from ntkflow.geometry import ricci_scalar
    from ntkflow.geometry.curvature import STRATEGIES

    x = jnp.array([0.3, -0.2, 0.5])
    for s in STRATEGIES:
        np.testing.assert_allclose(ricci_scalar(RoundSphere(1.3), x, s), 6 / 1.3**2, rtol=1e-10)
    with pytest.raises(ValueError, match="strategy"):
        ricci_scalar(RoundSphere(1.0), x, "fwd")
