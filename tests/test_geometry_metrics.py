"""Closed-form and spectral metrics against exact curvature, identities and invariance."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkflow.geometry import (
    Conformal,
    Flat,
    Hyperbolic,
    MetricError,
    Product,
    Pullback,
    RoundSphere,
    SpectralTorusMetric,
    WarpedProduct,
    check_metric,
    ricci_scalar,
    ricci_tensor,
    riemann,
    riemann_lower,
)


def random_points(key, n, count=3, scale=0.6):
    return scale * jax.random.normal(key, (count, n))


def at_points(f, metric, xs):
    """``f(metric, x)`` for each row of ``xs``, jitted and vmapped (one compilation)."""
    return eqx.filter_jit(jax.vmap(f, in_axes=(None, 0)))(metric, xs)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_round_sphere_module(n):
    r = 1.3
    g = RoundSphere(r)
    xs = random_points(jax.random.key(n), n)
    gs = jax.vmap(g)(xs)
    np.testing.assert_allclose(
        at_points(ricci_tensor, g, xs), (n - 1) / r**2 * gs, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(at_points(ricci_scalar, g, xs), n * (n - 1) / r**2, rtol=1e-10)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_sphere_as_warped_product(n):
    """dθ² + r² sin²(θ/r) g_{S^{n-1}(1)} is the round sphere of radius r (polar chart)."""
    r = 0.8
    g = WarpedProduct(Flat.identity(1), RoundSphere(1.0), lambda b: r * jnp.sin(b[0] / r), n_base=1)
    x = jnp.concatenate([jnp.array([0.9]), jnp.linspace(-0.3, 0.5, n - 1)])
    np.testing.assert_allclose(ricci_scalar(g, x), n * (n - 1) / r**2, rtol=1e-10)
    np.testing.assert_allclose(ricci_tensor(g, x), (n - 1) / r**2 * g(x), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("r", [1.0, 2.5])
def test_hyperbolic(n, r):
    g = Hyperbolic(r)
    xs = random_points(jax.random.key(10 + n), n, scale=0.2 * r)
    gs = jax.vmap(g)(xs)
    np.testing.assert_allclose(at_points(ricci_scalar, g, xs), -n * (n - 1) / r**2, rtol=1e-10)
    np.testing.assert_allclose(
        at_points(ricci_tensor, g, xs), -(n - 1) / r**2 * gs, rtol=1e-9, atol=1e-12
    )


def test_product_of_spheres():
    r1, r2 = 0.7, 1.9
    g = Product(RoundSphere(r1), RoundSphere(r2), n1=2)
    x = jnp.array([0.2, -0.4, 0.7, 0.1])
    np.testing.assert_allclose(ricci_scalar(g, x), 2 / r1**2 + 2 / r2**2, rtol=1e-10)
    ric = ricci_tensor(g, x)
    np.testing.assert_allclose(ric[:2, 2:], 0.0, atol=1e-12)
    np.testing.assert_allclose(ric[2:, 2:], g(x)[2:, 2:] / r2**2, rtol=1e-10, atol=1e-12)


def test_conformal_surface():
    """In 2-d, g = e^{2u}δ has R = 2K = −2 e^{−2u} Δ_flat u (Gauss's formula)."""
    u = lambda x: 0.3 * jnp.sin(x[0]) * jnp.cos(x[1])
    lap_u = lambda x: -0.6 * jnp.sin(x[0]) * jnp.cos(x[1])
    g = Conformal(u)
    xs = random_points(jax.random.key(3), 2, scale=2.0)
    expected = jax.vmap(lambda x: -2 * jnp.exp(-2 * u(x)) * lap_u(x))(xs)
    np.testing.assert_allclose(at_points(ricci_scalar, g, xs), expected, rtol=1e-10, atol=1e-13)


def random_chart(key, n):
    """A smooth diffeomorphism x + 0.25 tanh(Ax + b) with |A| ≤ 1 (Lipschitz part < 1)."""
    k1, k2 = jax.random.split(key)
    a = jax.random.normal(k1, (n, n))
    a = a / jnp.linalg.norm(a, 2)
    b = jax.random.normal(k2, (n,))
    return lambda x: x + 0.25 * jnp.tanh(a @ x + b)


def random_metric(key, n):
    """A generic metric with no symmetry: I + L(x)L(x)ᵀ, L from random trigonometric maps."""
    k1, k2, k3 = jax.random.split(key, 3)
    a = jax.random.normal(k1, (n, n, n))
    b = jax.random.normal(k2, (n, n))
    c = jax.random.normal(k3, (n, n, n))

    def g(x):
        lmat = jnp.sin(a @ x + b) + 0.5 * jnp.cos(c @ x)
        return jnp.eye(n) + lmat @ lmat.T

    return g


@pytest.mark.parametrize("n", [2, 3, 4])
def test_pulled_back_flat_metric_is_flat(n):
    key = jax.random.key(100 + n)
    g = Pullback(Flat.identity(n), random_chart(key, n))
    xs = random_points(jax.random.fold_in(key, 1), n)
    assert float(jnp.max(jnp.abs(at_points(riemann, g, xs)))) < 1e-10
    # ...while the metric itself is far from constant (so the check has teeth)
    assert float(jnp.min(jnp.max(jnp.abs(jax.vmap(g)(xs) - jnp.eye(n)), axis=(1, 2)))) > 1e-2


@pytest.mark.parametrize("n", [3, 4])
def test_riemann_symmetries_and_bianchi(n):
    key = jax.random.key(200 + n)
    g = random_metric(key, n)
    xs = random_points(jax.random.fold_in(key, 1), n, count=2)
    ric = at_points(ricci_tensor, g, xs)
    np.testing.assert_allclose(ric, jnp.swapaxes(ric, 1, 2), atol=1e-11 * float(jnp.abs(ric).max()))
    for rl in at_points(riemann_lower, g, xs):
        scale = float(jnp.max(jnp.abs(rl)))
        assert scale > 1e-2
        tol = 1e-11 * scale
        np.testing.assert_allclose(rl, -jnp.swapaxes(rl, 0, 1), atol=tol)  # R_abcd = −R_bacd
        np.testing.assert_allclose(rl, -jnp.swapaxes(rl, 2, 3), atol=tol)  # R_abcd = −R_abdc
        np.testing.assert_allclose(rl, jnp.transpose(rl, (2, 3, 0, 1)), atol=tol)  # pair sym.
        bianchi = rl + jnp.transpose(rl, (0, 2, 3, 1)) + jnp.transpose(rl, (0, 3, 1, 2))
        np.testing.assert_allclose(bianchi, 0.0, atol=tol)  # R_abcd + R_acdb + R_adbc = 0


@pytest.mark.parametrize("n", [2, 3])
def test_scalar_curvature_invariant_under_coordinate_change(n):
    key = jax.random.key(300 + n)
    g = random_metric(key, n)
    chart = random_chart(jax.random.fold_in(key, 1), n)
    pulled = Pullback(g, chart)
    xs = random_points(jax.random.fold_in(key, 2), n, count=2)
    r_here = at_points(ricci_scalar, pulled, xs)
    r_there = at_points(ricci_scalar, g, jax.vmap(chart)(xs))
    assert float(jnp.min(jnp.abs(r_there))) > 1e-3
    np.testing.assert_allclose(r_here, r_there, rtol=1e-9)


def test_spectral_metric_reproduces_trig_polynomial():
    """A trigonometric polynomial sampled on a fine enough grid is reproduced exactly at any
    point, with its curvature."""

    def g(x):
        a = 1.0 + 0.2 * jnp.cos(x[0]) * jnp.sin(2 * x[1]) + 0.1 * jnp.cos(x[2] - x[0])
        off = 0.15 * jnp.sin(x[0] + x[1]) + 0.05 * jnp.cos(3 * x[2])
        return jnp.diag(jnp.array([a, 2.0 - 0.3 * jnp.sin(x[1]), 1.5])) + off * (
            jnp.ones((3, 3)) - jnp.eye(3)
        )

    m = SpectralTorusMetric.from_function(g, 3, 8)
    xs = jax.random.uniform(jax.random.key(7), (3, 3), maxval=2 * np.pi)
    np.testing.assert_allclose(jax.vmap(m)(xs), jax.vmap(g)(xs), atol=1e-13)
    np.testing.assert_allclose(
        at_points(ricci_scalar, m, xs), at_points(ricci_scalar, g, xs), rtol=1e-10
    )
    # periodicity
    x = jnp.array([0.4, 1.1, 5.0])
    np.testing.assert_allclose(m(x + 2 * np.pi), m(x), atol=1e-12)


def test_spectral_metric_smooth_function_converges():
    g = lambda x: jnp.exp(0.3 * jnp.sin(x[0]) * jnp.cos(x[1])) * jnp.eye(2)
    x = jnp.array([0.37, 2.9])
    errs = [
        float(
            jnp.max(jnp.abs(eqx.filter_jit(SpectralTorusMetric.from_function(g, 2, s))(x) - g(x)))
        )
        for s in (6, 12, 24)
    ]
    assert errs[1] < 1e-3 * errs[0] + 1e-14 and errs[2] < 1e-12


def test_bad_inputs():
    pts = jnp.array([[0.1, 0.2], [0.3, 0.4]])
    with pytest.raises(MetricError, match="not symmetric at point 0"):
        check_metric(lambda x: jnp.array([[1.0, 0.5], [0.0, 1.0]]), pts)
    with pytest.raises(MetricError, match="not positive-definite at point 1"):
        check_metric(lambda x: jnp.diag(jnp.array([1.0, 0.25 - x[0]])), pts)
    with pytest.raises(MetricError, match="NaN"):
        check_metric(lambda x: jnp.eye(2) * jnp.log(x[0] - 0.2), pts)
    with pytest.raises(MetricError, match="shape"):
        check_metric(RoundSphere(1.0), jnp.ones(3))
    with pytest.raises(MetricError, match="one point"):
        ricci_scalar(RoundSphere(1.0), jnp.ones((2, 2)))
    m = SpectralTorusMetric.from_function(lambda x: jnp.eye(2), 2, 4)
    with pytest.raises(MetricError, match="T\\^2"):
        ricci_scalar(m, jnp.ones(3))
    with pytest.raises(MetricError, match="cannot be split"):
        Product(Flat.identity(2), Flat.identity(2), n1=2)(jnp.ones(2))
    with pytest.raises(MetricError, match="expected samples"):
        SpectralTorusMetric.from_grid_values(jnp.ones((4, 4, 3, 3)))
