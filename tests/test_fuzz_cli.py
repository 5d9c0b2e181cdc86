"""Property-based: random option values and random TOML documents fed to `cy train`,
`cy measure` and `flow run` (tiny budgets) never crash the command line.

For every generated command line: the exit code is 0, 1 or 2; stderr has no traceback; and
on a non-zero exit nothing was written — the one exception being a run that started and
then failed at run time (exit 1), which keeps its run directory with status.json "failed"
for `ntkflow report` (docs/reliability.md).

Cheap on purpose: a handful of examples per command, tiny point counts, ``deadline=None``
(a valid example compiles JAX functions).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import jax
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ntkflow.cli import main

SETTINGS = settings(
    max_examples=int(os.environ.get("NTKFLOW_FUZZ_EXAMPLES", "6")),
    deadline=None,
    derandomize=not os.environ.get("NTKFLOW_FUZZ_EXAMPLES"),  # CI: fixed examples
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

junk = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["", "-1", "0", "nan", "inf", "1e400", "x", "10000000000", "1.5", "--"]),
)
small = st.integers(min_value=-3, max_value=400).map(str)
toml_scalar = st.one_of(
    st.integers(min_value=-5, max_value=500),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.booleans(),
    st.text(max_size=5),
)
toml_value = st.one_of(toml_scalar, st.lists(toml_scalar, max_size=3))


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string is a JSON string
    return "[" + ", ".join(_toml(v) for v in value) + "]"


def toml_document(data: dict) -> str:
    return "".join(f"{json.dumps(k)} = {_toml(v)}\n" for k, v in data.items())


@pytest.fixture(scope="module")
def point_files(tmp_path_factory) -> dict[str, Path]:
    from ntkflow.cy.sampling import sample_points
    from ntkflow.cy.variety import variety_from_name

    root = tmp_path_factory.mktemp("fuzz-points")
    ps = sample_points(variety_from_name("fermat-quintic"), 120, jax.random.PRNGKey(3))
    good = ps.save(root / "good.npz")
    bad = root / "bad.npz"
    bad.write_bytes(good.read_bytes()[:300])
    return {"good": good, "bad": bad, "missing": root / "missing.npz"}


def _listing(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def check(argv: list[str], files: dict[str, str], capsys, monkeypatch) -> None:
    """Run ``ntkflow argv`` in a fresh folder holding ``files`` and check the properties."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in files.items():
            (root / name).write_text(text)
        monkeypatch.chdir(root)
        before = _listing(root)
        with pytest.raises(SystemExit) as exc:
            main(argv)
        code = int(exc.value.code or 0)
        err = capsys.readouterr().err
        assert code in (0, 1, 2), f"{argv}: exit {code}\n{err}"
        assert "Traceback" not in err, f"{argv}:\n{err}"
        assert "internal error" not in err, f"{argv}: an unexpected exception:\n{err}"
        if code == 0:
            return
        assert "error:" in err, f"{argv}: exit {code} without an error line:\n{err}"
        new = {k: v for k, v in _listing(root).items() if k not in before}
        if code == 1 and new:  # only a run that started and failed keeps its directory
            statuses = list(root.rglob("status.json"))
            assert statuses, f"{argv}: exit 1 left {sorted(new)}"
            for s in statuses:
                assert json.loads(s.read_text())["status"] == "failed", s
            return
        assert not new and _listing(root) == before, f"{argv}: wrote {sorted(new)}"


TRAIN_BASE = ["cy", "train", "--points", "160", "--n-test", "40", "--k", "1", "--steps", "1"]
TRAIN_OPTIONS = {
    "--points": st.one_of(small, junk),
    "--n-test": st.one_of(small, junk),
    "--k": st.one_of(st.integers(-1, 3).map(str), junk),
    "--steps": st.one_of(st.integers(-2, 2).map(str), junk),
    "--optimizer": st.sampled_from(["lbfgs", "adam", "lbgfs", "", "sgd"]),
    "--lr": st.one_of(st.sampled_from(["1e-3", "0", "-1", "1e300", "nan"]), junk),
    "--dtype": st.sampled_from(["float32", "float64", "float16", "x"]),
    "--ansatz": st.sampled_from(["algebraic", "phi", "phy"]),
    "--width": st.one_of(st.integers(-1, 4).map(str), junk),
    "--variety": st.sampled_from(["fermat-quintic", "cubic-torus", "quintic", "dwork:psi=x"]),
    "--seed": st.one_of(small, junk),
    "--checkpoint-every": st.one_of(st.integers(-1, 2).map(str), junk),
}
TRAIN_KEYS = [
    "variety", "n_points", "n_test", "k", "steps", "optimizer", "learning_rate", "dtype",
    "ansatz", "width", "eval_every", "n_pionts", "stpes", "foo",
]  # fmt: skip


@SETTINGS
@example(options={}, document=None)  # the tiny valid run: exit 0 is exercised too
@given(
    options=st.dictionaries(
        st.sampled_from(sorted(TRAIN_OPTIONS)), st.just(None), max_size=3
    ).flatmap(lambda d: st.fixed_dictionaries({k: TRAIN_OPTIONS[k] for k in d})),
    document=st.none() | st.dictionaries(st.sampled_from(TRAIN_KEYS), toml_value, max_size=3),
)
def test_fuzz_cy_train(options, document, capsys, monkeypatch):
    monkeypatch.setenv("NTKFLOW_PROGRESS", "0")
    argv = list(TRAIN_BASE)
    for flag, value in options.items():
        argv += [flag, value]
    files = {}
    if document is not None:
        files["c.toml"] = toml_document(document)
        argv += ["--config", "c.toml"]
    check([*argv, "--run-dir", "run", "--json"], files, capsys, monkeypatch)


@SETTINGS
@example(which="good", metric="fubini-study", curvature="5", seed="0")
@given(
    which=st.sampled_from(["good", "good", "bad", "missing"]),
    metric=st.sampled_from(["fubini-study", "fs", "donaldson:k=1", "donaldson:k=0", "run:no", "x"]),
    curvature=st.one_of(st.integers(-2, 20).map(str), junk),
    seed=st.one_of(st.integers(0, 99).map(str), junk),
)
def test_fuzz_cy_measure(which, metric, curvature, seed, point_files, capsys, monkeypatch):
    monkeypatch.setenv("NTKFLOW_PROGRESS", "0")
    argv = ["cy", "measure", "--points", str(point_files[which]), "--metric", metric]
    argv += ["--curvature-points", curvature, "--seed", seed, "--json"]
    check(argv, {}, capsys, monkeypatch)


FLOW_BASE = {
    "ricci-limit": {"lengthscales": [0.5, 0.4], "t": 0.01, "manifold": "torus2"},
    "width-limit": {"widths": [4, 8], "points": 3, "t": 0.05},
    "linearized-check": {"points": 3, "width": 4, "t": 0.05},
    "parameter": {"points": 3, "width": 4, "depth": 1, "steps": 2, "ntk_every": 1},
    "kernel": {"points": 4, "t": 0.05, "saves": 2},
}
FLOW_KEYS = sorted({k for d in FLOW_BASE.values() for k in d} | {"kind", "manifold", "lr", "foo"})


@SETTINGS
@example(kind="width-limit", changes={})
@given(
    kind=st.sampled_from([*FLOW_BASE, "width-limt", None]),
    changes=st.dictionaries(st.sampled_from(FLOW_KEYS), toml_value, max_size=2),
)
def test_fuzz_flow_run(kind, changes, capsys, monkeypatch):
    monkeypatch.setenv("NTKFLOW_PROGRESS", "0")
    doc = {"kind": kind} if kind is not None else {}
    doc |= FLOW_BASE.get(kind, {})
    doc |= changes
    text = toml_document(doc)
    check(
        ["flow", "run", "c.toml", "--out", "out", "--json"], {"c.toml": text}, capsys, monkeypatch
    )
