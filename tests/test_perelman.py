"""Perelman's F: closed forms, invariances, and monotonicity along the Ricci flow."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import iv

from ntkflow.geometry import (
    Conformal,
    Flat,
    RicciFlowError,
    SpectralTorusMetric,
    perelman_F,
    perelman_W,
    ricci_scalar,
    torus_quadrature,
)
from ntkflow.geometry.perelman_flow import perelman_F_along_flow


def test_F_flat_torus_closed_form():
    """Flat T², φ = a cos x: F = ∫ a² sin²x e^{−a cos x} = 4π² a I₁(a)."""
    a = 0.7
    pts, w = torus_quadrature(2, 32)
    f = eqx.filter_jit(perelman_F)(Flat.identity(2), lambda x: a * jnp.cos(x[0]), pts, w)
    np.testing.assert_allclose(f, 4 * np.pi**2 * a * iv(1, a), rtol=1e-12)


def test_F_gauss_bonnet():
    """φ = 0 on a curved torus: F = ∫R dV = 4πχ(T²) = 0 although R is far from 0."""
    g = Conformal(lambda x: 0.3 * jnp.sin(x[0]) * jnp.cos(x[1]) + 0.2 * jnp.cos(x[1]))
    pts, w = torus_quadrature(2, 32)
    f = eqx.filter_jit(perelman_F)(g, lambda x: 0.0 * x[0], pts, w)
    r = eqx.filter_jit(jax.vmap(lambda x: ricci_scalar(g, x)))(pts)
    assert abs(float(f)) < 1e-10 and float(jnp.max(jnp.abs(r))) > 0.1


def test_W_scaling_invariance():
    """W[c g, f, c τ] = W[g, f, τ] (Perelman §3.1)."""
    g = Conformal(lambda x: 0.2 * jnp.sin(x[0] + x[1]))
    f = lambda x: 0.4 * jnp.cos(x[0]) - 0.1 * jnp.sin(2 * x[1])
    pts, w = torus_quadrature(2, 24)
    w1 = eqx.filter_jit(perelman_W)(g, f, 0.8, pts, w)
    w2 = eqx.filter_jit(perelman_W)(lambda x: 2.5 * g(x), f, 2.0, pts, w)
    np.testing.assert_allclose(w1, w2, rtol=1e-12)
    # flat torus, f = c: W = (c − 2) (4πτ)^{-1} e^{−c} (2π)²
    w3 = eqx.filter_jit(perelman_W)(Flat.identity(2), lambda x: 0.0 * x[0] + 0.3, 0.5, pts, w)
    np.testing.assert_allclose(w3, (0.3 - 2) / (2 * np.pi) * np.exp(-0.3) * 4 * np.pi**2)


def test_F_monotone_along_ricci_flow():
    """F(t) is non-decreasing, its increments match Perelman's formula
    dF/dt = 2∫|Ric + ∇∇φ|² e^{−φ} dV, and ∫e^{−φ}dV is conserved."""

    def g(x):
        off = 0.1 * jnp.cos(x[0] - x[1])
        return jnp.array(
            [[1 + 0.2 * jnp.sin(x[0]) * jnp.cos(x[1]), off], [off, 1.2 + 0.15 * jnp.sin(2 * x[1])]]
        )

    m = SpectralTorusMetric.from_function(g, 2, 16)
    res = perelman_F_along_flow(
        m, lambda x: 0.3 * jnp.sin(x[0]) + 0.2 * jnp.cos(x[1]), 0.5, num_times=21, size=24
    )
    t, f, d = (np.asarray(res[k]) for k in ("t", "F", "dF_dt_formula"))
    assert np.all(np.diff(f) > 0) and np.all(d > 0)
    assert f[-1] - f[0] > 0.5  # a real change, not a flat line
    increments = np.concatenate([[0.0], np.cumsum(0.5 * (d[1:] + d[:-1]) * np.diff(t))])
    # trapezoid rule error ~ h²/12 ∫|F'''| ≈ 1e-4 here
    np.testing.assert_allclose(f - f[0], increments, atol=1e-3 * (f[-1] - f[0]))
    np.testing.assert_allclose(res["mass"], res["mass"][0], rtol=1e-8)


def test_F_along_flow_errors():
    m = SpectralTorusMetric.from_function(lambda x: jnp.eye(2), 2, 4)
    with pytest.raises(RicciFlowError, match="NaN"):
        perelman_F_along_flow(m, lambda x: jnp.log(x[0] - 1.0), 0.1, size=8)
    with pytest.raises(RicciFlowError, match="positive"):
        perelman_F_along_flow(m, lambda x: x[0], -0.1, size=8)
