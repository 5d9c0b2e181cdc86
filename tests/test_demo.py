"""The README's first command, `ntkflow demo`, on a small sample."""

import json

import pytest

from ntkflow.cli import main


def test_demo_lowers_sigma_from_fubini_study_through_balanced_to_trained(tmp_path, capsys):
    """σ_FS of the Fermat quintic is 0.372 (anchors.md; Douglas et al.), the balanced k = 2
    metric 0.273 (Donaldson's algorithm, published), and training lowers it further."""
    argv = ["demo", "--points", "6000", "--k", "2", "--steps", "3", "--out", tmp_path / "d.png"]
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv] + ["--json"])
    out = capsys.readouterr()
    assert (exc.value.code or 0) == 0, out.err
    r = json.loads(out.out)
    # 1 200 test points: Monte-Carlo error ≈ 0.005 on each σ
    assert abs(r["sigma_fubini_study"] - 0.372) < 0.015
    assert abs(r["sigma_balanced"] - 0.273) < 0.015
    assert r["sigma"] < 0.5 * r["sigma_balanced"]  # three L-BFGS steps: 0.276 -> 0.057
    assert (tmp_path / "d.png").stat().st_size > 10_000
