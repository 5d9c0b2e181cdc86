"""`cy train` runs in every state — completed, interrupted (SIGTERM, exit 143), resumed,
failed, crashed — end truthfully and `ntkflow report` renders each of them in headless
Chromium (every figure decoded, a non-blank screenshot).

Tiny budgets (300 points on the quintic, degree 1, a few steps): the point is the plumbing,
the numbers are checked against their own definitions where they appear (the σ in
summary.json is the σ the job logs at its last step; a resumed run's summary equals a fresh
run's).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import ntkflow.io as nio
from ntkflow.cli import main

sys.path.insert(0, str(Path(__file__).parent / "jobs"))
from test_report import _chromium, assert_renders  # noqa: E402

TINY = ["--points", "300", "--n-test", "100", "--k", "1", "--dtype", "float64"]
CONFIG = {"n_points": 300, "n_test": 100, "k": 1, "dtype": "float64", "steps": 4}


def run_cli(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def _config(**extra) -> dict:
    from ntkflow.cy.train_config import TrainConfig

    return nio.to_dict(nio.from_dict(TrainConfig, CONFIG)) | extra


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One run in each state (built once for the module)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NTKFLOW_PROGRESS", "0")
        yield _build_runs(tmp_path_factory.mktemp("runs"))


def _build_runs(root):
    out = {}
    # interrupted by SIGTERM at step 2 (checkpointed there), then a copy resumed
    res = nio.start_run(
        root / "interrupted",
        "cyfaults:make_job",
        _config(interrupt_at=2),
        n_steps=4,
        checkpoint_every=10,
    )
    assert res.status == "interrupted" and res.signal == "SIGTERM" and res.step == 2
    out["interrupted"] = root / "interrupted"
    shutil.copytree(root / "interrupted", root / "resumed")
    out["resumed"] = root / "resumed"
    # failed: the loss turns NaN at step 3 (after the checkpoint of step 2)
    with pytest.raises(nio.NonFiniteError):
        nio.start_run(
            root / "failed", "cyfaults:make_job", _config(nan_at=3), n_steps=4, checkpoint_every=2
        )
    out["failed"] = root / "failed"
    # crashed: a run whose process died (status.json still says running, nobody holds it)
    shutil.copytree(root / "interrupted", root / "crashed")
    nio.RunDir(root / "crashed").write_status("running", step=2)
    out["crashed"] = root / "crashed"
    out["root"] = root
    return out


def test_completed_and_resumed_cy_train_end_alike_and_render(tmp_path, capsys, runs):
    """A completed `cy train` reports timings, measures and a plot; resuming the
    SIGTERM-interrupted run prints and writes what `cy train` does (the same keys, the same
    final measures — float64 on CPU: the same trajectory — summary.json and the plot); and
    `ntkflow report` renders both. One test, so the order holds under any test scheduler."""
    run = tmp_path / "run"
    code, stdout, err = run_cli(
        ["cy", "train", *TINY, "--steps", "4", "--run-dir", run, "--json"], capsys
    )
    assert code == 0, err
    want = json.loads(stdout)
    for key in ("sigma_test", "volume", "euler_characteristic", "train_seconds"):
        assert want[key] is not None, key
    assert want["wall_seconds"] >= want["train_seconds"] + want["measure_seconds"]
    assert want["measure_seconds"] > 0 and want["steps"] == 4
    assert Path(want["plot"]).exists() and want["run_dir"] == str(run)
    assert json.loads((run / "summary.json").read_text()) == want
    metrics = nio.RunDir(run).read_metrics()
    sigmas = [r["step"] for r in metrics if "sigma_test" in r]
    assert sigmas == [1, 4]  # logged during training (first and last step here)
    # the final σ (float64 measure on the test set) is the σ the job logged at its end
    np.testing.assert_allclose(want["sigma_test"], metrics[-1]["sigma_test"], rtol=1e-6)

    code, stdout, err = run_cli(["resume", runs["resumed"], "--json"], capsys)
    assert code == 0, err
    got = json.loads(stdout)
    assert set(want) <= set(got)
    for key in ("sigma_test", "sigma_error", "volume", "ricci_measure", "euler_characteristic"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-9, err_msg=key)
    assert got["status"] == "completed" and got["resumed_from"] == 2
    assert (runs["resumed"] / "summary.json").exists() and Path(got["plot"]).exists()

    _check_report(run, "result sigma_test", tmp_path / "completed", capsys)
    _check_report(runs["resumed"], "result euler_characteristic", tmp_path / "resumed", capsys)


def test_cy_train_sigterm_exits_143_and_resume_hint(tmp_path, capsys):
    """SIGTERM during `cy train` checkpoints, says how to continue and exits 128 + 15."""
    run = tmp_path / "run"
    log = run / "metrics.jsonl"

    def killer():
        t0 = time.time()
        while time.time() - t0 < 300:
            if log.exists() and log.read_bytes().count(b"\n") >= 2:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.01)

    threading.Thread(target=killer, daemon=True).start()
    argv = ["cy", "train", *TINY, "--optimizer", "adam", "--steps", "5000", "--run-dir", run]
    code, _, err = run_cli(argv, capsys)
    assert code == 143, err
    assert f"continue with `ntkflow resume {run}`" in " ".join(err.split())
    status = nio.RunDir(run).read_status()
    assert status["status"] == "interrupted" and status["signal"] == "SIGTERM"
    assert nio.RunDir(run).latest_checkpoint()[0] == status["step"] >= 2


def test_failed_run_says_what_is_left(runs):
    st = nio.RunDir(runs["failed"]).status()
    assert st["status"] == "failed" and "not finite" in st["error"]
    assert st["left"] == "the checkpoint of step 2 is kept"


def test_failed_cy_train_without_checkpoint_is_one_line(tmp_path, capsys):
    """A run that fails before its first checkpoint says so (no false "the last checkpoint
    is intact"), exits 1, and keeps its run directory for `ntkflow report`."""
    run = tmp_path / "run"
    argv = ["cy", "train", *TINY, "--optimizer", "adam", "--lr", "1e300", "--steps", "3"]
    code, _, err = run_cli([*argv, "--run-dir", run], capsys)
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "no checkpoint was written" in lines[0]
    assert "Traceback" not in err and f"ntkflow report {run}" in lines[0]
    assert nio.RunDir(run).status()["status"] == "failed"


def test_crashed_run_is_reported_as_crashed(runs):
    rd = nio.RunDir(runs["crashed"])
    assert rd.read_status()["status"] == "running" and rd.status()["status"] == "crashed"
    with rd.lock():  # a live holder: then "running" is the truth
        assert nio.RunDir(runs["crashed"]).status()["status"] == "running"


def _check_report(run, expect: str, out_dir: Path, capsys) -> None:
    """`ntkflow report RUN` writes the loss and σ panels, says ``expect`` and renders."""
    browser = _chromium()
    code, stdout, err = run_cli(["report", run, "--json"], capsys)
    assert code == 0, err
    out = json.loads(stdout)
    names = sorted(Path(f).name for f in out["figures"])
    assert names == ["loss.png", "sigma.png"], names  # loss and σ_test, logged in training
    page = Path(out["report"]).read_text()
    assert expect in page, expect
    out_dir.mkdir(parents=True, exist_ok=True)
    assert_renders(browser, Path(out["report"]), out_dir, 2)


@pytest.mark.parametrize(
    ("state", "expect"),
    [
        ("interrupted", "SIGTERM"),
        ("failed", "not finite"),
        ("crashed", "crashed (status.json still says &#x27;running&#x27;"),
    ],
)
def test_report_renders_every_run_state(state, expect, runs, tmp_path, capsys):
    _check_report(runs[state], expect, tmp_path, capsys)


def test_run_names_are_unique_under_concurrency(tmp_path):
    """Eight processes asking for a fresh run directory in the same second get eight
    different ones, each created by exactly one of them."""
    import subprocess

    code = (
        "import sys; from ntkflow.io import RunDir; print(RunDir.new(sys.argv[1], 'cy-train').path)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    paths = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(paths)) == 8 and len(list(tmp_path.iterdir())) == 8
    # an explicit name is claimed atomically: the second claimant is refused at once
    nio.RunDir.reserve(tmp_path / "mine")
    (tmp_path / "mine" / "run.json").write_text("{}")
    with pytest.raises(nio.RunDirError, match="already exists"):
        nio.RunDir.reserve(tmp_path / "mine")
