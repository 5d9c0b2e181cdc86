"""The frozen-kernel Kähler flow (ntkflow.cy.kernel_flow) in its δ-kernel limit.

With a Gaussian kernel whose lengthscale (10⁻⁶) is far below the spacing of the points, the
kernel matrix on the training points is the identity to machine precision, so eq. 1.2
decouples: each point's packed metric p_a follows its own gradient flow
dp_a/dt = −∂l/∂p_a and reaches its own minimiser det g_a = κ|Ω_a|² (η_a/κ = 1), driving the
training loss to zero; the kernel reaches no other point, so the held-out σ does not move.
"""

import jax
import numpy as np
import pytest

import ntkflow  # noqa: F401  (float64)
from ntkflow.cy.kahler_ntk import pack_hermitian
from ntkflow.cy.kernel_flow import FeatureKernel, flow_features, packed_eta
from ntkflow.cy.potential import spectral_inputs
from ntkflow.cy.sampling import sample_points
from ntkflow.cy.train import TrainingSet, fs_kappa, fs_metrics
from ntkflow.cy.variety import fermat_quintic
from ntkflow.kernels import gaussian_matrix


@pytest.fixture(scope="module")
def quintic():
    X = fermat_quintic()
    pts = sample_points(X, 40, jax.random.PRNGKey(11))
    tr, te = pts.split(10)
    return X, TrainingSet.from_points(X, tr), TrainingSet.from_points(X, te)


def delta_kernel(X, sets, lengthscale):
    """Features Ψ(x) = [k(u(x), u(x_b))]_b ⊗ I on the packed components: Θ = Ψ Ψᵀ."""
    u = {k: jax.vmap(lambda z: spectral_inputs(z, X.ambient))(s.z) for k, s in sets.items()}
    feats = {k: gaussian_matrix(u[k], u["train"], lengthscale) for k in sets}
    n, m = u["train"].shape[0], X.dim**2
    return FeatureKernel(
        feats,
        lambda P, a: P @ a.reshape(n, m),
        lambda P, v: (P.T @ v).reshape(-1),
        n * m,
    )


def test_delta_kernel_flow_fits_each_training_point_and_nothing_else(quintic):
    X, train, test = quintic
    sets = {"train": train, "test": test}
    fk = delta_kernel(X, sets, 1e-6)
    np.testing.assert_array_equal(fk.features["train"], np.eye(len(train)))  # Θ = I exactly
    assert np.max(np.asarray(fk.features["test"])) == 0.0
    kappa = fs_kappa(X, train)
    p0 = {k: jax.vmap(pack_hermitian)(fs_metrics(X, s)) for k, s in sets.items()}
    hist = flow_features(fk, train, test, p0, kappa, X.dim, steps=3000, eval_every=1000)
    assert hist["loss"][0] > 1e-2  # Fubini–Study is far from Ricci-flat
    assert hist["loss"][-1] < 1e-10 * hist["loss"][0]
    # each point at its own minimiser: η_a = κ (the closed-form solution of the decoupled flow)
    p = p0["train"] + fk.apply(fk.transpose(hist["coefficients"], "train"), "train")
    np.testing.assert_allclose(packed_eta(p, train.omega_sq, X.dim) / kappa, 1.0, atol=1e-6)
    assert hist["sigma_train"][-1] < 1e-5
    # a δ-kernel changes nothing away from its points: held-out σ stays exactly where it was
    assert len(set(hist["sigma_test"])) == 1


def test_cli_starts_at_fubini_study_and_keeps_the_old_flag(tmp_path):
    """`cy kernel-flow` starts at Fubini–Study: held-out σ ≈ 0.372 on the Fermat quintic
    (anchors.md) before the flow; `--width` is the old name of `--lengthscale`."""
    import json

    from typer.testing import CliRunner

    from ntkflow.cli import app

    args = ["cy", "kernel-flow", "--points", "200", "--test-points", "2000", "--features", "32"]
    args += ["--steps", "4", "--eval-every", "2", "--out-dir", str(tmp_path), "--json"]
    outs = []
    for flag in ("--lengthscale", "--width"):
        res = CliRunner().invoke(app, [*args, flag, "0.8"])
        assert res.exit_code == 0, res.output
        outs.append(json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1]))
    a, b = outs
    assert abs(a["sigma_test_initial"] - 0.372) < 0.03
    assert a["sigma_train_history"] == b["sigma_train_history"]
    assert a["sigma_train"] < a["sigma_train_initial"]


def test_compiled_flow_step_at_100k_points_fits_the_budget():
    """XLA's memory analysis of the compiled Euler step and evaluation at 100 000 training
    (+ 2 000 held-out) points, from shapes only: above the memory budget the features are
    stored in float32 and multiplied in blocks, so the step holds Ψ once (no float64 or
    transposed copy) plus temporaries within half the budget."""
    import jax.numpy as jnp

    from ntkflow.cy.kernel_flow import (
        euler_steps,
        evaluate_flow,
        feature_dtype,
        gaussian_kernel,
    )
    from ntkflow.memory import compiled_bytes, memory_budget

    n, n_test, r, d = 100_000, 2_000, 512, 3
    budget = memory_budget()
    dtype = feature_dtype(n + n_test, r, d, budget)
    assert dtype == jnp.float32  # float64 Ψ (3.8 GB) is above the default 2 GiB budget
    S = jax.ShapeDtypeStruct
    feats = {"train": S((n, d * d, r), dtype), "test": S((n_test, d * d, r), dtype)}
    fk = gaussian_kernel(feats, mesh=None, budget=budget)

    def data(m):
        c = jnp.complex128
        return TrainingSet(
            S((m, 5), c), S((m, d, 5), c), S((m,), jnp.float64), S((m,), jnp.float64)
        )

    tr, te = data(n), data(n_test)
    p = {"train": S((n, d * d), jnp.float64), "test": S((n_test, d * d), jnp.float64)}
    scalar = S((), jnp.float64)
    step = lambda fk, tr, p0, C, k, dt: euler_steps(fk, tr, p0, C, k, dt, d, 5)
    evaluate = lambda fk, tr, te, p0, C, k: evaluate_flow(fk, tr, te, p0, C, k, d)
    psi = (n + n_test) * d * d * r * 4
    for used in (
        compiled_bytes(step, fk, tr, p["train"], p["train"], scalar, scalar),
        compiled_bytes(evaluate, fk, tr, te, p, p["train"], scalar),
    ):
        assert used < psi + budget // 2, (used / 2**30, psi / 2**30)
    assert psi + budget // 2 < 2 * psi  # below the float64 features alone


def test_float32_features_give_the_products_of_the_rounded_features():
    """Above the budget Ψ is stored in float32 and multiplied in blocks (upcast to float64
    each): Ψ a and Ψᵀ v equal the float64 products of the rounded features (numpy), and the
    rounding moves them by ~1e-7 relative to the float64 features."""
    from ntkflow.cy.kernel_flow import gaussian_features

    X = fermat_quintic()
    pts = sample_points(X, 130, jax.random.PRNGKey(4))
    tr, te = pts.split(30)
    sets = {"train": TrainingSet.from_points(X, tr), "test": TrainingSet.from_points(X, te)}
    key = jax.random.PRNGKey(9)
    full = gaussian_features(X, sets, 0.8, 16, key)  # float64: fits the default budget
    # budget below the float64 features (130·9·16·8 B): float32, 12 rows (budget/(8·9·16·8)) a block
    low = gaussian_features(X, sets, 0.8, 16, key, budget=12 * 9216)
    assert full.features["train"].dtype == np.float64
    assert low.features["train"].dtype == np.float32
    P64 = np.asarray(full.features["train"])
    P32 = np.asarray(low.features["train"]).astype(np.float64)
    np.testing.assert_allclose(P32, P64, rtol=1e-6, atol=1e-7 * np.abs(P64).max())
    rng = np.random.default_rng(0)
    a, v = rng.normal(size=16), rng.normal(size=(100, 9))
    apply = jax.jit(lambda fk, a: fk.apply(a, "train"))
    transpose = jax.jit(lambda fk, v: fk.transpose(v, "train"))
    np.testing.assert_allclose(
        apply(low, a), np.einsum("nkr,r->nk", P32, a), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(
        transpose(low, v), np.einsum("nkr,nk->r", P32, v), rtol=1e-12, atol=1e-15
    )


def test_cli_devices_beyond_this_machine_is_one_line_and_exit_code_2(tmp_path):
    from typer.testing import CliRunner

    from ntkflow.cli import app

    n = len(jax.local_devices()) + 5
    args = ["cy", "kernel-flow", "--devices", str(n), "--points", "20", "--out-dir", str(tmp_path)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --devices"), res.stderr
    assert "xla_force_host_platform_device_count" in lines[0]  # says what to do
    assert not (tmp_path / "sigma_vs_time.png").exists()
