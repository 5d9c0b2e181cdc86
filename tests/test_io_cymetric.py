"""cymetric's dataset.npz layout: files built with cymetric's own recipe read back exactly,
ours load with plain NumPy in that layout, and malformed point files give PointsError."""

from __future__ import annotations

import numpy as np
import pytest

from ntkflow.io.cymetric import (
    PointsError,
    PointSplit,
    read_cymetric,
    read_points,
    split_points,
    write_cymetric,
    write_npz,
)


def _data(n=50, ncoords=5, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, ncoords)) + 1j * rng.normal(size=(n, ncoords))
    w = rng.uniform(0.5, 2.0, n)
    om = rng.uniform(0.1, 3.0, n)
    shape = (n, ncoords - 2, ncoords)
    pb = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    return z, w, om, pb


def _cymetric_style(path, z, w, om, pb, val_split=0.1):
    """What cymetric.pointgen.pointgen.prepare_dataset writes (its code, transcribed)."""
    weights, omega = w[:, None], om[:, None]
    t_i = int((1 - val_split) * len(z))
    np.savez_compressed(
        path,
        X_train=np.concatenate((z[:t_i].real, z[:t_i].imag), axis=-1),
        y_train=np.concatenate((weights[:t_i], omega[:t_i]), axis=1),
        train_pullbacks=pb[:t_i],
        X_val=np.concatenate((z[t_i:].real, z[t_i:].imag), axis=-1),
        y_val=np.concatenate((weights[t_i:], omega[t_i:]), axis=1),
        val_pullbacks=pb[t_i:],
        inv_mets_train=np.ones(3),  # extra arrays some versions add are ignored
    )
    return t_i


def test_reads_cymetric_written_file(tmp_path):
    z, w, om, pb = _data()
    p = tmp_path / "dataset.npz"
    t = _cymetric_style(p, z, w, om, pb)
    train, val = read_cymetric(p)
    assert len(train) == t == 45 and len(val) == 5
    np.testing.assert_array_equal(np.concatenate([train.points, val.points]), z)
    np.testing.assert_array_equal(np.concatenate([train.weights, val.weights]), w)
    np.testing.assert_array_equal(np.concatenate([train.omega_sq, val.omega_sq]), om)
    np.testing.assert_array_equal(val.pullbacks, pb[t:])
    both = read_points(p)
    np.testing.assert_array_equal(both["points"], z)
    np.testing.assert_array_equal(read_points(p, "val")["weights"], w[t:])


def test_written_file_is_in_cymetric_layout(tmp_path):
    z, w, om, pb = _data(seed=1)
    train, val = split_points(z, w, om, pb, val_fraction=0.1)
    p = write_cymetric(tmp_path / "dataset.npz", train, val)
    ref = tmp_path / "ref.npz"
    _cymetric_style(ref, z, w, om, pb)
    with np.load(p) as ours, np.load(ref) as theirs:
        for key in ("X_train", "y_train", "X_val", "y_val", "train_pullbacks", "val_pullbacks"):
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_ntkflow_points_layout(tmp_path):
    pts = np.random.default_rng(2).normal(size=(7, 3))
    p = write_npz(tmp_path / "pts.npz", points=pts, weights=np.ones(7))
    d = read_points(p)
    np.testing.assert_array_equal(d["points"], pts)
    assert set(d) == {"points", "weights"}


def test_ntkflow_point_set_layout(tmp_path):
    """The keys `ntkflow cy sample` writes (PointSet.save): z, weights, omega_sq, format."""
    z, w, om, _ = _data(n=6, seed=3)
    p = tmp_path / "ps.npz"
    np.savez(
        p,
        z=z,
        patch=np.zeros(6, np.int64),
        elim=np.ones(6, np.int64),
        weights=w,
        omega_sq=om,
        variety_name=np.array("quintic"),
        variety_json=np.array("{}"),
        format=np.array("ntkflow.pointset/1"),
    )
    d = read_points(p)
    np.testing.assert_array_equal(d["points"], z)
    np.testing.assert_array_equal(d["weights"], w)
    np.testing.assert_array_equal(d["omega_sq"], om)


def _good(tmp_path):
    z, w, om, pb = _data(n=20)
    p = tmp_path / "dataset.npz"
    _cymetric_style(p, z, w, om, pb)
    return p


def _arrays(p):
    with np.load(p) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "file is empty"),
        (lambda p: p.write_bytes(p.read_bytes()[:200]), "truncated or corrupt"),
        (lambda p: p.write_text("X_train,y_train\n1,2\n"), "not an .npz file"),
        (lambda p: np.savez(p, other=np.ones(3)), "no point array"),
        (
            lambda p: np.savez(p, **{k: v for k, v in _arrays(p).items() if k != "y_val"}),
            "not a cymetric dataset: no array 'y_val'",
        ),
        (
            lambda p: np.savez(p, **(_arrays(p) | {"X_train": np.ones((18, 9))})),
            r"expected shape \(N, 2\(n\+1\)\)",
        ),
        (
            lambda p: np.savez(p, **(_arrays(p) | {"y_train": np.ones((18, 1))})),
            r"y_train must have shape \(18, 2\)",
        ),
        (
            lambda p: np.savez(p, **(_arrays(p) | {"y_val": -np.ones((2, 2))})),
            "weights must be positive",
        ),
        (
            lambda p: np.savez(p, **(_arrays(p) | {"X_val": np.full((2, 10), np.nan)})),
            "points has NaN or inf",
        ),
        (
            lambda p: np.savez(p, **(_arrays(p) | {"val_pullbacks": np.ones((2, 3, 4))})),
            "pullbacks must have shape",
        ),
        (lambda p: np.save(p.open("wb"), np.array([{"a": 1}], dtype=object)), "not an .npz file"),
    ],
    ids=[
        "empty",
        "truncated",
        "text",
        "foreign-npz",
        "missing-key",
        "odd-columns",
        "y-columns",
        "negative-weights",
        "nan",
        "pullback-shape",
        "pickle",
    ],
)
def test_bad_point_files(tmp_path, make, message):
    p = _good(tmp_path)
    make(p)
    with pytest.raises(PointsError, match=message) as e:
        read_points(p)
    assert str(p) in str(e.value)


def test_missing_file_and_bad_split(tmp_path):
    with pytest.raises(PointsError, match="no such file"):
        read_cymetric(tmp_path / "nope.npz")
    with pytest.raises(PointsError, match="omega_sq must have shape"):
        write_cymetric(
            tmp_path / "x.npz",
            PointSplit(np.ones((3, 2), complex), np.ones(3), np.ones(2)),
            PointSplit(np.ones((1, 2), complex), np.ones(1), np.ones(1)),
        )
