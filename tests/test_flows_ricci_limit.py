"""The Gaussian-kernel Ricci limit (ntkflow.flows.ricci_limit)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkflow  # noqa: F401  (float64)
from ntkflow.flows.kernel_flow import KernelMetric
from ntkflow.flows.losses import metric_jet
from ntkflow.flows.ricci_limit import (
    GaussianKernel,
    RicciLimitGradient,
    gaussian_jet_matrices,
    ricci_limit,
    round_sphere,
    setup,
)


def test_gaussian_kernel_is_a_normalised_delta_sequence():
    su = setup("torus2", 0.3)
    k = GaussianKernel(0.3, 2 * np.pi, normalised=True)
    x = jnp.array([1.0, 2.0])
    mass = jnp.sum(su.weights * jax.vmap(lambda y: k(x, y))(su.xs))
    np.testing.assert_allclose(mass, 1.0, rtol=1e-10)  # Σ_a w_a G_σ(x, x_a) = 1


def test_jet_matrices_match_autodiff():
    xs = jax.random.uniform(jax.random.key(0), (9, 2)) * 6.0
    k = GaussianKernel(0.7, 2 * np.pi, normalised=True)
    g, d, h = gaussian_jet_matrices(k, xs)
    d_ad = jax.vmap(lambda x: jax.vmap(lambda y: jax.grad(k)(x, y))(xs))(xs)
    h_ad = jax.vmap(lambda x: jax.vmap(lambda y: jax.hessian(k)(x, y))(xs))(xs)
    np.testing.assert_allclose(d, d_ad, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(h, h_ad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("gauge", ["hamilton", "perelman"])
def test_covariant_gradient_on_round_sphere_is_twice_the_metric(gauge):
    """At t = 0 on the unit sphere Ric = g₀ and φ = 0: the gradient is 2 w g₀."""
    su = setup("sphere2", 0.5, points_per_sigma=1.0)
    kern = GaussianKernel(0.5, normalised=True)
    mats = gaussian_jet_matrices(kern, su.xs)
    jets = jax.vmap(lambda x: metric_jet(round_sphere, x))(su.xs)
    grad = RicciLimitGradient(
        *mats, jets, lambda x: jnp.sqrt(jnp.linalg.det(round_sphere(x))), gauge
    )
    m0 = KernelMetric(round_sphere, None, su.xs, jnp.zeros((su.xs.shape[0], 2, 2)))
    e = eqx.filter_jit(grad)(m0, su.xs, su.weights)
    expect = 2 * su.weights[:, None, None] * jax.vmap(round_sphere)(su.xs)
    np.testing.assert_allclose(e, expect, rtol=1e-10, atol=1e-12 * float(jnp.abs(expect).max()))


@pytest.mark.slow
def test_distance_to_exact_round_sphere_flow_decreases_with_sigma():
    """Acceptance: at fixed t the Gaussian-kernel flow approaches g(t) = (1 − 2t) g₀."""
    out = ricci_limit("sphere2", sigmas=(0.5, 0.4, 0.3), t=0.05)
    d = np.array(out["distances"])
    assert np.all(np.isfinite(d)) and np.all(np.diff(d) < 0), d
    assert d[-1] < 0.05
    # generalised Ricci flow error ~ σ² (G_σ * E = E + σ²ΔE/2 + ...)
    np.testing.assert_allclose(d[0] / d[-1], (0.5 / 0.3) ** 2, rtol=0.35)
