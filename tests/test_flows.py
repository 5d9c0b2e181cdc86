"""Kernel flow, parameter flow, flow check and linearised flow (ntkflow.flows)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkflow  # noqa: F401  (float64)
from ntkflow.flows.kernel_flow import (
    FlowError,
    SeparableKernel,
    gram_matrix,
    kernel_flow,
    kernel_vector_product,
    regression_closed_form,
)
from ntkflow.flows.linearised import linearised_flow
from ntkflow.flows.losses import EinsteinLoss, MetricRegression, UserLoss
from ntkflow.flows.parameter_flow import ParameterFlowError, flow_check, parameter_flow
from ntkflow.kernels import EmpiricalKernel, GaussianKernel


class TinyMetric(eqx.Module):
    """Stand-in network metric: g = I + 0.3 S(MLP(x)), S the symmetric 2×2 from 3 outputs."""

    mlp: eqx.nn.MLP

    def __init__(self, key, width=8):
        self.mlp = eqx.nn.MLP(2, 3, width, 2, activation=jnp.tanh, key=key)

    def __call__(self, x):
        v = self.mlp(x)
        return jnp.eye(2) + 0.3 * jnp.array([[v[0], v[1]], [v[1], v[2]]])


def target(x):
    return jnp.array([[2 + jnp.sin(x[0]), 0.3 * x[1]], [0.3 * x[1], 1.5]])


def gauss(s2):
    return SeparableKernel(GaussianKernel(s2**0.5), 2)


def points(n, seed=0):
    xs = jax.random.uniform(jax.random.key(seed), (n, 2))
    return xs, jnp.full(n, 1.0 / n)


def test_kernel_vector_product_matches_dense_gram():
    xs, _ = points(13)
    m = TinyMetric(jax.random.key(1), width=4)
    k = EmpiricalKernel(m)  # a general (mixing) kernel
    alpha = jax.random.normal(jax.random.key(2), (13, 2, 2))
    dense = (gram_matrix(k, xs, 2) @ alpha.reshape(-1)).reshape(13, 2, 2)
    direct = jnp.einsum(
        "abijkl,bkl->aij", jax.vmap(lambda x: jax.vmap(lambda y: k(x, y))(xs))(xs), alpha
    )
    mf = kernel_vector_product(k, xs, xs, alpha, chunk=5)  # chunks that do not divide 13
    np.testing.assert_allclose(dense, direct, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mf, direct, rtol=1e-12, atol=1e-12)


def test_kernel_flow_ode_matches_closed_form_and_interpolates():
    xs, w = points(25)
    loss, k, ref = MetricRegression(target), gauss(0.1), (lambda x: jnp.eye(2))
    ts = np.array([0.0, 1.0, 4.0, 20.0])
    exact = regression_closed_form(loss, ref, k, xs, w, ts)
    ode = kernel_flow(loss, ref, k, xs, w, 20.0, ts=ts, rtol=1e-10, atol=1e-12)
    dense = kernel_flow(loss, ref, k, xs, w, 20.0, ts=ts, dense=True, rtol=1e-10, atol=1e-12)
    scale = np.abs(exact.alphas).max()
    assert np.abs(ode.alphas - exact.alphas).max() < 1e-7 * scale
    assert np.abs(dense.alphas - exact.alphas).max() < 1e-7 * scale
    # independent fact: a strictly PD kernel interpolates the target as t → ∞
    far = regression_closed_form(loss, ref, k, xs, w, [1e9])
    np.testing.assert_allclose(far.metric.values(xs), jax.vmap(target)(xs), atol=1e-6)


def test_kernel_not_psd_is_rejected():
    xs, w = points(6)
    neg = SeparableKernel(lambda x, y: -jnp.exp(-jnp.sum((x - y) ** 2)), 2)
    loss = MetricRegression(target)
    with pytest.raises(FlowError, match="not positive semi-definite"):
        kernel_flow(loss, lambda x: jnp.eye(2), neg, xs, w, 1.0)
    with pytest.raises(FlowError, match="not positive semi-definite"):
        kernel_flow(loss, lambda x: jnp.eye(2), neg, xs, w, 1.0, dense=True)


def test_non_pd_metric_mid_flow_stops_and_keeps_last_good_state():
    """g = I pulled towards −I leaves the PD cone: the flow stops there, keeping the last good
    state (PD) and its time, which is the last time the callback was handed."""
    xs, w = points(8)
    loss = MetricRegression(lambda x: -jnp.eye(2))  # pulls g = I through 0 to −I
    seen = []
    ts = np.linspace(0.0, 30.0, 61)
    with pytest.raises(FlowError, match="not positive-definite") as err:
        kernel_flow(
            loss,
            lambda x: jnp.eye(2),
            gauss(0.5),
            xs,
            w,
            30.0,
            ts=ts,
            callback=lambda t, m: seen.append(t),
        )
    good = err.value.last_good.values(xs)
    assert np.linalg.eigvalsh(np.asarray(good)).min() > 0
    assert err.value.last_time == seen[-1] and 0 < err.value.last_time < 30


def test_nan_loss_stops_flow_at_the_start():
    xs, w = points(6)
    # log(g_00 − 1.2) is NaN until g_00 > 1.2: with g = I the first gradient is already bad
    loss = UserLoss(lambda x, g: (g[0, 0] - 2.0) ** 2 + jnp.log(g[1, 1] - 1.2))
    with pytest.raises(FlowError, match="NaN") as err:
        kernel_flow(loss, lambda x: jnp.eye(2), gauss(0.5), xs, w, 1.0)
    assert err.value.last_time == 0.0
    assert np.all(np.asarray(err.value.last_good.alpha) == 0)


@pytest.mark.parametrize("loss", [MetricRegression(target), EinsteinLoss(lam=0.5)])
def test_flow_check_residual_is_second_order(loss):
    """eq. 1.2 predicts one SGD step of a finite network: residual/η² constant."""
    xs, w = points(6)
    m = TinyMetric(jax.random.key(3))
    out = flow_check(m, loss, xs, w, [1e-2, 5e-3, 2.5e-3], eval_xs=points(5, seed=9)[0])
    r = np.array(out["residuals"])
    assert np.all(r > 0)
    np.testing.assert_allclose(r[:-1] / r[1:], 4.0, rtol=0.02)  # O(η²)
    assert out["relative_residuals"][-1] < 1e-3


def test_parameter_flow_trains_and_tracks_ntk():
    xs, w = points(8)
    m = TinyMetric(jax.random.key(4))
    res = parameter_flow(m, MetricRegression(target), xs, w, 40, "adam", 2e-2, ntk_every=20)
    assert res.losses[-1] < 0.2 * res.losses[0]
    assert res.ntk_steps == [0, 20, 40] and res.ntk_changes[0] == 0.0
    assert res.ntk_changes[-1] > 0.0  # finite width: the kernel moves
    assert np.all(res.spectra[0] > -1e-10 * res.spectra[0].max())  # Gram matrix: PSD
    lb = parameter_flow(m, MetricRegression(target), xs, w, 8, "lbfgs", 1.0)
    assert lb.losses[-1] < 0.2 * lb.losses[0]
    with pytest.raises(ParameterFlowError, match="NaN"):
        parameter_flow(m, UserLoss(lambda x, g: jnp.log(g[0, 0] - 5.0)), xs, w, 2, "sgd", 1e-3)


def test_linearised_gradient_flow_equals_empirical_kernel_flow():
    """Acceptance: linearised training = kernel flow with the NTK at θ0, whole trajectory."""
    xs, w = points(8)
    ev = points(5, seed=7)[0]  # off the collocation points too
    m = TinyMetric(jax.random.key(5))
    loss, ts = MetricRegression(target), np.linspace(0.0, 3.0, 4)
    _, lins = linearised_flow(m, loss, xs, w, ts)
    kf = kernel_flow(
        loss, m, EmpiricalKernel(m), xs, w, 3.0, ts=ts, dense=True, rtol=1e-10, atol=1e-12
    )
    moved = float(jnp.abs(jax.vmap(lins[-1])(ev) - jax.vmap(m)(ev)).max())
    assert moved > 0.05
    for i in range(len(ts)):
        a = jax.vmap(lins[i])(ev)
        b = kf.metric_at_time(i).values(ev)
        assert float(jnp.abs(a - b).max()) < 1e-7
