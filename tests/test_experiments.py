"""The paper's experiments on the quintic: locality of fixed kernels and feature learning.

Checks against things the experiment code does not produce: the closed-form Fubini–Study
distance on P⁴, the exact δ-kernel limit (gain exactly 1 out of reach, zero training loss),
first-order Taylor agreement of the linearised network, and the centred network starting at
Fubini–Study.
"""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from ntkflow.cli import app
from ntkflow.cy.fubini_study import FubiniStudy
from ntkflow.cy.potential import PhiPotential, n_spectral_inputs
from ntkflow.cy.sampling import sample_points
from ntkflow.cy.train import TrainingSet, eta, fs_kappa, sigma_from_eta
from ntkflow.cy.variety import fermat_quintic
from ntkflow.experiments.feature_learning import Centred
from ntkflow.experiments.locality import (
    LocalityConfig,
    evaluation_points,
    flow_fixed_kernel,
    pointwise_loss,
)
from ntkflow.flows import LinearisedMetric
from ntkflow.nets import MLP, trainable

runner = CliRunner()


def _json(result):
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def quintic_points():
    X = fermat_quintic()
    return X, sample_points(X, 24, jax.random.PRNGKey(3))


def test_evaluation_points_match_closed_form_fs_distance(quintic_points):
    """The chart-segment FS length δ bounds the ambient P⁴ distance
    d = √(2/π) arccos(|⟨z, w⟩|/(|z||w|)) from above and equals it to leading order."""
    X, pts = quintic_points
    base = pts.take(np.arange(6))
    dists = (1e-6, 1e-3, 0.05)
    z, resid = evaluation_points(X, base, dists, jax.random.PRNGKey(0))
    assert float(jnp.max(resid)) < 1e-10
    assert float(jnp.max(jnp.abs(jax.vmap(jax.vmap(X.equations))(z)))) < 1e-10
    for i, delta in enumerate(dists):
        w, z0 = np.asarray(z[i]), np.asarray(base.z)
        c = np.abs(np.sum(z0.conj() * w, 1)) / (
            np.linalg.norm(z0, axis=1) * np.linalg.norm(w, axis=1)
        )
        d_amb = np.sqrt(2 / np.pi) * np.arccos(np.minimum(c, 1.0))
        if delta >= 1e-3:  # arccos near 1 loses half the digits; compare only where it resolves
            assert np.all(d_amb <= delta * (1 + 1e-6))
            assert np.all(d_amb >= delta * (1 - 0.2 * delta / 0.05)), (delta, d_amb)


def test_delta_kernel_fits_every_point_and_reaches_nothing(quintic_points):
    """With K = identity the flow decouples point by point and each pointwise loss → 0."""
    X, pts = quintic_points
    data = TrainingSet.from_points(X, pts)
    fs = FubiniStudy(X.ambient)
    from ntkflow.cy.kahler_ntk import pack_hermitian

    p0 = jax.vmap(lambda z, J: pack_hermitian(J @ fs.ambient_metric(z) @ J.conj().T))(
        data.z, data.jac
    )
    kappa = fs_kappa(X, data)
    before = pointwise_loss(p0, data.omega_sq, kappa, X.dim)
    ones = jnp.ones(len(pts))
    c, final, dt = flow_fixed_kernel(jnp.eye(len(pts)), p0, ones, data.omega_sq, kappa, X.dim, 3000)
    after = pointwise_loss(p0 + c, data.omega_sq, kappa, X.dim)
    assert float(jnp.mean(before)) > 1e-2
    assert float(jnp.max(after)) < 1e-16
    assert final < 1e-16 and dt > 0


def test_reproduce_locality_cli_local_kernels_decay_to_exactly_one(tmp_path):
    out = _json(
        runner.invoke(
            app,
            [
                "reproduce",
                "locality",
                "--train-points",
                "16",
                "--eval-points",
                "4",
                "--distances",
                "1e-9,1e-4,0.3",
                "--kernels",
                "delta,gaussian",
                "--gaussian-width",
                "1e-3",
                "--flow-steps",
                "400",
                "--net-steps",
                "10",
                "--out-dir",
                str(tmp_path),
                "--json",
            ],
        )
    )
    assert out["distances"] == [1e-9, 1e-4, 0.3]
    g_delta, g_gauss = out["gains"]["delta"], out["gains"]["gaussian"]
    # at 1e-9 both local kernels reproduce the fitted training metric: large gain
    assert g_delta[0] > 1e3 and g_gauss[0] > 1e3
    # beyond the kernel width the metric is untouched: the gain is 1 to rounding
    assert abs(g_delta[1] - 1) < 1e-9 and abs(g_delta[2] - 1) < 1e-9
    assert abs(g_gauss[2] - 1) < 1e-9
    assert np.all(np.isfinite(out["gains"]["network"]))
    assert out["train_loss"]["delta"] < 1e-12
    assert (tmp_path / "locality.png").exists()


def test_reproduce_feature_learning_cli(tmp_path):
    """Frozen kernels cannot move: the linearised network's and the Gaussian features'
    potential NTK change is 0 to rounding, while the trained networks' is not; each run
    states whether its stopping rule held; the report and figures are written."""
    out = _json(
        runner.invoke(
            app,
            [
                "reproduce",
                "feature-learning",
                *(
                    "--widths",
                    "8,32",
                    "--seeds",
                    "2",
                    "--regimes",
                    "ntk,analytic,linearised,gaussian",
                ),
                *("--train-points", "30", "--test-points", "20", "--ntk-points", "8"),
                *("--max-steps", "6", "--window", "2", "--out-dir", str(tmp_path), "--json"),
            ],
        )
    )
    assert out["widths"] == [8, 32]
    for key in ("sigma_test_by_width", "ntk_change_by_width"):
        assert len(out[key]["mean"]) == len(out[key]["std"]) == 2
    assert set(out["frozen_sigma_test"]) == {"analytic", "linearised", "gaussian"}
    assert len(out["converged"]) == 2 * 2 + 3
    assert all("at most 6 steps" in c["criterion"] for c in out["converged"])
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    for r in runs:
        if r["regime"] in ("analytic", "linearised", "gaussian"):
            assert r["ntk_change"] < 1e-12
        else:
            assert r["ntk_change"] > 1e-6
        assert r["losses"][0] == r["loss_initial"] and len(r["losses"]) == r["steps"] + 1
    assert np.isfinite(out["ntk_change_slope"]) and "standard" not in out
    assert "| 32 |" in (tmp_path / "report.md").read_text()
    for f in ("sigma_test_vs_width", "ntk_change_vs_width", "metric_ntk_spectrum"):
        assert (tmp_path / f"{f}.png").exists()
    res = runner.invoke(
        app,
        ["reproduce", "feature-learning", "--regimes", "nope", "--out-dir", str(tmp_path)],
    )
    assert res.exit_code == 2 and "unknown regime" in res.output
    res = runner.invoke(app, ["reproduce", "feature-learning", "--widths", "8,x"])
    assert res.exit_code == 2


def test_locality_rejects_bad_config():
    with pytest.raises(ValueError, match="unknown kernel"):
        LocalityConfig(kernels=("laplace",))
    with pytest.raises(ValueError, match="distances"):
        LocalityConfig(distances=(0.0, 1.0))


def test_linearised_network_is_first_order_taylor():
    """φ_lin(δ) = φ(θ₀ + δ) − φ(θ₀) + O(|δ|²): halving δ quarters the difference."""
    m = n_spectral_inputs((4,))
    phi = MLP(m, "scalar", 16, 2, "gelu", parameterization="standard", key=jax.random.PRNGKey(0))
    lin = LinearisedMetric.around(phi, centred=True)
    u = jax.random.normal(jax.random.PRNGKey(1), (m,))
    params, static = eqx.partition(phi, trainable(phi))
    direction = jax.tree.map(lambda p: jax.random.normal(jax.random.PRNGKey(2), p.shape), params)
    errs = []
    for eps in (1e-2, 5e-3):
        delta = jax.tree.map(lambda d, eps=eps: eps * d, direction)
        moved = eqx.combine(jax.tree.map(jnp.add, params, delta), static)
        lin_d = eqx.tree_at(lambda m_: m_.delta, lin, delta)
        errs.append(abs(float(lin_d(u)) - (float(moved(u)) - float(phi(u)))))
    assert errs[0] > 0
    assert 3.5 < errs[0] / errs[1] < 4.5


def test_centred_network_starts_at_fubini_study(quintic_points):
    X, pts = quintic_points
    data = TrainingSet.from_points(X, pts)
    fs = FubiniStudy(X.ambient)
    wide = MLP(n_spectral_inputs(X.ambient), "scalar", 64, 2, "gelu", key=jax.random.PRNGKey(4))
    s_fs = sigma_from_eta(eta(PhiPotential(lambda u: jnp.zeros(()), fs), data), data.weights)
    s_c = sigma_from_eta(eta(PhiPotential(Centred(wide, wide), fs), data), data.weights)
    s_raw = sigma_from_eta(eta(PhiPotential(wide, fs), data), data.weights)
    assert abs(float(s_c) - float(s_fs)) < 1e-12
    assert abs(float(s_raw) - float(s_fs)) > 1e-3  # the uncentred network does move the metric
