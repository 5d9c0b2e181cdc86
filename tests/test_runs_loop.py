"""The generic loop against a closed-form job (x_k = x0 r^k): logging, checkpoints, resume
with a longer budget, NaN in metrics or state. In-process and fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ntkflow.io import (
    NonFiniteError,
    RunDir,
    RunDirError,
    load_checkpoint,
    make_job,
    resume_run,
    start_run,
)
from ntkflow.io.loop import skeleton

JOBS = Path(__file__).parent / "jobs"
KIND = "scalarjob:make_job"


@pytest.fixture(autouse=True)
def _jobs_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(JOBS))


def _xs(rd: RunDir) -> tuple[list[int], np.ndarray]:
    recs = rd.read_metrics()
    return [r["step"] for r in recs], np.array([r["x"] for r in recs])


def test_closed_form_trajectory_and_resume_extends(tmp_path):
    cfg = {"x0": 2.0, "r": 0.9}
    res = start_run(tmp_path / "r", KIND, cfg, n_steps=30, checkpoint_every=7, progress=False)
    assert res.status == "completed" and res.step == 30
    rd = RunDir.open(tmp_path / "r")
    steps, xs = _xs(rd)
    assert steps == list(range(1, 31))
    np.testing.assert_allclose(xs, 2.0 * 0.9 ** np.arange(1, 31), rtol=1e-14)
    # checkpoints at 7, 14, 21, 28 and the end; the newest three are kept
    assert [s for s, _ in rd.list_checkpoints()] == [21, 28, 30]
    like = skeleton(make_job(KIND, cfg))
    state, step = load_checkpoint(rd.latest_checkpoint()[1], like, job=KIND)
    assert step == 30 and state["k"] == 30
    np.testing.assert_allclose(state["x"], 2.0 * 0.9**30, rtol=1e-14)

    res = resume_run(tmp_path / "r", n_steps=45, progress=False)
    assert res.status == "completed" and res.step == 45
    steps, xs = _xs(rd)
    assert steps == list(range(1, 46))
    np.testing.assert_allclose(xs, 2.0 * 0.9 ** np.arange(1, 46), rtol=1e-14)
    assert rd.read_run()["n_steps"] == 45 and rd.read_run()["resumes"][0]["from_step"] == 30
    with pytest.raises(RunDirError, match="already at step 45, cannot stop at 40"):
        resume_run(tmp_path / "r", n_steps=40, progress=False)


def test_resume_cuts_log_back_to_checkpoint(tmp_path):
    """Records logged after the newest checkpoint (and a line cut by a crash) are dropped
    and logged again, so the log has each step once."""
    cfg = {"x0": 1.0, "r": 0.5}
    start_run(tmp_path / "r", KIND, cfg, n_steps=20, checkpoint_every=10, progress=False)
    rd = RunDir.open(tmp_path / "r")
    for _, p in rd.list_checkpoints()[1:]:
        p.unlink()  # as if killed between the checkpoint at 10 and the end
    with rd.metrics_jsonl.open("a") as f:
        f.write('{"step": 21, "x": 0.')  # a line cut mid-write
    assert rd.latest_checkpoint()[0] == 10
    resume_run(tmp_path / "r", progress=False)
    steps, xs = _xs(rd)
    assert steps == list(range(1, 21))
    np.testing.assert_allclose(xs, 0.5 ** np.arange(1, 21), rtol=1e-15)


def test_nan_metric_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = {"nan_metric_at": 25}
    with pytest.raises(NonFiniteError, match="step 25: metric 'x' is not finite"):
        start_run(tmp_path / "r", KIND, cfg, n_steps=40, checkpoint_every=10, progress=False)
    rd = RunDir.open(tmp_path / "r")
    assert [s for s, _ in rd.list_checkpoints()] == [10, 20]
    status = rd.read_status()
    assert status["status"] == "failed" and "not finite" in status["error"]
    assert rd.read_metrics()[-1]["step"] == 24


def test_nan_state_is_never_checkpointed(tmp_path):
    cfg = {"nan_state_at": 15}
    with pytest.raises(NonFiniteError, match=r"step 20: state leaf \['x'\] is not finite"):
        start_run(tmp_path / "r", KIND, cfg, n_steps=40, checkpoint_every=10, progress=False)
    rd = RunDir.open(tmp_path / "r")
    assert [s for s, _ in rd.list_checkpoints()] == [10]
    state, _ = load_checkpoint(rd.latest_checkpoint()[1], {"x": np.float64(0), "k": 0})
    assert np.isfinite(state["x"])


def test_existing_run_dir_is_not_overwritten(tmp_path):
    start_run(tmp_path / "r", KIND, {}, n_steps=3, checkpoint_every=1, progress=False)
    with pytest.raises(RunDirError, match="ntkflow resume"):
        start_run(tmp_path / "r", KIND, {}, n_steps=3, checkpoint_every=1, progress=False)


def test_unknown_job_kind(tmp_path):
    from ntkflow.io import JobError

    with pytest.raises(JobError, match="cannot import no_such_module"):
        start_run(tmp_path / "r", "no_such_module:make", {}, n_steps=3, checkpoint_every=1)
    with pytest.raises(JobError, match="expected 'package.module:factory'"):
        start_run(tmp_path / "r", "scalarjob", {}, n_steps=3, checkpoint_every=1)


def test_a_run_is_driven_by_one_process_at_a_time(tmp_path):
    start_run(tmp_path / "r", KIND, {}, n_steps=3, checkpoint_every=1, progress=False)
    rd = RunDir.open(tmp_path / "r")
    with rd.lock(), pytest.raises(RunDirError, match=r"in use by another process \(pid \d+\)"):
        resume_run(tmp_path / "r", n_steps=5, progress=False)
    assert rd.read_run()["resumes"] == []  # run.json untouched by the refused resume
    assert resume_run(tmp_path / "r", n_steps=5, progress=False).step == 5  # lock released
