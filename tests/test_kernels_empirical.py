"""Empirical metric-NTK: strategies against each other, against finite differences of g in θ,
the Kähler relation for a scalar head, kernel-vector products and bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from ntkflow.kernels import (
    STRATEGIES,
    StructureError,
    empirical_ntk,
    kernel_vector_product,
    metric_ntk,
    scalar_ntk,
)
from ntkflow.nets import (
    MLP,
    CosNet,
    GaussNet,
    IndependentComponents,
    ScalarHead,
    SharedTrunk,
    kahler_metric_parts,
    trainable,
)

KEY = jax.random.PRNGKey(3)
N = 3
XS = jax.random.normal(jax.random.PRNGKey(4), (5, N))


def _g_ref(x):
    return jnp.diag(jnp.array([1.0, 2.0, 1.5])) * (1.0 + 0.2 * jnp.sin(x[0]))


HEADS = {
    "trunk-exp": lambda: SharedTrunk(
        MLP(N, N * N, 6, 2, "erf", b_std=0.4, key=KEY), N, form="exp", scale=0.3
    ),
    "trunk-standard-cholesky": lambda: SharedTrunk(
        MLP(N, N * N, 5, 1, "gelu", W_std=1.2, b_std=0.5, parameterization="standard", key=KEY),
        N,
        form="cholesky",
    ),
    "independent-cosnet-frozen-c": lambda: IndependentComponents.from_factory(
        lambda k: CosNet(N, 4, sigma_b=1.5, train_c=False, key=k), N, key=KEY
    ),
    "independent-mixed-last": lambda: IndependentComponents(
        [
            MLP(N, "scalar", 5, 1, "tanh", b_std=0.1, key=jax.random.PRNGKey(c), train="last")
            if c % 2
            else GaussNet(N, 4, sigma_c=0.3, key=jax.random.PRNGKey(c))
            for c in range(6)
        ],
        N,
        form="additive",
        g_ref=_g_ref,
    ),
}


def _fd_metric_ntk(head, xs):
    """Θ from a 6th-order central-difference Jacobian of g in the trainable parameters
    (h = 1e-2: truncation ~h⁶/140, round-off ~1e-16/h, both far below 1e-10)."""
    params, static = eqx.partition(head, trainable(head))
    flat, unravel = ravel_pytree(params)

    def g_all(theta):
        model = eqx.combine(unravel(theta), static)
        return jax.vmap(model)(xs).reshape(-1)

    h = 1e-2
    eye = jnp.eye(flat.size)

    @jax.jit
    def column(e):
        d1 = g_all(flat + h * e) - g_all(flat - h * e)
        d2 = g_all(flat + 2 * h * e) - g_all(flat - 2 * h * e)
        d3 = g_all(flat + 3 * h * e) - g_all(flat - 3 * h * e)
        return (45 * d1 - 9 * d2 + d3) / (60 * h)

    jac = jax.lax.map(column, eye)  # (P, N*n*n)
    theta = jac.T @ jac
    n_pts = xs.shape[0]
    return theta.reshape(n_pts, N, N, n_pts, N, N).transpose(0, 3, 1, 2, 4, 5)


@pytest.mark.parametrize("name", list(HEADS))
def test_strategies_agree_with_each_other_and_finite_differences(name):
    head = HEADS[name]()
    ref = _fd_metric_ntk(head, XS)
    scale = float(jnp.max(jnp.abs(ref)))
    assert scale > 1e-3
    for strategy in STRATEGIES:
        theta = metric_ntk(head, XS, strategy=strategy)
        assert theta.shape == (5, 5, N, N, N, N)
        assert np.all(np.isfinite(theta))
        np.testing.assert_allclose(theta, ref, atol=1e-10 * scale, rtol=0, err_msg=strategy)


def test_chunked_cross_kernels():
    """x2 != x1 with a padded last chunk: every strategy matches the unchunked Jacobian one."""
    head = HEADS["independent-cosnet-frozen-c"]()
    x2 = XS[:4] + 0.1
    full = metric_ntk(head, XS, x2, strategy="jacobian")
    scale = float(jnp.max(jnp.abs(full)))
    for strategy in STRATEGIES:
        chunked = metric_ntk(head, XS, x2, strategy=strategy, chunk_size=3)
        np.testing.assert_allclose(chunked, full, atol=1e-12 * scale, rtol=0, err_msg=strategy)


def test_paper_index_order_and_symmetries():
    head = HEADS["trunk-exp"]()
    theta = metric_ntk(head, XS)
    # Θ_ijkl(x,x') = Θ_klij(x',x), and symmetric in (i,j) and in (k,l)
    np.testing.assert_allclose(theta, theta.transpose(1, 0, 4, 5, 2, 3), atol=1e-14)
    np.testing.assert_allclose(theta, theta.transpose(0, 1, 3, 2, 4, 5), atol=0)
    # one explicit entry from the definition Σ_I ∂g_01(x_2)/∂θ_I ∂g_12(x_4)/∂θ_I
    params, static = eqx.partition(head, trainable(head))
    d1 = jax.grad(lambda p: eqx.combine(p, static)(XS[2])[0, 1])(params)
    d2 = jax.grad(lambda p: eqx.combine(p, static)(XS[4])[1, 2])(params)
    pairs = zip(jax.tree.leaves(d1), jax.tree.leaves(d2), strict=True)
    entry = sum(jnp.vdot(a, b) for a, b in pairs)
    np.testing.assert_allclose(theta[2, 4, 0, 1, 1, 2], entry, rtol=1e-12)


def test_packed_kernel_is_the_upper_triangle():
    head = HEADS["independent-cosnet-frozen-c"]()
    full = metric_ntk(head, XS)
    packed = metric_ntk(head, XS, packed=True)
    iu = np.triu_indices(N)
    np.testing.assert_allclose(packed, full[:, :, iu[0], iu[1]][:, :, :, iu[0], iu[1]], atol=0)


def test_kahler_relation_for_scalar_head():
    """Θ_{ij̄}(z, z') = dK(z)/dθ · d(∂'_i ∂̄'_j K(z'))/dθ equals ∂'_i ∂̄'_j Θ(z, z') (paper §5)."""
    n = 2
    head = ScalarHead(
        MLP(2 * n, "scalar", 8, 2, "erf", b_std=0.3, key=KEY), 2 * n, k_ref=lambda x: x @ x
    )
    zs = jax.random.normal(jax.random.PRNGKey(7), (3, 2 * n))

    def potential_and_metric(model, x):  # [K, Re g, Im g] as one real output vector
        re, im = kahler_metric_parts(model, x)
        return jnp.concatenate([model(x)[None], re.ravel(), im.ravel()])

    @jax.jit
    def rhs(za, zb):  # ∂'_i ∂̄'_j of the scalar NTK Θ(z_a, z') at z' = z_b
        def theta_of_zprime(xp):
            return scalar_ntk(head, za[None], xp[None], strategy="jacobian")[0, 0]

        return kahler_metric_parts(theta_of_zprime, zb)

    for strategy in ("jacobian", "matrix_free"):  # structured needs one plain model call
        big = empirical_ntk(potential_and_metric, head, zs, strategy=strategy)
        lhs_re = big[:, :, 0, 1 : 1 + n * n].reshape(3, 3, n, n)
        lhs_im = big[:, :, 0, 1 + n * n :].reshape(3, 3, n, n)
        for a in range(3):
            for b in range(3):
                re, im = rhs(zs[a], zs[b])
                np.testing.assert_allclose(lhs_re[a, b], re, atol=1e-11, err_msg=strategy)
                np.testing.assert_allclose(lhs_im[a, b], im, atol=1e-11, err_msg=strategy)
    assert float(jnp.max(jnp.abs(lhs_im))) > 1e-4  # the imaginary part is really tested


def test_kernel_vector_product_matches_dense():
    head = HEADS["trunk-standard-cholesky"]()
    v = jax.random.normal(jax.random.PRNGKey(9), (5, N, N))
    theta = metric_ntk(head, XS)
    dense = jnp.einsum("abijkl,bkl->aij", theta, v)
    for chunk in (None, 2):
        kvp = kernel_vector_product(head, XS, v, chunk_size=chunk)
        np.testing.assert_allclose(kvp, dense, rtol=1e-11, atol=1e-12)
    # a budget of a few points' compiled footprint (~0.5 kB each here) forces chunks of < 5
    kvp = kernel_vector_product(head, XS, v, budget=1400)
    np.testing.assert_allclose(kvp, dense, rtol=1e-11, atol=1e-12)
    x_eval = XS[:3] - 0.3
    cross = jnp.einsum("abijkl,bkl->aij", metric_ntk(head, x_eval, XS), v)
    kvp = kernel_vector_product(head, XS, v, x_eval=x_eval, chunk_size=2)
    np.testing.assert_allclose(kvp, cross, rtol=1e-11, atol=1e-12)


class _Shared(eqx.Module):
    net: MLP

    def __call__(self, x):
        return self.net(x) + self.net(-x)


class _WithLinear(eqx.Module):
    net: MLP
    lin: eqx.nn.Linear

    def __call__(self, x):
        return jnp.tanh(self.net(x)) + self.lin(x)[0]


def test_structured_handles_non_dense_parameters_and_refuses_weight_sharing():
    model = _WithLinear(MLP(3, "scalar", 6, 1, "erf", key=KEY), eqx.nn.Linear(3, 1, key=KEY))
    ref = scalar_ntk(model, XS, strategy="jacobian")
    np.testing.assert_allclose(scalar_ntk(model, XS, strategy="structured"), ref, atol=1e-13)
    shared = _Shared(MLP(3, "scalar", 6, 1, "erf", key=KEY))
    with pytest.raises(StructureError, match="called 2 times"):
        scalar_ntk(shared, XS, strategy="structured")
    np.testing.assert_allclose(
        scalar_ntk(shared, XS, strategy="matrix_free"),
        scalar_ntk(shared, XS, strategy="jacobian"),
        atol=1e-13,
    )


def test_bad_input():
    head = HEADS["trunk-exp"]()
    with pytest.raises(ValueError, match="different dimension"):
        metric_ntk(head, XS, jnp.ones((2, 4)))
    with pytest.raises(ValueError, match=r"shape \(N, d\)"):
        metric_ntk(head, XS[0])
    with pytest.raises(ValueError, match="unknown strategy 'fast'"):
        metric_ntk(head, XS, strategy="fast")
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        metric_ntk(head, XS, chunk_size=0)
    with pytest.raises(ValueError, match=r"expected one point of shape \(3,\)"):
        metric_ntk(head, jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="square matrix"):
        metric_ntk(MLP(3, 2, 4, 1, key=KEY), XS)
    with pytest.raises(ValueError, match="v has 2 points but xs has 5"):
        kernel_vector_product(head, XS, jnp.ones((2, N, N)))


def test_metric_ntk_chunks_itself_within_the_memory_budget():
    """The 69k-parameter benchmark MLP (benchmarks/ntk.py) at N = 1024: unchunked, the
    matrix-free kernel needs ~36 GB of temporaries; every strategy's compiled block (XLA
    memory analysis, nothing is run) must fit the default 2 GiB budget."""
    from ntkflow.kernels import metric_ntk_plan
    from ntkflow.memory import memory_budget

    net = MLP(3, 9, 256, 2, "erf", b_std=0.1, key=jax.random.PRNGKey(0))
    assert sum(a.size for a in jax.tree.leaves(eqx.filter(net, eqx.is_array))) == 69129
    head = SharedTrunk(net, 3)
    xs = jax.ShapeDtypeStruct((1024, 3), jnp.float64)
    budget = memory_budget()
    for strategy in STRATEGIES:
        chunk, nbytes = metric_ntk_plan(head, xs, strategy=strategy)
        assert nbytes <= budget, (strategy, nbytes)
        if strategy == "matrix_free":
            assert chunk is not None and chunk < 1024
