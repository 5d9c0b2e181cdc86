"""The frozen-kernel CY flow sharded over 1 and 4 devices (float64, same points).

203 training and 50 held-out points are not multiples of 4, so the four-device mesh pads
each set with copies of its last point at weight 0: the padded rows must change nothing.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from ntkflow import parallel
from ntkflow.cy.fubini_study import FubiniStudy
from ntkflow.cy.kahler_ntk import MetricOutput, pack_hermitian
from ntkflow.cy.kernel_flow import (
    KERNELS,
    KernelFlowConfig,
    chunked_tangent_maps,
    flow_features,
    gaussian_features,
    run_kernel_flow,
)
from ntkflow.cy.potential import n_spectral_inputs
from ntkflow.cy.sampling import sample_points
from ntkflow.cy.train import TrainingSet, fs_kappa, fs_metrics
from ntkflow.cy.variety import variety_from_name
from ntkflow.nets import MLP
from ntkflow.nets.trainable import trainable

N_TRAIN, N_TEST = 203, 50


@pytest.fixture(scope="module")
def quintic():
    X = variety_from_name("fermat-quintic")
    return X, sample_points(X, N_TRAIN + N_TEST, jax.random.PRNGKey(3))


@pytest.mark.parametrize("kernel", KERNELS)
def test_flow_same_on_one_and_four_devices(quintic, kernel):
    _, pts = quintic
    cfg = KernelFlowConfig(
        n_points=N_TRAIN,
        n_test=N_TEST,
        kernel=kernel,
        n_features=48,
        mlp_width=24,
        steps=20,
        eval_every=4,
        lengthscale=0.8,
    )
    h1, h4 = (run_kernel_flow(cfg, points=pts, mesh=parallel.point_mesh(m)) for m in (1, 4))
    assert h1["loss"][-1] < 0.9 * h1["loss"][0]  # the flow moves
    for name in ("sigma_train", "sigma_test", "loss"):
        np.testing.assert_allclose(h4[name], h1[name], rtol=1e-10, err_msg=name)
    np.testing.assert_allclose(h4["lambda_max"], h1["lambda_max"], rtol=1e-10)
    c1, c4 = h1["coefficients"], h4["coefficients"]
    assert c1.shape == c4.shape == (N_TRAIN, 9)
    np.testing.assert_allclose(c4, c1, rtol=1e-10, atol=1e-10 * np.abs(c1).max())


def test_padded_rows_keep_zero_coefficients_and_change_nothing(quintic):
    """On 4 devices the 203 points get one padded row (a copy of point 202, weight 0):
    δl/δp is exactly 0 there, so its coefficient stays exactly 0, and the flow equals the
    unsharded one computed without any padding."""
    X, pts = quintic
    tr, te = pts.split(N_TEST)
    sets0 = {"train": TrainingSet.from_points(X, tr), "test": TrainingSet.from_points(X, te)}
    kappa = fs_kappa(X, sets0["train"])
    p00 = {k: jax.vmap(pack_hermitian)(fs_metrics(X, s)) for k, s in sets0.items()}
    key = jax.random.PRNGKey(5)
    hists = []
    for mesh in (None, parallel.point_mesh(4)):
        sets = {k: s.shard(mesh) if mesh else s for k, s in sets0.items()}
        p0 = {k: parallel.shard_rows(v, mesh) for k, v in p00.items()}
        fk = gaussian_features(X, sets, 0.8, 48, key, mesh)
        hists.append(flow_features(fk, sets["train"], sets["test"], p0, kappa, X.dim, 20, 5))
    h0, h4 = hists
    c4 = parallel.gather(h4["coefficients"])
    assert c4.shape == (N_TRAIN + 1, 9)
    assert np.all(c4[N_TRAIN:] == 0.0)
    assert np.abs(c4[:N_TRAIN]).max() > 0
    np.testing.assert_allclose(c4[:N_TRAIN], h0["coefficients"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(h4["loss"], h0["loss"], rtol=1e-10)
    np.testing.assert_allclose(h4["sigma_test"], h0["sigma_test"], rtol=1e-10)


def test_chunked_tangent_maps_on_four_devices_equal_the_dense_jacobian(quintic):
    """J w and Jᵀ v, blocked (a few rows per block) and sharded over 4 devices, against the
    dense Jacobian ∂p(g(x_a))/∂θ from reverse-mode autodiff of the whole batch, unsharded,
    through the library's own pulled-back metric (MetricOutput)."""
    X, pts = quintic
    data = TrainingSet.from_points(X, pts.split(N_TEST)[0])
    xs = (data.z, data.jac)
    phi = MLP(n_spectral_inputs(X.ambient), "scalar", 12, 2, "gelu", key=jax.random.PRNGKey(1))
    out = ref_out = MetricOutput(FubiniStudy(X.ambient))

    params, static = eqx.partition(phi, trainable(phi))
    batch = lambda q: jax.vmap(lambda x: ref_out(eqx.combine(q, static), x))(xs)
    jac = jax.jacrev(batch)(params)  # leaves (N, d², *leaf shape)
    dense = np.concatenate(
        [np.asarray(j).reshape(N_TRAIN, 9, -1) for j in jax.tree.leaves(jac)], axis=-1
    )
    theta0 = ravel_pytree(params)[0]
    k1, k2 = jax.random.split(jax.random.PRNGKey(2))
    w = jax.random.normal(k1, theta0.shape, jnp.float64)
    v = np.asarray(jax.random.normal(k2, (N_TRAIN, 9), jnp.float64))

    mesh = parallel.point_mesh(4)
    rows = parallel.shard_rows(xs, mesh, N_TRAIN)
    # a budget of 256 KiB: blocks of 22 rows (two whole blocks and a remainder per device)
    theta, apply, transpose = chunked_tangent_maps(out, phi, rows, budget=2**18, mesh=mesh)
    np.testing.assert_array_equal(theta, theta0)
    vs = parallel.shard_rows(v, mesh, zero=lambda t: t)  # padded rows: v = 0
    jw = parallel.gather(jax.jit(apply)(theta, w, rows))[:N_TRAIN]
    jtv = np.asarray(jax.jit(transpose)(theta, vs, rows))
    ref_jw, ref_jtv = dense @ np.asarray(w), np.einsum("nkp,nk->p", dense, v)
    np.testing.assert_allclose(jw, ref_jw, rtol=1e-12, atol=1e-12 * np.abs(ref_jw).max())
    np.testing.assert_allclose(jtv, ref_jtv, rtol=1e-12, atol=1e-12 * np.abs(ref_jtv).max())


def test_float32_blocked_features_same_on_one_and_four_devices(quintic):
    """Features stored in float32 (a budget below their float64 size) and multiplied in blocks
    of 12 rows: Ψ a and Ψᵀ v on 4 devices equal the float64 products of the same rounded
    features computed by numpy."""
    X, pts = quintic
    data = TrainingSet.from_points(X, pts.split(N_TEST)[0])
    mesh = parallel.point_mesh(4)
    sets = {"train": data.shard(mesh), "test": data.shard(mesh)}
    fk = gaussian_features(X, sets, 0.8, 16, jax.random.PRNGKey(9), mesh, budget=12 * 9216)
    assert fk.features["train"].dtype == np.float32
    P32 = parallel.gather(fk.features["train"]).astype(np.float64)[:N_TRAIN]
    rng = np.random.default_rng(1)
    a, v = rng.normal(size=16), rng.normal(size=(N_TRAIN, 9))
    vs = parallel.shard_rows(v, mesh, zero=lambda t: t)
    ya = parallel.gather(jax.jit(lambda k, a: k.apply(a, "train"))(fk, a))[:N_TRAIN]
    yt = np.asarray(jax.jit(lambda k, v: k.transpose(v, "train"))(fk, vs))
    np.testing.assert_allclose(ya, np.einsum("nkr,r->nk", P32, a), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(yt, np.einsum("nkr,nk->r", P32, v), rtol=1e-12, atol=1e-15)
