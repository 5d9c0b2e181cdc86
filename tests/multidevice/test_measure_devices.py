"""`cy measure` on 1 and 4 devices: det g of a balanced metric, and σ, volume, Ricci measure and
χ streamed from a shard directory (the library path and the command), float64."""

import json

import jax
import numpy as np
import pytest

from ntkflow import parallel
from ntkflow.cli import main
from ntkflow.cy.donaldson import balanced_metric, potential_det
from ntkflow.cy.measures import metric_measures
from ntkflow.cy.sampling import sample_points, sample_to_path
from ntkflow.cy.variety import variety_from_name

KEYS = ("sigma", "sigma_error", "volume", "volume_error", "ricci_measure", "euler_characteristic")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    v = variety_from_name("fermat-quintic")
    # 1003 points (not a multiple of 4: padded rows) in shards of 400
    d = sample_to_path(v, 1003, 0, tmp_path_factory.mktemp("pts") / "pts", shard_size=400)
    pot = balanced_metric(v, 2, sample_points(v, 2000, jax.random.PRNGKey(1)), 3)
    return v, d, pot


def test_potential_det_same_on_one_and_four_devices(setup):
    v, d, pot = setup
    ps = sample_points(v, 203, jax.random.PRNGKey(0))
    dets = [
        potential_det(v, pot, ps.z, ps.patch, ps.elim, mesh=m)
        for m in (None, parallel.point_mesh(1), parallel.point_mesh(4))
    ]
    for det in dets[1:]:
        np.testing.assert_allclose(det, dets[0], rtol=1e-12)


def test_streamed_measures_same_on_one_and_four_devices(setup):
    v, d, pot = setup
    runs = [
        metric_measures(v, pot, d, 41, mesh=m, chunk=600, check=m is None)
        for m in (None, parallel.point_mesh(4))
    ]
    (one, p1), (four, p4) = runs
    for k in KEYS:
        assert four[k] == pytest.approx(one[k], rel=1e-10), k
    np.testing.assert_allclose(p4["eta"], p1["eta"], rtol=1e-12)
    np.testing.assert_allclose(p4["ricci_scalar"], p1["ricci_scalar"], rtol=1e-9)


def test_cy_measure_devices_option(setup, capsys, monkeypatch):
    v, d, pot = setup
    monkeypatch.setenv("NTKFLOW_PROGRESS", "0")
    got = []
    for n in ("1", "4"):
        with pytest.raises(SystemExit) as exc:
            main(
                [
                    "cy",
                    "measure",
                    "--points",
                    str(d),
                    "--curvature-points",
                    "50",
                    "--devices",
                    n,
                    "--json",
                ]
            )
        out = capsys.readouterr().out
        assert int(exc.value.code or 0) == 0, out
        got.append(json.loads(out))
    assert [g["devices"] for g in got] == [1, 4] and got[0]["shards"] == 3
    for k in KEYS:
        assert got[1][k] == pytest.approx(got[0][k], rel=1e-10), k
