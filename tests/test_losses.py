"""Loss functionals and their functional derivatives (ntkflow.flows.losses)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkflow  # noqa: F401  (float64)
from ntkflow.flows.losses import (
    EinsteinLoss,
    LossError,
    MetricRegression,
    PerelmanLoss,
    UserLoss,
    functional_derivative,
    jets_at,
    metric_jet,
    perelman_gradient,
    total_loss,
)


def round_sphere(x):
    """Unit 2-sphere, stereographic chart: g = 4/(1+|x|²)² δ (Ric = g, R = 2)."""
    return 4.0 / (1.0 + x @ x) ** 2 * jnp.eye(2)


def wavy_torus(x):
    """A smooth non-flat, non-diagonal metric on T² = [0, 2π)²."""
    u = 0.3 * jnp.sin(x[0]) + 0.2 * jnp.cos(x[0] + 2 * x[1])
    s = 0.25 * jnp.sin(x[1] - x[0])
    return jnp.exp(2 * u) * jnp.array([[1.0, s], [s, 1.2 + 0.1 * jnp.cos(x[0])]])


def torus_grid(size):
    t = jnp.arange(size) * (2 * jnp.pi / size)
    a, b = jnp.meshgrid(t, t, indexing="ij")
    return jnp.stack([a.ravel(), b.ravel()], 1), jnp.full(size * size, (2 * jnp.pi / size) ** 2)


def test_regression_derivative_is_weighted_residual():
    key = jax.random.key(0)
    xs = jax.random.normal(key, (7, 2))
    g = jax.random.normal(jax.random.key(1), (7, 2, 2))
    w = jax.random.uniform(jax.random.key(2), (7,))
    target = lambda x: jnp.array([[1.0 + x[0] ** 2, x[1]], [x[1], 2.0]])
    d = functional_derivative(MetricRegression(target), g, xs, w)
    expect = w[:, None, None] * (g - jax.vmap(target)(xs))
    np.testing.assert_allclose(d, expect, rtol=1e-13, atol=1e-14)


def test_einstein_loss_on_round_sphere():
    xs = jnp.array([[0.0, 0.0], [0.3, -0.7], [1.5, 2.0]])
    w = jnp.ones(3)
    # Ric = g on the unit 2-sphere: |Ric − g|² = 0 and |Ric|²_g = tr(1) = 2 at every point
    assert abs(float(total_loss(EinsteinLoss(lam=1.0), round_sphere, xs, w))) < 1e-12
    np.testing.assert_allclose(total_loss(EinsteinLoss(lam=0.0), round_sphere, xs, w), 6.0, 1e-12)


def test_perelman_F_with_zero_dilaton_is_gauss_bonnet_zero_on_torus():
    # F[g, 0] = ∫ R dV = 4π χ(T²) = 0 for any metric on the torus (Gauss–Bonnet)
    xs, w = torus_grid(16)
    zero = lambda x: 0.0 * x[0]
    f = -total_loss(PerelmanLoss(dilaton=zero), wavy_torus, xs, w)
    r_abs = total_loss(EinsteinLoss(), wavy_torus, xs, w)  # nonzero: curvature is not trivial
    assert r_abs > 0.1
    assert abs(float(f)) < 1e-9


def test_perelman_closed_form_gradient_matches_autodiff():
    """With e^{−φ}dV = m dⁿx fixed: d/dε L[g + εh] = ∫ (R^ij + ∇^i∇^jφ) h_ij m dⁿx
    (L = −F). The left side is autodiff of the quadrature, the right the closed form."""
    xs, w = torus_grid(24)
    m = lambda x: 1.0 + 0.3 * jnp.cos(x[0] - x[1])

    def h(x):
        return jnp.array([[jnp.cos(x[1]), 0.5 * jnp.sin(x[0])], [0.5 * jnp.sin(x[0]), 0.2]])

    loss = PerelmanLoss(measure=m)

    def lval(eps):
        return total_loss(loss, lambda x: wavy_torus(x) + eps * h(x), xs, w)

    lhs = jax.jit(lambda: jax.jvp(lval, (0.0,), (1.0,))[1])()

    def integrand(x):
        e = perelman_gradient(wavy_torus, x, m)  # R_ij + ∇_i∇_jφ
        gi = jnp.linalg.inv(wavy_torus(x))
        return jnp.einsum("ik,jl,kl,ij->", gi, gi, e, h(x)) * m(x)

    rhs = w @ jax.jit(jax.vmap(integrand))(xs)
    assert abs(float(rhs)) > 1e-2
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9)


def test_jet_gradients_satisfy_chain_rule():
    xs, w = torus_grid(6)
    loss = EinsteinLoss(lam=0.3, volume_weighted=True)
    g, dg, d2g = jets_at(wavy_torus, xs, 2)
    a, b, c = functional_derivative(loss, g, xs, w, dg, d2g)
    h = lambda x: jnp.array([[jnp.sin(x[0]), x[1] * 0.1], [x[1] * 0.1, jnp.cos(x[1])]])
    hj = jax.jit(jax.vmap(lambda x: metric_jet(h, x)))(xs)
    pred = jnp.sum(a * hj[0]) + jnp.sum(b * hj[1]) + jnp.sum(c * hj[2])
    lfun = lambda e: total_loss(loss, lambda x: wavy_torus(x) + e * h(x), xs, w)
    act = jax.jit(lambda: jax.jvp(lfun, (0.0,), (1.0,))[1])()
    np.testing.assert_allclose(pred, act, rtol=1e-10)


def test_user_loss_and_bad_input():
    xs = jnp.array([[0.1, 0.2], [0.3, 0.4]])
    w = jnp.ones(2)
    g = jnp.stack([jnp.eye(2), 2 * jnp.eye(2)])
    logdet = UserLoss(lambda x, g: jnp.linalg.slogdet(g)[1])
    # d log det g / dg = g^{-T}
    np.testing.assert_allclose(functional_derivative(logdet, g, xs, w), jnp.linalg.inv(g))
    with pytest.raises(LossError, match="point 1"):
        bad = UserLoss(lambda x, g: jnp.log(g[0, 0] - 1.5))  # NaN where g_00 < 1.5
        functional_derivative(bad, g[::-1], xs, w)
    with pytest.raises(LossError, match="weights"):
        functional_derivative(logdet, g, xs, jnp.ones(3))
    with pytest.raises(LossError, match="exactly one"):
        PerelmanLoss()
