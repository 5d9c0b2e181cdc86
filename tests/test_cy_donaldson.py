"""Donaldson balanced metric at k = 2 against the published σ_2 = 0.273, and the CLI."""

import json

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from ntkflow.cli import app
from ntkflow.cy.donaldson import donaldson, monomial_basis
from ntkflow.cy.variety import fermat_quintic


def test_basis_dimensions():
    # h^0(X, O(k)) for the quintic: C(k+4,4) for k < 5, minus C(k-1,4) from Q·O(k-5)
    v = fermat_quintic()
    assert [monomial_basis(v, k).shape[0] for k in range(1, 7)] == [5, 15, 35, 70, 125, 205]


def test_sigma_k2():
    r = donaldson(fermat_quintic(), 2, jax.random.PRNGKey(2), n_points=20_000, n_test=6000)
    # anchors.md: σ_2 = 0.273 (cyjax, float64); within 5 % plus 3 standard errors
    assert abs(r["sigma"] - 0.273) < 0.05 * 0.273 + 3 * r["sigma_error"]
    assert abs(r["volume"] - 5.0) < 0.1  # same Kähler class as FS


def test_cli_sample_and_bad_file(tmp_path):
    runner = CliRunner()
    out = tmp_path / "p.npz"
    res = runner.invoke(
        app,
        [
            "cy",
            "sample",
            "--variety",
            "cubic-torus",
            "--points",
            "200",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout.strip().splitlines()[-1])
    assert payload["points"] == 200 and out.exists()
    empty = tmp_path / "e.npz"
    empty.write_bytes(b"")
    res = runner.invoke(app, ["cy", "measure", "--points", str(empty), "--json"])
    assert res.exit_code != 0
    res = runner.invoke(app, ["cy", "sample", "--variety", "dwork:psi=1", "--json"])
    assert res.exit_code != 0
    assert np.isfinite(payload["seconds"])


@pytest.mark.parametrize("bad", ["sextic"])
def test_cli_unknown_variety(bad):
    res = CliRunner().invoke(app, ["cy", "donaldson", "--variety", bad, "--k", "2", "--json"])
    assert res.exit_code != 0
