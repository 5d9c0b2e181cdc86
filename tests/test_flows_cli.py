"""`ntkflow flow ...` commands: one JSON object on stdout, clear errors."""

import json

from typer.testing import CliRunner

from ntkflow.cli import app

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
    assert out["widths"] == [16, 64] and len(out["distances"]) == 2
    assert (tmp_path / "o" / "ntk_change.png").exists()
    assert (tmp_path / "o" / "result.json").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "nope"\n')
    res = runner.invoke(app, ["flow", "run", str(bad), "--out", str(tmp_path / "b"), "--json"])
    assert res.exit_code != 0 and "kind must be" in res.output
    res = runner.invoke(app, ["flow", "ricci-limit", "--manifold", "klein", "--json"])
    assert res.exit_code != 0 and "--manifold" in res.output
