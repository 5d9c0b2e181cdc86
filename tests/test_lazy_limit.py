"""The pieces of the lazy-limit experiment against what they did not produce: the L-BFGS
fixed point against the minimum-norm least-squares solution, the power-law fit against exact
power laws, and the metric-NTK spectra against the identity Θ = G P
(docs/derivations.md#experiments-feature_learning)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from ntkflow.cy.fubini_study import FubiniStudy
from ntkflow.cy.potential import PhiPotential, n_spectral_inputs
from ntkflow.cy.sampling import sample_points
from ntkflow.cy.train import TrainingSet
from ntkflow.cy.variety import fermat_quintic
from ntkflow.experiments.feature_learning import (
    Centred,
    FeatureLearningConfig,
    metric_ntk_spectra,
)
from ntkflow.flows import Stationarity, minimise
from ntkflow.kernels.convergence import power_law_slope
from ntkflow.nets import MLP


def test_minimise_reaches_the_minimum_norm_solution_of_an_underdetermined_least_squares():
    """From θ₀ = 0 the iterates stay in the row space of A: the limit is A⁺b, the fixed point
    of the gradient flow dθ/dt = −Aᵀ(Aθ − b) from 0 (numpy's pseudo-inverse)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(12, 40)), rng.normal(size=12)
    loss = lambda th, a_, b_: jnp.sum((a_ @ th - b_) ** 2)
    res = minimise(loss, jnp.zeros(40), Stationarity(1e-14, 5, 500), args=(a, b))
    assert res.converged and res.steps < 500
    np.testing.assert_allclose(np.asarray(res.params), np.linalg.pinv(a) @ b, atol=1e-7)
    assert res.losses[0] == pytest.approx(float(b @ b))


def test_minimise_reports_the_step_cap():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 30)), rng.normal(size=30)
    loss = lambda th, a_, b_: jnp.sum((a_ @ th - b_) ** 2)
    res = minimise(loss, jnp.zeros(30), Stationarity(1e-12, 3, 2), args=(a, b))
    assert not res.converged and res.steps == 2 and len(res.losses) == 3
    assert "at most 2 steps" in res.criterion


def test_minimise_refuses_a_non_finite_loss():
    with pytest.raises(FloatingPointError, match="not finite"):
        minimise(lambda th: jnp.log(th[0] - 1.0), jnp.zeros(1), Stationarity(1e-6, 2, 5))


@pytest.mark.parametrize("bad", [dict(tol=0.0), dict(window=0), dict(max_steps=0)])
def test_stationarity_rejects_bad_settings(bad):
    with pytest.raises(ValueError, match="stationarity"):
        Stationarity(**bad)


def test_power_law_slope_recovers_exact_exponents():
    w = np.array([64, 64, 128, 128, 512, 512, 2048])
    a, err = power_law_slope(w, 3.0 * w**-0.5)
    assert a == pytest.approx(-0.5, abs=1e-12) and err < 1e-10
    rng = np.random.default_rng(2)
    noisy = 0.7 * w**-0.8 * np.exp(0.05 * rng.normal(size=w.size))
    a, err = power_law_slope(w, noisy)
    assert abs(a + 0.8) < 3 * err + 1e-3 and 0 < err < 0.1


@pytest.mark.parametrize(
    "bad", [dict(widths=()), dict(widths=(64, 64)), dict(seeds=0), dict(tol=-1.0), dict(n_ntk=2000)]
)
def test_feature_learning_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="feature-learning"):
        FeatureLearningConfig(**bad)


@pytest.fixture(scope="module")
def spectra():
    X = fermat_quintic()
    pts = sample_points(X, 8, jax.random.PRNGKey(3))
    data = TrainingSet.from_points(X, pts)
    net = MLP(n_spectral_inputs(X.ambient), "scalar", 24, 1, "erf", key=jax.random.PRNGKey(3))
    moved = eqx.tree_at(lambda n: n.layers[0].weight, net, net.layers[0].weight * 1.3)
    pot = PhiPotential(Centred(moved, net), FubiniStudy(X.ambient))
    n = 5
    return metric_ntk_spectra(pot, data.z[:n], data.jac[:n]), pot, data.z[:n], data.jac[:n]


def test_paper_metric_ntk_has_the_real_indefinite_spectrum_of_g_half_p_g_half(spectra):
    """Θ_{ab̄cd̄} = Σ_I J_{ab}J_{cd} with J_{dc} = conj(J_{cd}) is G P (G = J Jᴴ, P the swap
    (c,d) → (d,c)), so its eigenvalues are those of the Hermitian G^{1/2} P G^{1/2}: real, at
    most N d(d−1)/2 negative (Sylvester: P's −1 eigenspace) — built here from the Gram
    matrix and an explicit permutation, independently of the eigen-solve of Θ."""
    sp, pot, z, jac = spectra
    from ntkflow.cy import kahler_ntk as kn

    th = np.asarray(kn.metric_metric_ntk(pot, z, jac))
    n, d = th.shape[0], th.shape[2]
    gram = th.transpose(0, 2, 3, 1, 5, 4).reshape(n * d * d, n * d * d)
    assert np.allclose(gram, gram.conj().T, atol=1e-12 * np.abs(gram).max())
    perm = np.zeros((n * d * d,) * 2)
    for x in range(n):
        for a in range(d):
            for b in range(d):
                perm[(x * d + a) * d + b, (x * d + b) * d + a] = 1.0
    half = scipy.linalg.sqrtm(0.5 * (gram + gram.conj().T))
    ref = np.sort(np.linalg.eigvalsh(0.5 * ((half @ perm @ half) + (half @ perm @ half).conj().T)))[
        ::-1
    ]
    scale = np.abs(ref).max()
    np.testing.assert_allclose(sp["theta"], ref, atol=1e-8 * scale)
    assert sp["theta_max_imag"] < 1e-8
    assert sp["gram"].min() > -1e-10 * sp["gram"].max()  # the Gram matrix is PSD
    negative = int(np.sum(sp["theta"] < -1e-9 * scale))
    assert 0 < negative <= sp["negative_bound"] == n * d * (d - 1) // 2
    assert np.sum(sp["theta"] > 1e-9 * scale) <= n * d * (d + 1) // 2


def test_one_training_step_of_the_widest_default_network_fits_in_a_few_hundred_mib():
    """The compiled footprint of one L-BFGS step (loss, gradient, line search) at the default
    sweep's widest network and training set: full batch, linear in width × points
    (≈ 0.14 MiB per width unit at 300 points), 280 MiB at width 2048 — far below the default
    budget, so the default sweep needs no chunking (docs/memory.md)."""
    import optax

    from ntkflow.experiments.feature_learning import _Problem
    from ntkflow.flows.optimise import make_step
    from ntkflow.memory import compiled_bytes, memory_budget
    from ntkflow.nets import trainable

    cfg = FeatureLearningConfig(n_test=20, n_ntk=4, n_spectrum=4)
    prob = _Problem(cfg)
    w = max(cfg.widths)
    pot = PhiPotential(prob.network(w, "ntk", 0), prob.fs)
    params, static = eqx.partition(pot, trainable(pot))
    loss, _, _ = prob._functions(("ntk", w))
    tx = optax.lbfgs()
    state = tx.init(params)
    used = compiled_bytes(make_step(loss, tx, lbfgs=True), params, state, static)
    assert used < 400 * 2**20 < memory_budget() // 4, used / 2**20


@pytest.fixture(scope="module")
def quintic8():
    X = fermat_quintic()
    return X, TrainingSet.from_points(X, sample_points(X, 8, jax.random.PRNGKey(5)))


def test_potential_metric_kernel_equals_nested_autodiff_of_the_gaussian_kernel(quintic8):
    """The 2-jet route against four nested passes through u(z) (`gaussian_kernels`), packed:
    component q of p(∂′∂̄′k) is Re/Im of M_{cd} = ∂′_c∂̄′_d k, and ∂_a∂̄_b of Re M_{cd}, Im M_{cd}
    is ½(T_{abcd} + T_{abdc}), (T_{abcd} − T_{abdc})/2i with T = ∂_a∂̄_b∂′_c∂̄′_d k."""
    from ntkflow.cy import kahler_ntk as kn
    from ntkflow.kernels import GaussianKernel

    X, data = quintic8
    z, jac = data.z[:3], data.jac[:3]
    gauss = GaussianKernel(0.7)
    got = np.asarray(kn.potential_metric_kernel(gauss, X.ambient, z, jac, z[1:], jac[1:]))
    t = np.asarray(kn.gaussian_kernels(z, jac, z[1:], jac[1:], X.ambient, 0.7)[2])
    d = t.shape[2]
    re = 0.5 * (t + t.transpose(0, 1, 2, 3, 5, 4))
    im = (t - t.transpose(0, 1, 2, 3, 5, 4)) / 2j
    iu = np.triu_indices(d, 1)
    comps = [re[..., c, c] for c in range(d)]
    comps += [re[..., a, b] for a, b in zip(*iu, strict=True)]
    comps += [im[..., a, b] for a, b in zip(*iu, strict=True)]
    pack = jax.vmap(jax.vmap(jax.vmap(kn.pack_hermitian, 2, 0)))  # over q, then the pairs
    want = np.asarray(pack(jnp.stack(comps, -1))).transpose(0, 1, 3, 2)  # [p, q]
    np.testing.assert_allclose(got, want, atol=1e-12 * np.abs(want).max())


def test_analytic_metric_ntk_is_the_wide_networks_within_its_width_error(quintic8):
    """Θ_∞ of the erf MLP (kernels.analytic) through the metric kernel against the empirical
    packed metric-NTK Σ_I ∂p(g)/∂θ ∂p(g′)/∂θ of networks of width 256 and 4096: the relative
    error falls like N^{−1/2} (measured ≈ 1.4/√N) and is below 3/√N at 4096."""
    from ntkflow.cy import kahler_ntk as kn
    from ntkflow.kernels import empirical_ntk
    from ntkflow.kernels.analytic import mlp_kernel

    X, data = quintic8
    z, jac = data.z[:3], data.jac[:3]
    ker = mlp_kernel(1, "erf")
    exact = kn.potential_metric_kernel(
        lambda u, v: ker(u[None], v[None])[1][0, 0], X.ambient, z, jac, z, jac
    )
    fs, m = FubiniStudy(X.ambient), n_spectral_inputs(X.ambient)
    errs = {}
    for w in (256, 4096):
        net = MLP(m, "scalar", w, 1, "erf", key=jax.random.PRNGKey(0))
        emp = empirical_ntk(kn.MetricOutput(fs), net, (z, jac), strategy="jacobian")
        errs[w] = float(jnp.linalg.norm(emp - exact) / jnp.linalg.norm(exact))
    assert errs[4096] < 3 / np.sqrt(4096) and errs[4096] < errs[256] / 2, errs
