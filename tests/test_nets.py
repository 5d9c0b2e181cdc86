"""Networks and metric heads: parameterisations, masks, positive-definite forms, bad input."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkflow.nets import (
    MLP,
    CosNet,
    Dense,
    GaussNet,
    IndependentComponents,
    ScalarHead,
    SharedTrunk,
    kahler_metric,
    sqrtm_spd,
    trainable,
)

KEY = jax.random.PRNGKey(0)


def test_dense_parameterisations_same_function_and_distribution():
    """'ntk' and 'standard' give the same function for W_std = W_ntk·W_std/√fan_in, and the
    standard weights have the stated variance W_std²/fan_in (neural-tangents convention)."""
    d_ntk = Dense(400, 300, W_std=1.7, b_std=0.3, parameterization="ntk", key=KEY)
    d_std = Dense(400, 300, W_std=1.7, b_std=0.3, parameterization="standard", key=KEY)
    np.testing.assert_allclose(d_std.weight, d_ntk.weight * 1.7 / math.sqrt(400), rtol=1e-14)
    x = jax.random.normal(jax.random.PRNGKey(1), (400,))
    np.testing.assert_allclose(
        eqx.filter_jit(d_std)(x), eqx.filter_jit(d_ntk)(x), rtol=1e-12, atol=1e-12
    )
    # sample variance of 120 000 standard-normal draws is within 1 % (6 sigma) of its value
    assert abs(np.var(np.asarray(d_std.weight)) / (1.7**2 / 400) - 1) < 0.025
    assert abs(np.var(np.asarray(d_std.bias)) / 0.3**2 - 1) < 0.5


def test_mlp_forward_matches_manual():
    m = MLP(3, 2, 5, 2, "tanh", W_std=1.3, b_std=0.2, key=KEY)
    x = jnp.array([0.3, -0.2, 0.9])
    h = np.asarray(x)
    for layer in m.layers[:-1]:
        h = np.tanh(
            1.3 / math.sqrt(layer.in_size) * np.asarray(layer.weight) @ h
            + 0.2 * np.asarray(layer.bias)
        )
    out = 1.3 / math.sqrt(5) * np.asarray(m.layers[-1].weight) @ h + 0.2 * np.asarray(
        m.layers[-1].bias
    )
    np.testing.assert_allclose(eqx.filter_jit(m)(x), out, rtol=1e-13)


def test_last_layer_mask():
    m = MLP(3, "scalar", 8, 2, "relu", train="last", key=KEY)
    params, _ = eqx.partition(m, trainable(m))
    leaves = jax.tree_util.tree_leaves(params)
    assert [a.shape for a in leaves] == [(1, 8), (1,)]
    c = CosNet(3, 8, train_c=False, key=KEY)
    params, _ = eqx.partition(c, trainable(c))
    assert params.hidden.bias is None and params.hidden.weight is not None


def test_heads_masks_freeze_reference():
    g_ref = eqx.nn.Linear(3, 9, key=KEY)  # arrays inside g_ref must stay frozen
    net = MLP(3, 9, 4, 1, key=KEY)
    head = SharedTrunk(net, 3, g_ref=lambda x: jnp.eye(3) + 0 * g_ref(x).reshape(3, 3))
    params, _ = eqx.partition(head, trainable(head))
    n_params = sum(a.size for a in jax.tree_util.tree_leaves(params))
    assert n_params == 3 * 4 + 4 + 4 * 9 + 9


@pytest.mark.parametrize("form", ["additive", "cholesky", "exp"])
@pytest.mark.parametrize("head_kind", ["independent", "trunk"])
def test_forms(form, head_kind):
    n = 3
    a = jax.random.normal(jax.random.PRNGKey(2), (n, n))
    gref_mat = a @ a.T + n * jnp.eye(n)
    g_ref = lambda x: gref_mat * (1.0 + 0.1 * jnp.sum(x**2))
    if head_kind == "trunk":
        head = SharedTrunk(MLP(n, n * n, 16, 1, "erf", key=KEY), n, form=form, g_ref=g_ref)
    else:
        head = IndependentComponents.from_factory(
            lambda k: MLP(n, "scalar", 16, 1, "erf", key=k), n, key=KEY, form=form, g_ref=g_ref
        )
    x = jnp.array([0.2, -0.5, 0.7])
    g, m, gr = jax.jit(lambda x: (head(x), head.raw(x), g_ref(x)))(x)
    g, m, gr = np.asarray(g), np.asarray(m), np.asarray(gr)
    s = 0.5 * (m + m.T)
    if form == "additive":
        expect = gr + s
    elif form == "cholesky":
        low = np.tril(m)
        expect = gr + low @ low.T
    else:  # independent check: eigendecompositions instead of Padé / Denman-Beavers
        w, v = np.linalg.eigh(gr)
        r = v @ np.diag(np.sqrt(w)) @ v.T
        ws, vs = np.linalg.eigh(s)
        expect = r @ vs @ np.diag(np.exp(ws)) @ vs.T @ r
    np.testing.assert_allclose(g, expect, rtol=1e-11, atol=1e-12)
    assert np.all(g == g.T)
    if form != "additive":
        assert np.linalg.eigvalsh(g).min() > 0


def test_independent_components_are_independent():
    """Component (i,j) only depends on net number c(i,j) in triu order."""
    n = 3
    head = IndependentComponents.from_factory(lambda k: MLP(n, "scalar", 8, 1, key=k), n, key=KEY)
    x = jnp.array([0.1, 0.2, 0.3])
    g, vals = jax.jit(lambda x: (head(x), jnp.stack([net(x) for net in head.nets])))(x)
    iu = np.triu_indices(n)
    for c, (i, j) in enumerate(zip(*iu, strict=True)):
        assert g[i, j] == (i == j) + vals[c] and g[j, i] == g[i, j]


def test_sqrtm_spd_repeated_eigenvalues_and_gradient():
    a = jnp.diag(jnp.array([4.0, 4.0, 9.0]))
    np.testing.assert_allclose(jax.jit(sqrtm_spd)(a), np.diag([2.0, 2.0, 3.0]), atol=1e-13)
    # d/dt tr sqrt(a + t I) = Σ 1/(2 sqrt(λ))
    grad = jax.jit(jax.grad(lambda t: jnp.trace(sqrtm_spd(a + t * jnp.eye(3)))))(0.0)
    assert np.isfinite(grad) and np.isclose(grad, 2 * 0.25 + 1 / 6, rtol=1e-10)


def test_kahler_metric_of_flat_potential():
    """K = |z|² gives g_{ij̄} = δ_ij; K = |z1|²|z2|² checked entrywise."""
    k = ScalarHead(MLP(4, "scalar", 4, 1, key=KEY), 4, k_ref=lambda x: x @ x, scale=0.0)
    x = jnp.array([0.3, -0.1, 0.5, 0.2])
    np.testing.assert_allclose(jax.jit(lambda x: kahler_metric(k, x))(x), np.eye(2), atol=1e-14)

    def pot(x):
        z = x[:2] + 1j * x[2:]
        return jnp.abs(z[0]) ** 2 * jnp.abs(z[1]) ** 2

    z = x[:2] + 1j * x[2:]
    expect = jnp.array(
        [[abs(z[1]) ** 2, jnp.conj(z[0]) * z[1]], [z[0] * jnp.conj(z[1]), abs(z[0]) ** 2]]
    )
    np.testing.assert_allclose(jax.jit(lambda x: kahler_metric(pot, x))(x), expect, atol=1e-14)


def test_gaussnet_normalisation_is_stable_for_large_inputs():
    """At |x|² = 48, σ_b = 5, d = 3 the normaliser sqrt(exp[2(σ_c² + σ_b²|x|²/d)]) =
    e^{401} overflows float64, yet φ(x) ≈ 10⁻¹⁵⁰ is representable: compare with the module
    docstring's formula evaluated naively in 60-digit decimal arithmetic."""
    from decimal import Decimal, getcontext

    getcontext().prec = 60
    net = GaussNet(3, 64, sigma_b=5.0, sigma_c=1.0, key=KEY)
    x = jnp.array([4.0, -4.0, 4.0])
    phi = float(eqx.filter_jit(net)(x))
    h = np.asarray(net.hidden(x))  # b_i·x + c_i
    a = np.asarray(jax.vmap(net.readout)(jnp.eye(64)))[:, 0]  # read-out weights a_i
    norm = (Decimal(2) * (Decimal(1) + Decimal(25) * Decimal(48) / Decimal(3))).exp().sqrt()
    ref = sum(Decimal(float(ai)) * Decimal(float(hi)).exp() for ai, hi in zip(a, h, strict=True))
    ref = float(ref / norm)
    assert 0 < abs(ref) < 1e-100  # the naive float64 route would give 0/inf
    np.testing.assert_allclose(phi, ref, rtol=1e-10)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: MLP(3, 1, 0, 2, key=KEY), "width must be an integer >= 1"),
        (lambda: MLP(3, 1, 8, 2, "softsign", key=KEY), "unknown activation 'softsign'"),
        (lambda: MLP(3, 1, 8, 2, parameterization="mup", key=KEY), "parameterization"),
        (lambda: MLP(3, 1, 8, -1, key=KEY), "depth must be an integer >= 0"),
        (lambda: MLP(3, 1, 8, 1, train="middle", key=KEY), "train must be one of"),
        (lambda: CosNet(3, 0, key=KEY), "width"),
        (lambda: GaussNet(0, 4, key=KEY), "in_size"),
        (lambda: SharedTrunk(MLP(3, 6, 4, 1, key=KEY), 3), "9 = 3x3 outputs"),
        (
            lambda: IndependentComponents([MLP(3, "scalar", 4, 1, key=KEY)] * 5, 3),
            "needs 6 scalar nets; got 5",
        ),
        (
            lambda: IndependentComponents([MLP(3, 2, 4, 1, key=KEY)] * 6, 3),
            "net 0 must return a scalar",
        ),
        (lambda: SharedTrunk(MLP(3, 9, 4, 1, key=KEY), 3, form="square"), "form must be one of"),
        (lambda: SharedTrunk(MLP(2, 9, 4, 1, key=KEY), 3), "MLP: expected one point of shape"),
    ],
)
def test_bad_construction(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_points():
    head = SharedTrunk(MLP(3, 9, 4, 1, key=KEY), 3)
    with pytest.raises(ValueError, match=r"expected one point of shape \(3,\)"):
        head(jnp.ones(2))
    with pytest.raises(ValueError, match=r"MLP: expected one point of shape \(3,\)"):
        MLP(3, 1, 4, 1, key=KEY)(jnp.ones((5, 3)))
