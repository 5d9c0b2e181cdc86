"""`ntkflow ricci-flow`: one JSON object on stdout, a PNG, clear errors."""

import json

from typer.testing import CliRunner

from ntkflow.cli import app


def run(args):
    return CliRunner().invoke(app, ["ricci-flow", *args])


def test_sphere3_json_and_plot(tmp_path):
    out = tmp_path / "rf.png"
    res = run(
        ["--manifold", "sphere3", "--radius", "1", "--t-end", "0.2", "--json", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout.strip().splitlines()[-1])
    assert data["t_end"] == 0.2
    assert data["relative_error"] < 1e-6
    # exact radius sqrt(1 − 4·0.2) computed here, not by the command
    assert abs(data["radius_exact"] - 0.2**0.5) < 1e-14
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_torus2_spread_shrinks(tmp_path):
    res = run(
        [
            "--manifold",
            "torus2",
            "--perturbation",
            "0.1",
            "--t-end",
            "0.5",
            "--size",
            "16",
            "--saves",
            "3",
            "--json",
            "--out",
            str(tmp_path / "t.png"),
        ]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout.strip().splitlines()[-1])
    assert 0 < data["curvature_spread"] < 0.5 * data["curvature_spread_initial"]


def test_past_singular_time_is_a_clear_error(tmp_path):
    res = run(
        ["--manifold", "sphere2", "--t-end", "0.5", "--json", "--out", str(tmp_path / "x.png")]
    )
    assert res.exit_code == 2
    assert "singular time" in res.output
    res = run(["--manifold", "klein", "--json"])
    assert res.exit_code == 2 and "--manifold" in res.output
