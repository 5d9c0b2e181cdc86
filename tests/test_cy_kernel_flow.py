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
