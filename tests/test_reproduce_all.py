"""`ntkflow reproduce all`: each experiment's JSON and figures in its folder, and one HTML
report whose numbers are read back against those JSON files (not against what the report
writer kept), whose images all decode in headless Chromium, one per PNG file written.

Fast tests run the real cheap experiments (tiny sizes) and stand-ins for the others. The
``slow`` test runs the other real experiments at tiny sizes through ``reproduce all``, with
the 2-D Ricci-limit manifolds only and the locality experiment without its network (under a
minute on an idle 2-core CPU; JIT compilation dominates). Left out, as they take minutes or
are covered elsewhere: the 3-D Ricci-limit manifolds (the same code path per manifold;
checked in ``test_flows_ricci_limit.py``), the locality network (``test_experiments.py::
test_reproduce_locality_cli_local_kernels_decay_to_exactly_one``) and the real
feature-learning sweep (its regimes compile for over a minute even at tiny sizes; its results,
report and figures: ``test_experiments.py::test_reproduce_feature_learning_cli``; its place in
the report: the stand-ins of ``test_a_failing_experiment_is_reported_and_the_others_kept``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from html.parser import HTMLParser

import pytest
from test_report import _chromium, assert_renders
from typer.testing import CliRunner

import ntkflow.experiments.reproduce_all as ra
from ntkflow.cli import app
from ntkflow.io.atomic import figure, write_json

runner = CliRunner()
Config = ra.ReproduceAllConfig  # the class itself: the `tiny` fixture replaces the name
TWO_D = ("sphere2", "torus2")  # the Ricci-limit manifolds the tests run (3-D ones take minutes)


def tiny_config(**kw) -> Config:
    """Every experiment at tiny sizes (the plumbing, not the physics)."""
    from ntkflow.cy.kernel_flow import KernelFlowConfig
    from ntkflow.experiments.feature_learning import FeatureLearningConfig
    from ntkflow.experiments.flows import LinearisedCheckRun, WidthLimitRun
    from ntkflow.experiments.locality import LocalityConfig

    fl = dict(n_train=30, n_test=20, n_ntk=8, n_spectrum=4, n_features=16, widths=(8, 16))
    fl |= dict(seeds=1, standard_seeds=0, max_steps=4, window=2, spectrum_width=8)
    return Config(
        ntk_convergence=ra.NtkConvergenceSettings(widths=(8, 16), seeds=1, points=2),
        linearized_check=LinearisedCheckRun(points=2, width=4, t=0.5),
        width_limit=WidthLimitRun(widths=(8, 16), points=3, t=0.5),
        ricci_limit={"t": 0.02, "lengthscales": (0.6, 0.4)},  # two ℓ: a fitted order
        ricci_manifolds=TWO_D,
        kernel_flow=KernelFlowConfig(n_points=40, n_test=20, n_features=16, steps=3, eval_every=1),
        locality=LocalityConfig(
            n_train=8, n_eval=2, distances=(1e-2, 0.3), flow_steps=2, network=False
        ),
        feature_learning=FeatureLearningConfig(**fl),
        **kw,
    )


@pytest.fixture
def tiny(monkeypatch):
    """The command's config at tiny sizes (``--only`` still chooses)."""
    monkeypatch.setattr(ra, "ReproduceAllConfig", lambda only=None: tiny_config(only=only))


def stand_in(name: str, written: dict, fail: bool = False):
    """An experiment that writes a JSON shaped like the real ones (nested dicts, a list of
    records, a long history) and two figures; ``written[name]`` keeps what it wrote."""

    def run(settings, out):
        if fail:
            raise FloatingPointError(f"{name}: non-finite loss\nat step 3")
        data = {
            "score": 0.1234567891,
            "count": 7,
            "ok": True,
            "label": name,
            "curve": [1.0, 0.5, 0.25],
            "history": list(range(100)),
            "nested": {"a": 1.5e-9, "b": None},
            "regimes": [{"name": "x", "v": 2.0}, {"name": "y", "v": -3.25e4}],
            "config": {"n": 3},
        }
        figs = []
        for k in (1, 2):
            with figure(out / f"{name}-{k}.png") as ax:
                ax.plot([0, 1, 2], [0, k, 2 * k])
            figs.append(out / f"{name}-{k}.png")
        write_json(out / "result.json", data)
        written[name] = data
        return [ra.Part(out / "result.json", figs)]

    return run


class _Cells(HTMLParser):
    """``(json file, path, shown text)`` of every value cell of the report's number tables,
    and the ``src`` of every image."""

    def __init__(self):
        super().__init__()
        self.cells, self.images, self.links = [], [], []
        self._json, self._cell = None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "data-json" in a:
            self._json = a["data-json"]
        elif tag == "td" and "data-path" in a:
            self._cell = [self._json, json.loads(a["data-path"]), ""]
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "a" and a.get("href", "").endswith(".json"):
            self.links.append(a["href"])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append(tuple(self._cell))
            self._cell = None
        elif tag == "table":
            self._json = None


def _same(shown: str, value) -> bool:
    """The shown text is the JSON value (floats to the 6 digits shown)."""
    if isinstance(value, list):
        parts = [p.strip() for p in shown.strip("[]").split(",")] if value else []
        return len(parts) == len(value) and all(map(_same, parts, value))
    if value is None:
        return shown == "null"
    if isinstance(value, bool):
        return shown == str(value).lower()
    if isinstance(value, int | float):
        return math.isclose(float(shown), value, rel_tol=1e-5, abs_tol=1e-300)
    return shown == value


def check_report(out, names) -> _Cells:
    """The report's numbers against the JSON files; its links and images against the files."""
    summary = json.loads((out / "summary.json").read_text())
    page = (out / "report.html").read_text()
    cells = _Cells()
    cells.feed(page)
    files = {p["json"] for e in summary["experiments"] if e["status"] == "ok" for p in e["parts"]}
    assert {e["name"] for e in summary["experiments"]} == set(names)
    assert set(cells.links) == files
    for rel in files:
        assert (out / rel).is_file(), rel
        data = json.loads((out / rel).read_text())
        shown = [(p, s) for f, p, s in cells.cells if f == rel]
        assert shown, f"no numbers shown for {rel}"
        for path, text in shown:
            value = data
            for k in path:
                value = value[k]
            assert _same(text, value), (rel, path, text, value)
    pngs = sorted(out.rglob("*.png"))
    assert len(cells.images) == len(pngs)
    assert all(src.startswith("data:image/png;base64,") for src in cells.images)
    assert "http://" not in page and "https://" not in page
    return cells


def test_reproduce_all_real_cheap_experiments_render(tiny, tmp_path):
    out = tmp_path / "all"
    only = "ntk-convergence,width-limit"
    res = runner.invoke(app, ["reproduce", "all", "--out-dir", str(out), "--only", only, "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["failed"] == [] and summary == json.loads((out / "summary.json").read_text())
    assert [e["name"] for e in summary["experiments"]] == ["ntk-convergence", "width-limit"]
    assert all(e["status"] == "ok" and e["wall_seconds"] > 0 for e in summary["experiments"])
    ntk = json.loads((out / "ntk-convergence" / "result.json").read_text())
    assert ntk["widths"] == [8, 16] and ntk["seeds"] == 1  # the config that was passed
    width = json.loads((out / "width-limit" / "result.json").read_text())
    assert width["widths"] == [8, 16] and len(width["ntk_changes"]) == 2
    cells = check_report(out, ["ntk-convergence", "width-limit"])
    assert (out / "ntk-convergence" / "ntk_convergence.png").exists()
    assert (out / "width-limit" / "ntk_change.png").exists()
    shown = {tuple(p) for _, p, _ in cells.cells}
    assert ("slope",) in shown and ("ntk_changes",) in shown
    assert_renders(_chromium(), out / "report.html", tmp_path, len(cells.images))


def test_a_failing_experiment_is_reported_and_the_others_kept(tiny, tmp_path, monkeypatch):
    written: dict = {}
    for name, exp in ra.EXPERIMENTS.items():
        run = stand_in(name, written, fail=name == "locality")
        monkeypatch.setitem(ra.EXPERIMENTS, name, dataclasses.replace(exp, run=run))
    out = tmp_path / "all"
    res = runner.invoke(app, ["reproduce", "all", "--out-dir", str(out), "--json"])
    assert res.exit_code == 1, res.output
    assert "failed: locality" in res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["failed"] == ["locality"]
    by_name = {e["name"]: e for e in summary["experiments"]}
    assert list(by_name) == list(ra.EXPERIMENTS)
    err = by_name["locality"]["error"]
    assert err == "FloatingPointError: locality: non-finite loss at step 3"
    ok = [n for n in ra.EXPERIMENTS if n != "locality"]
    for name in ok:
        assert by_name[name]["status"] == "ok"
        assert json.loads((out / name / "result.json").read_text()) == written[name]
    cells = check_report(out, list(ra.EXPERIMENTS))
    assert len(cells.images) == 2 * len(ok)
    page = (out / "report.html").read_text()
    assert err in page and page.count('class="failed">failed<') == 1
    shown = {tuple(p) for _, p, _ in cells.cells}
    assert ("regimes", 1, "v") in shown and ("nested", "a") in shown
    assert ("history",) not in shown and ("config", "n") not in shown


def test_only_unknown_experiment_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "all"
    res = runner.invoke(app, ["reproduce", "all", "--out-dir", str(out), "--only", "locality,nope"])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and "nope" in res.stderr
    assert "ntk-convergence" in res.stderr  # the known names
    assert not out.exists()


def test_help_lists_experiments_settings_and_times():
    res = runner.invoke(app, ["reproduce", "all", "--help"], terminal_width=200)
    assert res.exit_code == 0
    for name, exp in ra.EXPERIMENTS.items():
        assert name in res.output and f"≈ {exp.minutes:g} min" in res.output
    assert "n_points=10000" in res.output  # the kernel flow's default, read from its config
    assert sum(e.minutes for e in ra.EXPERIMENTS.values()) <= 60


@pytest.mark.slow
def test_reproduce_all_other_real_experiments_render(tiny, tmp_path):
    out = tmp_path / "all"
    names = ["linearized-check", "ricci-limit", "kernel-flow", "locality"]  # see the docstring
    args = ["reproduce", "all", "--out-dir", str(out), "--only", ",".join(names), "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["failed"] == []
    by_name = {e["name"]: e for e in summary["experiments"]}
    assert list(by_name) == names
    assert [p["label"] for p in by_name["ricci-limit"]["parts"]] == list(TWO_D)
    for name in ("locality", "kernel-flow", "ricci-limit"):
        assert by_name[name]["parts"] and all(p["figures"] for p in by_name[name]["parts"])
    cells = check_report(out, names)
    assert_renders(_chromium(), out / "report.html", tmp_path, len(cells.images))
