"""Bad input, one table: every refused command prints ONE line on stderr (``error: ...``)
naming what is wrong, exits with 2 (usage: an option, config or file to change) or 1
(runtime), shows no traceback, and writes nothing.

Each case runs ``ntkflow.cli.main`` in-process with the working directory set to an empty
folder that holds only the case's input files; the folder's listing before and after must be
equal (default outputs such as ``runs/`` or ``points.npz`` would land there).
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import numpy as np
import pytest

from ntkflow.cli import main

BIG = "10000000000"


@pytest.fixture(scope="module")
def point_file(tmp_path_factory) -> Path:
    """200 points on the Fermat quintic, written as `ntkflow cy sample` writes them."""
    from ntkflow.cy.sampling import sample_points
    from ntkflow.cy.variety import variety_from_name

    ps = sample_points(variety_from_name("fermat-quintic"), 200, jax.random.PRNGKey(0))
    return ps.save(tmp_path_factory.mktemp("pts") / "q.npz")


def _altered(src: Path, dst: Path, **change) -> None:
    with np.load(src) as f:
        d = {k: f[k] for k in f.files}
    for k, fn in change.items():
        d[k] = fn(d[k].copy())
    np.savez(dst, **d)


def _set(idx, value):
    def f(a):
        a[idx] = value
        return a

    return f


# name -> file content (bytes) or a callable(point_file, dst) writing it
FILES = {
    "misspelt.toml": b"n_point = 1000\n",
    "unknown.toml": b"foo = 1\n",
    "latin1.toml": "steps = 3 # café\n".encode("latin-1"),
    "flow_foo.toml": b'kind = "width-limit"\nfoo = 1\n',
    "flow_points.toml": b'kind = "width-limit"\npoints = "abc"\n',
    "flow_steps.toml": b'kind = "parameter"\nsteps = "x"\n',
    "flow_sigmas.toml": b'kind = "ricci-limit"\nsigmas = [-1.0]\n',
    "flow_kind.toml": b'kind = "width-limt"\n',
    "flow_nokind.toml": b"points = 3\n",
    "flow_latin1.toml": 'kind = "kernel" # café\n'.encode("latin-1"),
    "flow_inf.toml": b'kind = "kernel"\nt = inf\n',
    "patch.npz": lambda src, dst: _altered(src, dst, patch=_set(slice(0, 5), 7)),
    "elim.npz": lambda src, dst: _altered(src, dst, elim=_set(3, 9)),
    "negw.npz": lambda src, dst: _altered(src, dst, weights=lambda w: -w),
    "nanw.npz": lambda src, dst: _altered(src, dst, weights=_set(4, np.nan)),
    "off.npz": lambda src, dst: _altered(src, dst, z=lambda z: _fix1(0.9 * z)),
    "omega.npz": lambda src, dst: _altered(src, dst, omega_sq=lambda o: 2 * o),
    "good.npz": lambda src, dst: dst.write_bytes(src.read_bytes()),
    "notzip.npz": b"not a zip file",
}


def _fix1(z):
    """Keep the patch coordinate 1 (so the point is off the variety, not off its patch)."""
    i = np.argmax(np.abs(z), axis=1)
    z[np.arange(len(z)), i] = 1.0
    return z


# (id, argv, exit code, words the one line must contain)
CASES = [
    # cy train: options, config files, run directories
    ("train-steps-neg", ["cy", "train", "--steps", "-3"], 2, "--steps must be at least 1"),
    ("train-steps-zero", ["cy", "train", "--steps", "0"], 2, "--steps must be at least 1"),
    ("train-steps-text", ["cy", "train", "--steps", "x"], 2, "Invalid value for '--steps'"),
    ("train-unknown-flag", ["cy", "train", "--step", "3"], 2, "No such option: --step"),
    ("train-optimiser", ["cy", "train", "--optimizer", "lbgfs"], 2, "did you mean 'lbfgs'"),
    ("train-lr", ["cy", "train", "--lr", "-1"], 2, "--lr must be greater than 0"),
    ("train-lr-nan", ["cy", "train", "--lr", "nan"], 2, "--lr: expected a finite number"),
    ("train-dtype", ["cy", "train", "--dtype", "float16"], 2, "--dtype must be one of"),
    ("train-k", ["cy", "train", "--k", "-1"], 2, "--k must be at least 0"),
    ("train-variety", ["cy", "train", "--variety", "fermat-quintik"], 2, "unknown variety"),
    ("train-n-test", ["cy", "train", "--points", "10", "--n-test", "20"], 2, "n_test must be"),
    ("train-few-points", ["cy", "train", "--points", "50", "--n-test", "10"], 2, "sections"),
    ("train-huge", ["cy", "train", "--points", BIG], 2, "needs about"),
    (
        "train-config-key",
        ["cy", "train", "--config", "misspelt.toml"],
        2,
        "did you mean 'n_points'",
    ),
    (
        "train-config-unknown",
        ["cy", "train", "--config", "unknown.toml"],
        2,
        "unknown config key foo",
    ),
    ("train-config-utf8", ["cy", "train", "--config", "latin1.toml"], 2, "not a UTF-8 text file"),
    ("train-config-missing", ["cy", "train", "--config", "nope.toml"], 2, "config file not found"),
    ("train-run-dir-taken", ["cy", "train", "--run-dir", "taken"], 2, "already exists"),
    # cy measure: point files and options
    ("measure-patch", ["cy", "measure", "--points", "patch.npz"], 2, "patch index outside 0..4"),
    ("measure-elim", ["cy", "measure", "--points", "elim.npz"], 2, "elimination index"),
    ("measure-neg-weights", ["cy", "measure", "--points", "negw.npz"], 2, "weight"),
    ("measure-nan-weights", ["cy", "measure", "--points", "nanw.npz"], 2, "NaN or inf"),
    ("measure-off-variety", ["cy", "measure", "--points", "off.npz"], 2, "off fermat-quintic"),
    ("measure-omega", ["cy", "measure", "--points", "omega.npz"], 2, "does not match"),
    ("measure-not-npz", ["cy", "measure", "--points", "notzip.npz"], 2, "unreadable"),
    ("measure-missing", ["cy", "measure", "--points", "nope.npz"], 2, "no such point file"),
    (
        "measure-curv-0",
        ["cy", "measure", "--points", "good.npz", "--curvature-points", "0"],
        2,
        "'--curvature-points'",
    ),
    (
        "measure-curv-neg",
        ["cy", "measure", "--points", "good.npz", "--curvature-points", "-5"],
        2,
        "'--curvature-points'",
    ),
    (
        "measure-metric",
        ["cy", "measure", "--points", "good.npz", "--metric", "donaldson:k=0"],
        2,
        "donaldson:k=K must be an integer >= 1",
    ),
    (
        "measure-metric-name",
        ["cy", "measure", "--points", "good.npz", "--metric", "fubini"],
        2,
        "unknown metric",
    ),
    (
        "measure-run-missing",
        ["cy", "measure", "--points", "good.npz", "--metric", "run:nope"],
        1,
        "no such run directory",
    ),
    # cy sample, demo
    ("sample-huge", ["cy", "sample", "--points", BIG], 2, "needs about"),
    # more devices than the process has: refused before any work, with the flag that helps
    ("train-devices", ["cy", "train", "--devices", "64"], 2, "device_count=64"),
    ("donaldson-devices", ["cy", "donaldson", "--devices", "64"], 2, "device_count=64"),
    ("sample-zero", ["cy", "sample", "--points", "0"], 2, "'--points'"),
    ("sample-variety", ["cy", "sample", "--variety", "quintic"], 2, "unknown variety"),
    ("demo-points", ["demo", "--points", "10"], 2, "sections"),
    ("demo-k", ["demo", "--k", "0"], 2, "'--k'"),
    # flow run: TOML configs
    ("flow-unknown-key", ["flow", "run", "flow_foo.toml"], 2, "unknown config key foo"),
    ("flow-points-text", ["flow", "run", "flow_points.toml"], 2, "points: expected an integer"),
    ("flow-steps-text", ["flow", "run", "flow_steps.toml"], 2, "steps: expected an integer"),
    ("flow-sigmas-neg", ["flow", "run", "flow_sigmas.toml"], 2, "sigmas must be positive"),
    ("flow-kind", ["flow", "run", "flow_kind.toml"], 2, "did you mean 'width-limit'"),
    ("flow-no-kind", ["flow", "run", "flow_nokind.toml"], 2, "no 'kind' key"),
    ("flow-utf8", ["flow", "run", "flow_latin1.toml"], 2, "not a UTF-8 text file"),
    ("flow-inf", ["flow", "run", "flow_inf.toml"], 2, "finite"),
    ("flow-missing", ["flow", "run", "nope.toml"], 2, "config file not found"),
    ("flow-manifold", ["flow", "ricci-limit", "--manifold", "klein"], 2, "--manifold"),
    ("all-only", ["reproduce", "all", "--only", "locality,nope"], 2, "unknown experiment 'nope'"),
    # commands and run directories
    ("typo-command", ["cy", "trian"], 2, "Did you mean 'train'"),
    ("resume-not-run", ["resume", "."], 1, "not a run directory"),
    ("resume-missing", ["resume", "nope"], 1, "no such run directory"),
    ("resume-steps-0", ["resume", ".", "--steps", "0"], 2, "'--steps'"),
    ("report-not-run", ["report", "."], 1, "not a run directory"),
]


def _listing(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1)
        for p in sorted(root.rglob("*"))
    }


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``ntkflow argv`` in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_with_its_exit_code_and_writes_nothing(
    case, tmp_path, monkeypatch, capsys, point_file
):
    name, argv, code, words = case
    for fname, content in FILES.items():
        if fname in argv:
            dst = tmp_path / fname
            if callable(content):
                content(point_file, dst)
            else:
                dst.write_bytes(content)
    if "taken" in argv:
        (tmp_path / "taken").mkdir()
        (tmp_path / "taken" / "notes.txt").write_text("mine\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NTKFLOW_PROGRESS", "0")
    before = _listing(tmp_path)

    got, out, err = run_cli(argv, capsys)

    lines = err.strip().splitlines()
    assert got == code, f"exit {got}, stderr: {err}"
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("error: ") and words in lines[0], lines[0]
    assert "Traceback" not in err and "internal error" not in err and out == ""
    assert _listing(tmp_path) == before, "a refused command wrote or removed files"


def test_the_point_file_itself_passes_the_checks(point_file):
    """The checks refuse altered files, not good ones: every invariant holds on sampled
    points (and on a bicubic and a complete intersection, with several patches/equations)."""
    from ntkflow.cy.points import PointSet
    from ntkflow.cy.sampling import sample_points
    from ntkflow.cy.variety import variety_from_name

    ps = PointSet.load(point_file)
    ps.check(ps.variety())
    for name in ("bicubic", "cicy:P5[3,3]"):
        v = variety_from_name(name)
        sample_points(v, 100, jax.random.PRNGKey(1)).check(v)


def test_main_turns_an_unexpected_exception_into_one_line(monkeypatch, capsys):
    """The last line of defence: an exception no command expected is one line, exit 1
    (with NTKFLOW_DEBUG set, the traceback is shown instead)."""
    import ntkflow.cli.runs as runs

    def boom(run_dir):
        raise KeyError("surprise")

    monkeypatch.setattr("ntkflow.io.report.write_report", boom)
    assert runs.report  # the command resolves write_report at call time
    code, out, err = run_cli(["report", os.getcwd()], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "internal error: KeyError" in err and "NTKFLOW_DEBUG" in err
