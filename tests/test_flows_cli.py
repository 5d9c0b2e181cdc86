"""`ntkflow flow ...` commands: one JSON object on stdout, clear errors."""

import json

import numpy as np
from typer.testing import CliRunner

from ntkflow.cli import app
from ntkflow.flows.width_limit import width_limit

runner = CliRunner()


def _json(result):
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1
    return json.loads(lines[0])


def test_run_config_and_errors(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('kind = "width-limit"\nwidths = [16, 64]\npoints = 4\nt = 0.5\nlr = 0.05\n')
    out = _json(
        runner.invoke(app, ["flow", "run", str(cfg), "--out", str(tmp_path / "o"), "--json"])
    )
    # the command reports the library's width-limit comparison for the config's values
    ref = width_limit((16, 64), points=4, t=0.5, lr=0.05)
    assert out["widths"] == [16, 64] and out["t"] == ref["t"] == 0.5
    np.testing.assert_allclose(out["distances"], ref["distances"], rtol=1e-12)
    np.testing.assert_allclose(out["ntk_changes"], ref["ntk_changes"], rtol=1e-12)
    # finite-width gradient descent approaches the infinite-width kernel flow (Jacot et al.):
    # distance and NTK change shrink with width, like N^{-1/2} (ratio 1/2 for 4x the width)
    assert out["distances"][1] < 0.75 * out["distances"][0]
    assert out["ntk_changes"][1] < 0.75 * out["ntk_changes"][0]
    assert (tmp_path / "o" / "ntk_change.png").exists()
    saved = json.loads((tmp_path / "o" / "result.json").read_text())
    np.testing.assert_allclose(saved["distances"], out["distances"], rtol=1e-12)
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "nope"\n')
    res = runner.invoke(app, ["flow", "run", str(bad), "--out", str(tmp_path / "b"), "--json"])
    assert res.exit_code != 0 and "kind must be" in res.output
    res = runner.invoke(app, ["flow", "ricci-limit", "--manifold", "klein", "--json"])
    assert res.exit_code != 0 and "--manifold" in res.output


def test_ricci_limit_reports_lengthscales_distances_and_order():
    from ntkflow.flows.ricci_limit import ricci_limit

    args = ["flow", "ricci-limit", "--manifold", "torus2", "--t", "0.05", "--json"]
    out = _json(runner.invoke(app, [*args, "--lengthscales", "0.2,0.1,0.05"]))
    assert {"lengthscales", "distances", "order", "points", "t"} <= set(out)
    assert out["lengthscales"] == [0.2, 0.1, 0.05] and out["t"] == 0.05
    # the library's distances (spectral Galerkin flow against geometry.ricci_flow)
    ref = ricci_limit("torus2", (0.2, 0.1, 0.05), 0.05)
    np.testing.assert_allclose(out["distances"], ref["distances"], rtol=1e-9)
    assert np.all(np.diff(out["distances"]) < 0) and abs(out["order"] - 2) < 0.2
    # the deprecated --sigmas is the same option
    old = _json(runner.invoke(app, [*args, "--sigmas", "0.2,0.1"]))
    np.testing.assert_allclose(old["distances"], out["distances"][:2], rtol=1e-9)
    for bad in (["--lengthscales", "0.1,-0.2"], ["--manifold", "klein"]):
        res = runner.invoke(app, ["flow", "ricci-limit", *bad, "--json"])
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output


def test_ricci_limit_single_lengthscale_has_no_order(tmp_path):
    # one lengthscale fits no order: the JSON says null and the plot has no order in its title
    for flag, value in (("--lengthscales", "0.3"), ("--sigmas", "0.6")):
        png = tmp_path / f"{flag[2:]}.png"
        args = ["flow", "ricci-limit", "--manifold", "sphere2", flag, value, "--plot", str(png)]
        out = _json(runner.invoke(app, [*args, "--json"]))
        assert out["lengthscales"] == [float(value)] and len(out["distances"]) == 1
        assert out["order"] is None
        assert png.is_file()
