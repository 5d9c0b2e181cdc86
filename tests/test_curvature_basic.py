"""Curvature of round spheres in stereographic coordinates against the closed form
Ric = (n-1)/r^2 g, R = n(n-1)/r^2; the 2-jet Ricci formula (batched) against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkflow.geometry import LeftInvariantS3Metric, MetricError, ricci_scalar, ricci_tensor
from ntkflow.geometry.curvature import metric_jet, ricci_from_jet, riemann
from ntkflow.geometry.ricci_flow_sphere import s3_coframe, s3_frame_ricci


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


def batched_jets(metric, xs):
    """The autodiff 2-jet at every point of ``xs`` (any leading shape), points in front."""
    flat = jax.vmap(lambda x: metric_jet(metric, x))(xs.reshape(-1, xs.shape[-1]))
    return tuple(j.reshape(xs.shape[:-1] + j.shape[1:]) for j in flat)


@pytest.mark.parametrize("n", [2, 3])
def test_ricci_from_jet_round_sphere_on_a_grid_of_points(n):
    """Ric = (n−1)/r² g, with two leading (grid) axes."""
    r = 1.3
    xs = 0.7 * jax.random.normal(jax.random.key(n), (2, 3, n))
    g, dg, d2g = batched_jets(stereographic_sphere(r), xs)
    np.testing.assert_allclose(ricci_from_jet(g, dg, d2g), (n - 1) / r**2 * g, atol=1e-12)


def test_ricci_from_jet_conformal_2d():
    """g = e^{2u} δ on R²: Ric = K g with K = −e^{−2u} Δu; u = 0.3 cos x + 0.2 sin(x + y),
    Δu = −0.3 cos x − 0.4 sin(x + y) by hand."""
    u = lambda x: 0.3 * jnp.cos(x[..., 0]) + 0.2 * jnp.sin(x[..., 0] + x[..., 1])
    lap_u = lambda x: -0.3 * jnp.cos(x[..., 0]) - 0.4 * jnp.sin(x[..., 0] + x[..., 1])
    xs = jax.random.uniform(jax.random.key(0), (5, 2), minval=-3.0, maxval=3.0)
    g, dg, d2g = batched_jets(lambda x: jnp.exp(2 * u(x)) * jnp.eye(2), xs)
    curv = -jnp.exp(-2 * u(xs)) * lap_u(xs)
    np.testing.assert_allclose(ricci_from_jet(g, dg, d2g), curv[:, None, None] * g, atol=1e-12)


def test_ricci_from_jet_left_invariant_s3():
    """A non-conformal metric: A σ¹² + B σ²² + C σ³² in Euler angles has frame Ricci
    diag((A² − (B − C)²)/(2BC), cyclic) (Milnor)."""
    abc = jnp.array([0.7, 1.3, 2.1])
    xs = jnp.array([[0.9, 0.4, 1.3], [2.1, -1.0, 0.2], [1.4, 2.5, -0.7]])
    ric = ricci_from_jet(*batched_jets(LeftInvariantS3Metric(abc), xs))
    for x, r in zip(xs, ric, strict=True):
        einv = jnp.linalg.inv(s3_coframe(x))
        np.testing.assert_allclose(einv.T @ r @ einv, jnp.diag(s3_frame_ricci(abc)), atol=1e-12)


def test_ricci_tensor_is_the_trace_of_riemann():
    """The direct Ricci contraction against the trace R^a_bad of the full Riemann tensor, n = 4
    (the LU inverse; n ≤ 3 use the adjugate)."""

    def g(x):
        a = jnp.sin(x) + 0.3 * x[::-1]
        return (1 + 0.2 * x @ x) * jnp.eye(4) + 0.3 * jnp.outer(a, a)

    x = jnp.array([0.3, -0.5, 0.8, 0.1])
    np.testing.assert_allclose(
        ricci_tensor(g, x), jnp.einsum("abad->bd", riemann(g, x)), atol=1e-12
    )
