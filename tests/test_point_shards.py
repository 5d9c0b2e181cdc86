"""Out-of-core point sets: blocked sampling (any row range alone, identically), shard
directories written atomically with a manifest, the streaming reader and its one-line errors,
and σ/volume streamed chunk by chunk equal to the in-memory measures."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

import ntkflow.cy.sampling as sampling
from ntkflow.cli import main
from ntkflow.cy.donaldson import balanced_metric, potential_det
from ntkflow.cy.fubini_study import FubiniStudy
from ntkflow.cy.measures import (
    SigmaVolumeStream,
    sigma_measure,
    stream_sigma_volume,
    volume,
    volume_error,
)
from ntkflow.cy.points import (
    MANIFEST,
    PointSet,
    PointSetError,
    PointSource,
    concatenate,
    iter_point_chunks,
    write_shards,
)
from ntkflow.cy.sampling import sample_points, sample_rows, sample_to_path
from ntkflow.cy.variety import variety_from_name

BLOCK = 64  # small blocks, so that a few hundred points span several


@pytest.fixture(autouse=True)
def _small_blocks(monkeypatch):
    monkeypatch.setattr(sampling, "SAMPLE_BLOCK", BLOCK)
    monkeypatch.setenv("NTKFLOW_PROGRESS", "0")


@pytest.fixture(scope="module")
def quintic():
    return variety_from_name("fermat-quintic")


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory, quintic):
    """470 points in shards of 128 (the last one 86 rows) and the same points in one file."""
    root = tmp_path_factory.mktemp("shards")
    old = sampling.SAMPLE_BLOCK
    sampling.SAMPLE_BLOCK = BLOCK
    try:
        d = sample_to_path(quintic, 470, 7, root / "pts.npz", shard_size=128)
        f = sample_to_path(quintic, 470, 7, root / "one.npz", shard_size=1000)
    finally:
        sampling.SAMPLE_BLOCK = old
    return d, f


def _arrays(ps):
    return [np.asarray(a) for a in (ps.z, ps.patch, ps.elim, ps.weights, ps.omega_sq)]


# ---- blocked sampling ---------------------------------------------------------------------


def test_block_sampling_is_independent_of_how_the_rows_are_split(quintic):
    key = jax.random.PRNGKey(3)
    whole = sample_rows(quintic, 300, key)
    assert len(whole) == 300
    for cuts in ((0, 1, 64, 65, 300), (0, 150, 300), (0, 17, 128, 129, 250, 300)):
        parts = [sample_rows(quintic, 300, key, a, b) for a, b in zip(cuts, cuts[1:], strict=False)]
        for got, want in zip(_arrays(concatenate(parts)), _arrays(whole), strict=True):
            np.testing.assert_array_equal(got, want)
    # block b is sample_points(min(B, n - b B), fold_in(key, b)); the last block is short
    last = sample_points(quintic, 300 - 4 * BLOCK, jax.random.fold_in(key, 4))
    np.testing.assert_array_equal(np.asarray(whole.z)[4 * BLOCK :], np.asarray(last.z))
    whole.check(quintic)


def test_sample_rows_refuses_a_range_outside_the_sample(quintic):
    with pytest.raises(sampling.SamplingError, match="not within"):
        sample_rows(quintic, 10, jax.random.PRNGKey(0), 5, 11)


# ---- shard directories --------------------------------------------------------------------


def test_shards_round_trip_equal_one_file(shard_dir):
    d, f = shard_dir
    assert d.is_dir() and d.name == "pts" and f.is_file()
    manifest = json.loads((d / MANIFEST).read_text())
    assert manifest["points"] == 470 and manifest["seed"] == 7
    assert [s["rows"] for s in manifest["shards"]] == [128, 128, 128, 86]
    assert sorted(p.name for p in d.iterdir()) == [
        MANIFEST,
        *(f"shard-0000{i}.npz" for i in range(4)),
    ]
    assert not [p for p in d.parent.iterdir() if p.name.startswith(".")]  # no temporaries
    one, many = PointSet.load(f), PointSet.load(d)
    for a, b in zip(_arrays(one), _arrays(many), strict=True):
        np.testing.assert_array_equal(a, b)
    for s in manifest["shards"]:  # each shard a point file of its own
        assert len(PointSet.load(d / s["file"])) == s["rows"]
    assert many.variety_name == "fermat-quintic"
    chunks = list(PointSource.open(d).labelled_chunks(100))
    assert [len(c) for _, c in chunks] == [100] * 4 + [70]  # chunks span shards
    assert chunks[1][0].endswith("(points 100..199, shard-00000.npz..shard-00001.npz)")
    np.testing.assert_array_equal(np.concatenate([c.z for _, c in chunks]), np.asarray(one.z))
    chunks = list(iter_point_chunks(f, 100))
    np.testing.assert_array_equal(np.concatenate([c.z for c in chunks]), np.asarray(one.z))
    head = PointSource.open(d).head(200)
    np.testing.assert_array_equal(np.asarray(head.weights), np.asarray(one.weights)[:200])


def test_a_shard_directory_is_replaced_whole_and_a_failed_write_leaves_nothing(tmp_path, quintic):
    out = sample_to_path(quintic, 200, 1, tmp_path / "p", shard_size=64)
    assert len(PointSet.load(out)) == 200
    sample_to_path(quintic, 130, 2, tmp_path / "p", shard_size=64)  # overwrite
    assert len(PointSet.load(out)) == 130 and len(list(out.iterdir())) == 4

    def boom(a, b, advance):
        if a > 0:
            raise RuntimeError("disk on fire")
        return sample_rows(quintic, 200, jax.random.PRNGKey(1), a, b)

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_shards(tmp_path / "q", [64, 64, 72], boom, {})
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_shards(tmp_path / "p", [64, 64, 72], boom, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]  # old one intact, no temporaries
    assert len(PointSet.load(out)) == 130


def test_cy_sample_writes_shards_and_measure_streams_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = _cli(
        ["cy", "sample", "--points", "300", "--shard-size", "128", "--json"], capsys
    )
    assert code == 0
    res = json.loads(out)
    assert res["out"] == "points" and res["shards"] == 3 and res["devices"] >= 1
    code, out, _ = _cli(
        ["cy", "sample", "--points", "300", "--shard-size", "300", "--out", "one.npz", "--json"],
        capsys,
    )
    assert code == 0 and json.loads(out)["shards"] == 1
    got = {}
    for name in ("points", "one.npz"):
        code, out, _ = _cli(
            ["cy", "measure", "--points", name, "--curvature-points", "20", "--json"], capsys
        )
        assert code == 0
        got[name] = json.loads(out)
    a, b = got["points"], got["one.npz"]
    assert a["shards"] == 3 and b["shards"] == 0 and a["points"] == b["points"] == 300
    for k in ("sigma", "sigma_error", "volume", "ricci_measure", "euler_characteristic"):
        assert a[k] == pytest.approx(b[k], rel=1e-12, abs=1e-15), k
    ps = PointSet.load(tmp_path / "points")
    det = potential_det(ps.variety(), FubiniStudy((4,)), ps.z, ps.patch, ps.elim)
    sigma, err = sigma_measure(det, ps.omega_sq, ps.weights)
    assert a["sigma"] == pytest.approx(sigma, rel=1e-12)
    assert a["sigma_error"] == pytest.approx(err, rel=1e-10)


# ---- streamed measures --------------------------------------------------------------------


@pytest.fixture(scope="module")
def balanced(quintic):
    """A metric with non-constant η (FS has η w constant, hence no volume error to test)."""
    return balanced_metric(quintic, 2, sample_points(quintic, 1500, jax.random.PRNGKey(11)), 2)


def test_streamed_sigma_and_volume_equal_the_in_memory_ones(shard_dir, quintic, balanced):
    d, _ = shard_dir
    ps = PointSet.load(d)
    det = potential_det(quintic, balanced, ps.z, ps.patch, ps.elim)
    sigma, sigma_err = sigma_measure(det, ps.omega_sq, ps.weights)
    vol, vol_err = (f(det, ps.omega_sq, ps.weights) for f in (volume, volume_error))
    for points, chunk, check in ((d, 200, True), (ps, None, False)):
        got, eta, head = stream_sigma_volume(
            quintic, balanced, points, keep=150, chunk=chunk, check=check
        )
        assert got["sigma"] == pytest.approx(sigma, rel=1e-12)
        assert got["sigma_error"] == pytest.approx(sigma_err, rel=1e-10)
        assert got["volume"] == pytest.approx(vol, rel=1e-12)
        assert got["volume_error"] == pytest.approx(vol_err, rel=1e-9)
        np.testing.assert_allclose(eta, np.asarray(det) / np.asarray(ps.omega_sq), rtol=1e-13)
        np.testing.assert_array_equal(np.asarray(head.z), np.asarray(ps.z)[:150])
    # eta and w spilled to a temporary file when they exceed the budget: the same numbers
    old = SigmaVolumeStream.PASS_CHUNK
    SigmaVolumeStream.PASS_CHUNK = 37
    try:
        acc = SigmaVolumeStream(len(ps), budget=1000)
        assert acc._tmp is not None
        for a in range(0, len(ps), 200):
            sl = slice(a, a + 200)
            acc.add(det[sl], ps.omega_sq[sl], ps.weights[sl])
        res = acc.result()
        acc.close()
    finally:
        SigmaVolumeStream.PASS_CHUNK = old
    assert res["sigma"] == pytest.approx(sigma, rel=1e-12)
    assert res["volume_error"] == pytest.approx(vol_err, rel=1e-9)


# ---- errors -------------------------------------------------------------------------------


def _cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def _alter_manifest(d: Path, **change):
    mf = d / MANIFEST
    m = json.loads(mf.read_text())
    for k, fn in change.items():
        m[k] = fn(m[k])
    mf.write_text(json.dumps(m))


def _nan_weight(d: Path):
    f = d / "shard-00001.npz"
    with np.load(f) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["weights"][5] = np.nan
    np.savez(f, **arrays)


def _off_variety(d: Path):
    f = d / "shard-00002.npz"
    with np.load(f) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["z"][3, arrays["elim"][3]] *= 0.99
    np.savez(f, **arrays)


def _foreign_shard(d: Path):
    bicubic = variety_from_name("bicubic")
    sample_points(bicubic, 128, jax.random.PRNGKey(0)).save(d / "shard-00001.npz")


BROKEN = [
    ("missing-shard", lambda d: (d / "shard-00002.npz").unlink(), "no such point file"),
    ("truncated-shard", lambda d: _truncate(d / "shard-00001.npz"), "unreadable or truncated"),
    ("empty-shard", lambda d: (d / "shard-00000.npz").write_bytes(b""), "empty file"),
    ("foreign-shard", _foreign_shard, "the manifest says 'fermat-quintic'"),
    (
        "rows-disagree",
        lambda d: _alter_manifest(d, shards=lambda s: [{**s[0], "rows": 100}, *s[1:]]),
        "the shards hold",
    ),
    (
        "rows-disagree-total",
        lambda d: _alter_manifest(
            d, shards=lambda s: [{**s[0], "rows": 100}, *s[1:]], points=lambda n: n - 28
        ),
        "has 128 points, the manifest says 100",
    ),
    ("manifest-json", lambda d: (d / MANIFEST).write_text("{not json"), "unreadable manifest"),
    ("manifest-missing", lambda d: (d / MANIFEST).unlink(), "without manifest.json"),
    (
        "manifest-format",
        lambda d: _alter_manifest(d, format=lambda f: "other/1"),
        "unknown point-shard format",
    ),
    (
        "manifest-escape",
        lambda d: _alter_manifest(d, shards=lambda s: [{**s[0], "file": "../one.npz"}, *s[1:]]),
        "malformed manifest",
    ),
    ("nan-weight", _nan_weight, "NaN or inf"),
    ("off-variety", _off_variety, "off fermat-quintic"),
]


def _truncate(f: Path):
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("case", BROKEN, ids=[c[0] for c in BROKEN])
def test_broken_shard_directories_are_one_line_exit_2(
    case, shard_dir, tmp_path, monkeypatch, capsys
):
    name, breaker, words = case
    d = tmp_path / "pts"
    shutil.copytree(shard_dir[0], d)
    breaker(d)
    with pytest.raises(PointSetError, match=words.replace("(", r"\(")):
        PointSource.open(d)
        list(iter_point_chunks(d, 100))
        stream_sigma_volume(
            variety_from_name("fermat-quintic"), FubiniStudy((4,)), d, chunk=100, check=True
        )
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    code, out, err = _cli(["cy", "measure", "--points", "pts", "--curvature-points", "10"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and out == "", err
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], err
    assert "Traceback" not in err and sorted(os.listdir(tmp_path)) == before


def test_cy_sample_refuses_to_overwrite_what_is_not_a_point_set(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep\n")
    code, _, err = _cli(
        ["cy", "sample", "--points", "200", "--shard-size", "100", "--out", "mine"], capsys
    )
    assert code == 2 and "not a point-shard directory" in err
    assert os.listdir(tmp_path / "mine") == ["notes.txt"]
    (tmp_path / "dir.npz").mkdir()
    code, _, err = _cli(["cy", "sample", "--points", "20", "--out", "dir.npz"], capsys)
    assert code == 2 and "is a directory" in err
    code, _, err = _cli(
        ["cy", "sample", "--points", "10000000000", "--shard-size", "1000000"], capsys
    )
    assert code == 2 and "of disk" in err
    assert sorted(os.listdir(tmp_path)) == ["dir.npz", "mine"]


def test_two_processes_write_their_own_shards_of_the_same_sample(tmp_path, monkeypatch):
    """`cy sample` as two processes of one run (the environment contract of
    ntkflow.parallel): each writes its own shards, process 0 the manifest; the points are
    those of a single-process run."""
    import subprocess
    import sys

    from conftest import free_coordinator_port

    port = free_coordinator_port()
    monkeypatch.setattr(sampling, "SAMPLE_BLOCK", 256)  # the block size of the subprocesses
    code = "import ntkflow.cy.sampling as s; s.SAMPLE_BLOCK = 256; from ntkflow.cli import main"
    code += "; main()"
    argv = [sys.executable, "-c", code, "cy", "sample", "--points", "700"]
    argv += ["--shard-size", "200", "--out", "mp", "--json"]
    procs = []
    for pid in range(2):
        env = dict(os.environ, NTKFLOW_PROGRESS="0", NTKFLOW_COORDINATOR=f"localhost:{port}")
        env.update(NTKFLOW_NUM_PROCESSES="2", NTKFLOW_PROCESS_ID=str(pid))
        env.pop("XLA_FLAGS", None)
        procs.append(
            subprocess.Popen(
                argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        )
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()[-2000:]
        # the last line: gloo itself prints "[Gloo] Rank 0 is connected ..." on stdout
        assert json.loads(out.decode().strip().splitlines()[-1])["processes"] == 2
    assert sorted(os.listdir(tmp_path)) == ["mp"]
    got = PointSet.load(tmp_path / "mp")
    want = sample_rows(variety_from_name("fermat-quintic"), 700, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(np.asarray(got.z), np.asarray(want.z))
