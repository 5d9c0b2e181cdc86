"""Reference Ricci-flow solver against exact solutions, invariants and known asymptotics."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkflow.geometry import (
    AxisymmetricS2Metric,
    Conformal,
    Flat,
    LeftInvariantS3Metric,
    Pullback,
    RicciFlowError,
    RoundSphere,
    SpectralTorusMetric,
    ricci_flow,
    ricci_flow_round_sphere,
    ricci_scalar,
    ricci_tensor,
    singular_time_round_sphere,
)
from ntkflow.geometry.ricci_flow_sphere import s3_frame_ricci


@pytest.mark.parametrize("r0", [1.0, 1.7])
def test_round_s2_shrinks_exactly(r0):
    t_sing = singular_time_round_sphere(2, r0)
    t = 0.9 * t_sing
    sol = ricci_flow(AxisymmetricS2Metric.round(r0), t, num_saves=3, size=16)
    r_exact = float(ricci_flow_round_sphere(2, r0, t))
    assert r_exact**2 == pytest.approx(r0**2 - 2 * t, rel=1e-14)
    r_num = jnp.exp(sol.state(t))  # u = log r
    assert float(jnp.max(jnp.abs(r_num / r_exact - 1))) < 1e-6
    curv = sol.scalar_curvature(t)
    assert float(jnp.max(jnp.abs(curv * r_exact**2 / 2 - 1))) < 1e-6
    # the flowed metric in the unit stereographic chart is r(t)² times the unit sphere
    x = jnp.array([0.3, -0.8])
    np.testing.assert_allclose(sol.metric(t)(x), r_exact**2 * RoundSphere(1.0)(x), rtol=1e-6)


@pytest.mark.parametrize("r0", [1.0, 0.6])
def test_round_s3_shrinks_exactly(r0):
    t = 0.9 * singular_time_round_sphere(3, r0)
    sol = ricci_flow(LeftInvariantS3Metric.round(r0), t, num_saves=4)
    r_exact = float(ricci_flow_round_sphere(3, r0, t))
    assert r_exact**2 == pytest.approx(r0**2 - 4 * t, rel=1e-14)
    assert abs(float(sol.scalar_curvature(t)[0]) * r_exact**2 / 6 - 1) < 1e-6
    np.testing.assert_allclose(sol.state(t), r_exact**2 / 4, rtol=1e-6)


def test_s3_frame_ricci_matches_autodiff():
    """The ODE right-hand side is −2 Ric: check the frame formula against autodiff Ricci of
    the chart metric (independent of the formula)."""
    from ntkflow.geometry.ricci_flow_sphere import s3_coframe

    abc = jnp.array([0.7, 1.3, 2.1])
    g = LeftInvariantS3Metric(abc)
    xs = jnp.array([[0.9, 0.4, 1.3], [2.1, -1.0, 0.2]])
    ric = eqx.filter_jit(jax.vmap(lambda x: ricci_tensor(g, x)))(xs)
    for x, r in zip(xs, ric, strict=True):
        einv = jnp.linalg.inv(s3_coframe(x))
        np.testing.assert_allclose(einv.T @ r @ einv, jnp.diag(s3_frame_ricci(abc)), atol=1e-12)


def test_berger_sphere_becomes_round():
    """Isenberg–Jackson: a left-invariant metric on S³ becomes round near the singularity."""
    m = LeftInvariantS3Metric(jnp.array([0.2, 0.25, 0.35]))
    sol = ricci_flow(m, 0.14, num_saves=8)
    aniso = [float(jnp.max(s) / jnp.min(s) - 1) for s in sol.states]
    assert aniso[-1] < 0.2 * aniso[0]
    assert all(b <= a + 1e-12 for a, b in zip(aniso, aniso[1:], strict=False))


def torus_metric(key, size=12, eps=0.1):
    """A random smooth perturbation of δ on T² (non-conformal)."""
    k1, k2, k3 = jax.random.split(key, 3)
    c = jax.random.normal(k1, (3, 4))
    p = jax.random.uniform(k2, (3, 4), maxval=2 * np.pi)
    kk = jax.random.randint(k3, (3, 4, 2), -2, 3)

    def g(x):
        waves = jnp.sum(c * jnp.cos(jnp.einsum("cmi,i->cm", kk, x) + p), axis=1)
        return jnp.eye(2) + eps * jnp.array([[waves[0], waves[1]], [waves[1], waves[2]]])

    return SpectralTorusMetric.from_function(g, 2, size)


def test_flat_torus_stays_flat():
    """A flat metric in curvilinear periodic coordinates keeps R = 0 (to round-off) while
    the DeTurck flow moves the metric itself."""
    chart = lambda x: x + 0.2 * jnp.stack([jnp.sin(x[1]), jnp.sin(x[0])])
    m = SpectralTorusMetric.from_function(Pullback(Flat.identity(2), chart), 2, 24)
    sol = ricci_flow(m, 0.3, size=24, num_saves=3)
    for t in sol.ts:
        assert float(jnp.max(jnp.abs(sol.scalar_curvature(t)))) < 1e-9
    assert float(jnp.max(jnp.abs(sol.states[-1] - sol.states[0]))) > 1e-2


def test_perturbed_torus_converges_to_flat():
    """On T² the constant-curvature limit is flat (Gauss–Bonnet); R → 0 uniformly, and the
    total curvature ∫R dV stays 0 along the way."""
    sol = ricci_flow(torus_metric(jax.random.key(0)), 1.5, size=24, num_saves=4)
    spreads = [float(jnp.ptp(sol.scalar_curvature(t))) for t in sol.ts]
    assert spreads[0] > 0.3
    assert spreads[-1] < 0.1 * spreads[0]
    assert all(b < a for a, b in zip(spreads, spreads[1:], strict=False))
    g = sol.metric_at(1.5, sol.grid)
    total = jnp.sum(sol.scalar_curvature(1.5).reshape(-1) * jnp.sqrt(jnp.linalg.det(g)))
    assert abs(float(total)) * (2 * np.pi / 24) ** 2 < 1e-8


def test_conformal_torus_matches_autodiff_curvature():
    """The flowed spectral metric, evaluated off-grid, has autodiff curvature equal to the
    solver's grid curvature (interpolation consistency); DeTurck = Hamilton here."""
    u = lambda x: 0.1 * jnp.sin(x[0]) * jnp.cos(2 * x[1])
    sol = ricci_flow(
        SpectralTorusMetric.from_function(Conformal(u), 2, 16), 0.2, size=32, num_saves=2
    )
    m = sol.metric(0.2)
    pts = sol.grid[::61]
    r_auto = eqx.filter_jit(jax.vmap(lambda x: ricci_scalar(m, x)))(pts)
    np.testing.assert_allclose(r_auto, sol.scalar_curvature(0.2).reshape(-1)[::61], atol=1e-8)
    # still conformally flat: g_12 = 0, g_11 = g_22
    g = sol.metric_at(0.2, pts)
    assert float(jnp.max(jnp.abs(g[:, 0, 1]))) < 1e-10
    assert float(jnp.max(jnp.abs(g[:, 0, 0] - g[:, 1, 1]))) < 1e-10


def test_normalised_s2_flow_rounds_out():
    """Hamilton/Chow: the normalised flow on S² converges to constant curvature, area kept."""
    m = AxisymmetricS2Metric(jnp.array([0.0, 0.15, -0.2, 0.1]))
    sol = ricci_flow(m, 1.5, normalised=True, size=24, num_saves=4)
    spreads = [float(jnp.ptp(sol.scalar_curvature(t))) for t in sol.ts]
    assert spreads[0] > 0.5 and spreads[-1] < 1e-2 * spreads[0]
    from ntkflow.geometry.ricci_flow_sphere import s2_area

    areas = [float(s2_area(sol.ops, s)) for s in sol.states]
    np.testing.assert_allclose(areas, areas[0], rtol=1e-8)
    # Gauss–Bonnet fixes the mean curvature: R → 8π/Area
    np.testing.assert_allclose(sol.scalar_curvature(1.5), 8 * np.pi / areas[0], rtol=1e-2)


def test_t3_flow_runs_and_smooths():
    m = SpectralTorusMetric.from_function(
        lambda x: (
            jnp.eye(3) * (1 + 0.1 * jnp.sin(x[0]) * jnp.cos(x[2]))
            + 0.05 * jnp.sin(x[1]) * (jnp.ones((3, 3)) - jnp.eye(3))
        ),
        3,
        8,
    )
    sol = ricci_flow(m, 0.5, size=12, num_saves=3)
    spreads = [float(jnp.ptp(sol.scalar_curvature(t))) for t in sol.ts]
    assert spreads[-1] < 0.5 * spreads[0]


def test_errors():
    with pytest.raises(RicciFlowError, match="singular time"):
        ricci_flow(AxisymmetricS2Metric.round(1.0), 0.6)
    with pytest.raises(RicciFlowError, match="singular time"):
        ricci_flow(LeftInvariantS3Metric.round(1.0), 0.25)
    with pytest.raises(RicciFlowError, match="singular time"):
        ricci_flow_round_sphere(3, 1.0, 0.3)
    with pytest.raises(RicciFlowError, match="NaN"):
        ricci_flow(LeftInvariantS3Metric(jnp.array([1.0, jnp.nan, 1.0])), 0.1)
    bad = SpectralTorusMetric.from_function(lambda x: jnp.diag(jnp.array([1.0, -1.0])), 2, 4)
    with pytest.raises(RicciFlowError, match="positive-definite"):
        ricci_flow(bad, 0.1, size=8)
    with pytest.raises(RicciFlowError, match="SpectralTorusMetric"):
        ricci_flow(RoundSphere(1.0), 0.1)
    with pytest.raises(RicciFlowError, match="positive"):
        ricci_flow(LeftInvariantS3Metric.round(1.0), -1.0)
