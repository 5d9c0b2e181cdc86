"""Analytic infinite-width kernels: closed forms against quadrature and the anchors.md
formulas, Monte-Carlo averages of empirical kernels, Cos-net / Gauss-net Gaussian kernels,
metric heads, diagnostics and bad input."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkflow.kernels import analytic as stax
from ntkflow.kernels import (
    as_matrix,
    component_indicator,
    gaussian_kernel,
    infinite_width_metric_ntk,
    kernel_target_alignment,
    lanczos_eigenvalues,
    metric_ntk,
    net_kernels,
    ntk_top_eigenvalues,
    randomized_eigenvalues,
    relative_change,
    scalar_ntk,
    spectrum,
    symmetric_projector,
)
from ntkflow.nets import MLP, CosNet, GaussNet, IndependentComponents, SharedTrunk

KEY = jax.random.PRNGKey(11)

PHI = {
    "relu": (lambda u: np.maximum(u, 0), lambda u: (u > 0).astype(float)),
    "erf": (
        lambda u: np.vectorize(math.erf)(u),
        lambda u: 2 / math.sqrt(math.pi) * np.exp(-(u**2)),
    ),
    "cos": (np.cos, lambda u: -np.sin(u)),
    "sin": (np.sin, np.cos),
}


def _gauss_expectation(f, v1, v2, c, order):
    """E[f(u, u')] for (u, u') ~ N(0, [[v1, c], [c, v2]]) by tensor Gauss–Hermite quadrature."""
    t, w = np.polynomial.hermite_e.hermegauss(order)
    w = w / w.sum()
    chol = np.linalg.cholesky(np.array([[v1, c], [c, v2]]))
    z1, z2 = np.meshgrid(t, t, indexing="ij")
    u1 = chol[0, 0] * z1
    u2 = chol[1, 0] * z1 + chol[1, 1] * z2
    return float(np.sum(np.outer(w, w) * f(u1, u2)))


@pytest.mark.parametrize("name", ["relu", "erf", "cos", "sin"])
def test_activation_layers_against_quadrature(name):
    v1, v2, c = 0.8, 1.3, 0.55
    s = stax.KernelState(jnp.array([[c]]), jnp.array([v1]), jnp.array([v2]), jnp.array([[1.0]]))
    out = stax.activation_layer(name)(s)
    f, df = PHI[name]
    # relu has a kink: more nodes and a looser (but still tight) tolerance
    order, tol = (200, 5e-3) if name == "relu" else (60, 1e-10)
    nngp = _gauss_expectation(lambda a, b: f(a) * f(b), v1, v2, c, order)
    dot = _gauss_expectation(lambda a, b: df(a) * df(b), v1, v2, c, order)
    var1 = _gauss_expectation(lambda a, b: f(a) ** 2, v1, v2, c, order)
    np.testing.assert_allclose(out.nngp[0, 0], nngp, rtol=tol)
    np.testing.assert_allclose(out.ntk[0, 0], dot, rtol=tol)  # Θ_in = 1, so Θ' = Σ̇
    np.testing.assert_allclose(out.var1[0], var1, rtol=tol)


def test_relu_and_erf_match_anchor_formulas():
    """anchors.md: ReLU (|x||x'|/2π)(sin θ + (π−θ)cos θ)σ_w² + σ_b², derivative (π−θ)/(2π)σ_w²;
    erf (2/π) arcsin(2xΣx'/sqrt((1+2xΣx)(1+2x'Σx')))."""
    x = np.array([[0.3, -1.1, 0.7], [1.2, 0.4, -0.5]])
    d = 3
    k = stax.serial(stax.Dense(1.5, 0.2), stax.Relu(), stax.Dense(1.5, 0.2))
    nngp, ntk = k(jnp.asarray(x))
    s0 = 1.5**2 * x @ x.T / d + 0.2**2
    nrm = np.sqrt(np.diag(s0))
    theta = np.arccos(np.clip(s0 / np.outer(nrm, nrm), -1, 1))
    s1 = np.outer(nrm, nrm) / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * np.cos(theta))
    expect_nngp = 1.5**2 * s1 + 0.2**2
    expect_ntk = expect_nngp + s0 * (np.pi - theta) / (2 * np.pi) * 1.5**2  # Θ² = Σ² + Θ¹Σ̇²
    # arccos near cos θ = 1 (the diagonal) amplifies rounding to ~sqrt(eps)
    np.testing.assert_allclose(nngp, expect_nngp, rtol=1e-8)
    np.testing.assert_allclose(ntk, expect_ntk, rtol=1e-8)
    nngp_erf, _ = stax.serial(stax.Dense(1.0, 0.0), stax.Erf())(jnp.asarray(x))
    sig = np.eye(d) / d
    expect = (2 / np.pi) * np.arcsin(
        2
        * x
        @ sig
        @ x.T
        / np.sqrt(
            np.outer(
                1 + 2 * np.einsum("ai,ij,aj->a", x, sig, x),
                1 + 2 * np.einsum("ai,ij,aj->a", x, sig, x),
            )
        )
    )
    np.testing.assert_allclose(nngp_erf, expect, rtol=1e-13)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_monte_carlo_average_of_empirical_kernels(activation):
    """The seed average of width-256 depth-2 empirical NTKs approaches the analytic NTK
    (bias O(1/N) ≈ 0.4 %, fluctuation ≈ 1/sqrt(N · seeds) ≈ 1.3 %)."""
    xs = jax.random.normal(jax.random.PRNGKey(5), (4, 3))
    seeds = 24

    @eqx.filter_jit
    def emp(k):
        net = MLP(3, "scalar", 256, 2, activation, W_std=1.3, b_std=0.2, key=k)
        return scalar_ntk(net, xs), jax.vmap(net)(xs)

    keys = jax.random.split(KEY, seeds)
    ntks = np.stack([np.asarray(emp(k)[0]) for k in keys])
    net = MLP(3, "scalar", 1, 2, activation, W_std=1.3, b_std=0.2, key=KEY)
    _, ntk = net_kernels(net, xs)
    mean = ntks.mean(0)
    single = np.linalg.norm(ntks[0] - ntk) / np.linalg.norm(ntk)
    averaged = np.linalg.norm(mean - ntk) / np.linalg.norm(ntk)
    assert averaged < 0.04
    assert averaged < single  # averaging over seeds really helps


@pytest.mark.parametrize("kind", ["cos", "gauss", "cos-last", "cos-frozen-c", "gauss-c"])
def test_cos_and_gauss_net_kernels(kind):
    """One hidden layer: the empirical NTK is an average of N i.i.d. neuron terms, so it
    approaches the Gaussian-kernel formula like N^{-1/2}; last layer only gives
    (σ_a²/2) exp(−σ_b²|x − x'|²/(2d))."""
    d, sa, sb = 3, 1.3, 2.0
    xs = 0.4 * jax.random.normal(jax.random.PRNGKey(6), (5, d))
    build = {
        "cos": lambda w, k: CosNet(d, w, sigma_a=sa, sigma_b=sb, key=k),
        "cos-last": lambda w, k: CosNet(d, w, sigma_a=sa, sigma_b=sb, train="last", key=k),
        "cos-frozen-c": lambda w, k: CosNet(d, w, sigma_a=sa, sigma_b=sb, train_c=False, key=k),
        "gauss": lambda w, k: GaussNet(d, w, sigma_a=sa, sigma_b=1.0, key=k),
        "gauss-c": lambda w, k: GaussNet(d, w, sigma_a=sa, sigma_b=1.0, sigma_c=0.3, key=k),
    }[kind]
    # the stated closed forms, written out independently of the library
    sbb = 1.0 if kind.startswith("gauss") else sb
    xn = np.asarray(xs)
    g = np.exp(-(sbb**2) * ((xn[:, None] - xn[None]) ** 2).sum(-1) / (2 * d))
    dot = sbb**2 * xn @ xn.T / d
    expect = {
        "cos": sa**2 / 2 * (2 + dot) * g,
        "cos-last": sa**2 / 2 * g,
        "cos-frozen-c": sa**2 / 2 * (1 + dot) * g,
        "gauss": sa**2 / 2 * (1 + dot) * g,
        "gauss-c": sa**2 / 2 * (1 + 0.3**2 + dot) * g,
    }[kind]
    np.testing.assert_allclose(net_kernels(build(1, KEY), xs)[1], expect, rtol=1e-13)
    errs = []
    for width in (500, 50000):
        emp = scalar_ntk(build(width, jax.random.PRNGKey(width)), xs)
        errs.append(float(np.linalg.norm(emp - expect) / np.linalg.norm(expect)))
    assert errs[1] < 0.05
    assert errs[1] < errs[0] / 3  # 10 expected (sqrt(100)); fluctuations allowed for


def test_infinite_width_metric_ntk_index_structure():
    xs = jax.random.normal(jax.random.PRNGKey(8), (3, 2))
    trunk = SharedTrunk(MLP(2, 4, 3, 1, "erf", key=KEY), 2, scale=0.7)
    scalar = net_kernels(trunk.net, xs)[1]
    p = symmetric_projector(2)
    np.testing.assert_allclose(
        infinite_width_metric_ntk(trunk, xs), 0.49 * scalar[:, :, None, None, None, None] * p
    )
    # P is the projector on symmetric matrices: P∘P = P, P(A) = (A + Aᵀ)/2
    np.testing.assert_allclose(np.einsum("ijab,abkl->ijkl", p, p), p, atol=1e-15)
    ind = IndependentComponents.from_factory(lambda k: CosNet(2, 3, key=k), 2, key=KEY)
    theta = infinite_width_metric_ntk(ind, xs)
    s = component_indicator(2)
    assert s[0, 1, 1, 0] == 1 and s[0, 0, 0, 0] == 1 and s[0, 0, 1, 1] == 0 and s[0, 1, 0, 0] == 0
    scalar = net_kernels(ind.nets[0], xs)[1]
    np.testing.assert_allclose(theta, scalar[:, :, None, None, None, None] * s)


def test_metric_heads_converge_to_infinite_width():
    """Empirical metric-NTK of both heads → Θ̄ (mixing vanishes for independent nets)."""
    xs = 0.5 * jax.random.normal(jax.random.PRNGKey(9), (3, 2))
    errs = {}
    for width in (200, 20000):
        trunk = SharedTrunk(CosNet(2, width, out_size=4, key=jax.random.PRNGKey(width)), 2)
        ind = IndependentComponents.from_factory(
            lambda k, w=width: CosNet(2, w, key=k), 2, key=jax.random.PRNGKey(width + 1)
        )
        for name, head in (("trunk", trunk), ("ind", ind)):
            bar = infinite_width_metric_ntk(head, xs)
            errs[name, width] = float(relative_change(metric_ntk(head, xs), bar))
    for name in ("trunk", "ind"):
        assert errs[name, 20000] < 0.05 and errs[name, 20000] < errs[name, 200] / 3, errs


def test_diagnostics():
    head = SharedTrunk(MLP(2, 4, 16, 1, "erf", key=KEY), 2)
    xs = jax.random.normal(jax.random.PRNGKey(10), (6, 2))
    theta = metric_ntk(head, xs)
    dense = np.asarray(spectrum(theta))
    mat = np.asarray(as_matrix(theta))
    np.testing.assert_allclose(
        dense, np.sort(np.linalg.eigvalsh(mat))[::-1], rtol=1e-10, atol=1e-12 * dense[0]
    )
    assert dense[-1] > -1e-10 * dense[0]  # Gram matrix: positive semi-definite
    top = ntk_top_eigenvalues(head, xs, 3, key=KEY, method="lanczos")
    np.testing.assert_allclose(top, dense[:3], rtol=1e-8)
    top_r = ntk_top_eigenvalues(head, xs, 2, key=KEY, method="randomized", power_iters=4)
    np.testing.assert_allclose(top_r, dense[:2], rtol=1e-6)
    a = jax.random.normal(KEY, (30, 30))
    k = a @ a.T
    mv = lambda v: k @ v
    np.testing.assert_allclose(
        lanczos_eigenvalues(mv, 30, 4, key=KEY), np.linalg.eigvalsh(k)[::-1][:4], rtol=1e-9
    )
    np.testing.assert_allclose(
        randomized_eigenvalues(mv, 30, 2, key=KEY, oversample=28),
        np.linalg.eigvalsh(k)[::-1][:2],
        rtol=1e-9,
    )
    # alignment: yᵀKy/(‖K‖‖y‖²) equals λ/‖K‖_F for an eigenvector, lies in [0, 1]
    w, v = np.linalg.eigh(mat)
    al = float(kernel_target_alignment(theta, v[:, -1]))
    np.testing.assert_allclose(al, w[-1] / np.linalg.norm(mat), rtol=1e-10)
    assert 0 <= float(kernel_target_alignment(theta, np.ones(mat.shape[0]))) <= 1
    assert float(relative_change(theta, theta)) == 0.0
    np.testing.assert_allclose(float(relative_change(1.1 * theta, theta)), 0.1, rtol=1e-12)


def test_gaussian_kernel_width():
    x = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(gaussian_kernel(x, None, 2.0)[0, 1], math.exp(-2.0), rtol=1e-14)


def test_analytic_bad_input():
    with pytest.raises(ValueError, match="no closed-form kernel for activation 'tanh'"):
        net_kernels(MLP(3, 1, 4, 1, "tanh", key=KEY), jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="parameterization='ntk'"):
        net_kernels(MLP(3, 1, 4, 1, parameterization="standard", key=KEY), jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="no deterministic infinite-width limit"):
        infinite_width_metric_ntk(
            SharedTrunk(MLP(2, 4, 4, 1, key=KEY), 2, form="cholesky"), jnp.ones((2, 2))
        )
    with pytest.raises(ValueError, match="same d"):
        net_kernels(MLP(3, 1, 4, 1, key=KEY), jnp.ones((2, 3)), jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="do(es)? not match"):
        kernel_target_alignment(jnp.eye(4), jnp.ones(3))
