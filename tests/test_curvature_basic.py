"""Curvature of round spheres in stereographic coordinates against the closed form
Ric = (n-1)/r^2 g, R = n(n-1)/r^2."""

import jax.numpy as jnp
import pytest

from ntkflow.geometry import MetricError, ricci_scalar, ricci_tensor


def stereographic_sphere(r):
    def g(x):
        return (4 * r**4 / (r**2 + x @ x) ** 2) * jnp.eye(x.shape[0])

    return g


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("r", [0.7, 2.0])
def test_round_sphere(n, r):
    g = stereographic_sphere(r)
    x = jnp.linspace(-0.4, 0.9, n)
    assert jnp.allclose(ricci_tensor(g, x), (n - 1) / r**2 * g(x), rtol=1e-10, atol=1e-12)
    assert jnp.isclose(ricci_scalar(g, x), n * (n - 1) / r**2, rtol=1e-10)


def test_wrong_point_shape():
    with pytest.raises(MetricError, match="one point"):
        ricci_scalar(stereographic_sphere(1.0), jnp.ones((3, 2)))


def test_wrong_metric_shape():
    with pytest.raises(MetricError, match="must be a"):
        ricci_scalar(lambda x: jnp.eye(3), jnp.ones(2))
