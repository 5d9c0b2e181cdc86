"""Runs survive interruption: SIGKILL and SIGTERM mid-run, then `ntkflow resume`, give the
metrics of an uninterrupted run (to 1e-12 in float64 on CPU), and no half-written file.

The toy job (tests/jobs/toyjob.py) fits an MLP metric with Adam; its batches come from the
PRNG key and step counter in the state. The reference is the same job run without
interruption in this process; the interrupted runs are separate processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import pytest

from ntkflow.io import (
    RunDir,
    load_checkpoint,
    make_job,
)
from ntkflow.io.atomic import is_temporary

JOBS = Path(__file__).parent / "jobs"
KIND = "toyjob:make_job"
N_STEPS, EVERY = 160, 20
# `ntkflow` with this interpreter, whatever is first on PATH
NTKFLOW = [
    sys.executable,
    "-c",
    "import sys; from ntkflow.cli import main; sys.argv[0] = 'ntkflow'; main()",
]
CONFIG = {"seed": 3, "width": 12, "depth": 2, "batch": 16}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Subprocess environment: the toy job importable, CPU forced, compilations cached."""
    cache = tmp_path_factory.mktemp("jax-cache")
    e = dict(os.environ)
    e.update(
        PYTHONPATH=os.pathsep.join([str(JOBS), e.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        NTKFLOW_CPU="1",
        JAX_COMPILATION_CACHE_DIR=str(cache),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    )
    return e


@pytest.fixture(scope="module")
def reference(tmp_path_factory, env):
    """The uninterrupted run (its compilations fill the cache for the others)."""
    run = tmp_path_factory.mktemp("ref") / "run"
    proc = _start(run, env, sleep=0.0)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    return RunDir.open(run)


@pytest.fixture(scope="module")
def skeleton():
    """The state's structure, shapes and dtypes (nothing computed)."""
    sys.path.insert(0, str(JOBS))
    return eqx.filter_eval_shape(make_job(KIND, CONFIG).init)


def _start(run: Path, env: dict, sleep: float) -> subprocess.Popen:
    cfg = json.dumps({**CONFIG, "sleep": sleep})
    cmd = [sys.executable, str(JOBS / "start.py"), str(run), str(N_STEPS), str(EVERY), cfg]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_lines(run: Path, proc: subprocess.Popen, n: int, timeout: float = 240) -> int:
    log = run / "metrics.jsonl"
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.communicate()[1].decode()[-2000:]}")
        if log.exists() and log.read_bytes().count(b"\n") >= n:
            return log.read_bytes().count(b"\n")
        time.sleep(0.02)
    raise AssertionError("run made no progress")


def _resume(run: Path, env: dict) -> dict:
    out = subprocess.run(
        [*NTKFLOW, "resume", str(run), "--cpu", "--json"], env=env, capture_output=True
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return json.loads(out.stdout)


def _flat(text: str) -> str:
    """Without whitespace: rich wraps long error lines, also inside words."""
    return "".join(text.split())


def _job_metrics(rd: RunDir) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time_s"} for r in rd.read_metrics()]


def _assert_same_trajectory(rd: RunDir, ref: RunDir, skeleton) -> None:
    got, want = _job_metrics(rd), _job_metrics(ref)
    assert [r["step"] for r in got] == list(range(1, N_STEPS + 1))
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-12, err_msg=f"{k}")
    # final states agree too (parameters, optimiser moments, key, step)
    s1, n1 = load_checkpoint(rd.latest_checkpoint()[1], skeleton, job=KIND)
    s2, n2 = load_checkpoint(ref.latest_checkpoint()[1], skeleton, job=KIND)
    assert n1 == n2 == N_STEPS
    l1, l2 = _numpy_leaves(s1), _numpy_leaves(s2)
    assert len(l1) == len(l2) > 0
    for a, b in zip(l1, l2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def _numpy_leaves(state) -> list[np.ndarray]:
    def leaf(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return np.asarray(jax.random.key_data(x))
        return np.asarray(x)

    return [leaf(x) for x in jax.tree_util.tree_leaves(eqx.filter(state, eqx.is_array))]


def _assert_whole(rd: RunDir, allow_temporaries: bool, skeleton) -> None:
    """Every file in the run directory is complete: JSON parses, checkpoints verify."""
    for p in rd.path.rglob("*"):
        if not p.is_file():
            continue
        if is_temporary(p):
            assert allow_temporaries, f"temporary file left behind: {p}"
            continue
        if p.suffix == ".json":
            json.loads(p.read_text())
        elif p.suffix == ".jsonl":
            text = p.read_text()
            assert text == "" or text.endswith("\n"), "metrics log ends mid-line"
            for line in text.splitlines():
                json.loads(line)
        elif p.suffix == ".ckpt":
            load_checkpoint(p, skeleton, job=KIND)


def test_sigkill_then_resume_matches_uninterrupted(tmp_path, env, reference, skeleton):
    run = tmp_path / "run"
    proc = _start(run, env, sleep=0.01)
    _wait_for_lines(run, proc, 3 * EVERY + 5)
    proc.kill()  # SIGKILL: no handler runs
    proc.wait()
    rd = RunDir.open(run)
    assert rd.read_status()["status"] == "running"  # what the killed process last wrote
    assert rd.status()["status"] == "crashed"  # what is true: nobody holds the run
    steps = [s for s, _ in rd.list_checkpoints()]
    assert steps and max(steps) < N_STEPS
    _assert_whole(rd, allow_temporaries=True, skeleton=skeleton)

    result = _resume(run, env)
    assert result["status"] == "completed" and result["step"] == N_STEPS
    _assert_whole(rd, allow_temporaries=False, skeleton=skeleton)
    _assert_same_trajectory(rd, reference, skeleton)
    info = rd.read_run()
    assert info["device"]["backend"] == "cpu" and info["device"]["x64"] is True
    assert info["device"]["jax_platforms"] == "cpu"  # NTKFLOW_CPU=1 forced it
    assert info["seed"] == CONFIG["seed"] and info["config"]["width"] == CONFIG["width"]
    assert info["versions"]["jax"] == jax.__version__
    assert info["resumes"][0]["from_step"] == max(steps)


def test_sigterm_writes_clean_checkpoint(tmp_path, env, reference, skeleton):
    run = tmp_path / "run"
    proc = _start(run, env, sleep=0.01)
    _wait_for_lines(run, proc, EVERY + 7)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()[-2000:]
    rd = RunDir.open(run)
    status = rd.read_status()
    assert status["status"] == "interrupted" and status["signal"] == "SIGTERM"
    step = status["step"]
    assert EVERY < step < N_STEPS and step % EVERY != 0  # checkpointed off the schedule
    assert rd.latest_checkpoint()[0] == step
    assert rd.read_metrics()[-1]["step"] == step
    _assert_whole(rd, allow_temporaries=False, skeleton=skeleton)

    assert _resume(run, env)["status"] == "completed"
    _assert_same_trajectory(rd, reference, skeleton)


def test_resume_falls_back_to_the_newest_intact_checkpoint(tmp_path, env, reference, skeleton):
    """A truncated newest checkpoint is set aside (named on stderr) and the run continues
    from the previous one, to the uninterrupted trajectory; with no intact checkpoint at all
    resume fails with one line, exit code 1, and status.json says "failed"."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(reference.path, run)
    rd = RunDir(run)
    (s_prev, _), (s_last, last) = rd.list_checkpoints()[-2:]
    last.write_bytes(last.read_bytes()[:-100])
    rd.write_status("running", step=s_last)  # as a killed process leaves it
    out = subprocess.run(
        [*NTKFLOW, "resume", str(run), "--cpu", "--json"], env=env, capture_output=True
    )
    err = _flat(out.stderr.decode())
    assert out.returncode == 0, err[-2000:]
    assert _flat(last.name) in err and "truncated" in err
    assert _flat("resuming from the newest intact checkpoint") in err and f"(step{s_prev})" in err
    assert _flat("no process holds the run") in err  # the stale "running" was noticed
    result = json.loads(out.stdout)
    assert result["status"] == "completed" and result["resumed_from"] == s_prev
    assert (run / "checkpoints" / (last.name + ".corrupt")).exists()
    _assert_same_trajectory(rd, reference, skeleton)

    for _, p in rd.list_checkpoints():
        p.write_bytes(p.read_bytes()[:50])
    out = subprocess.run([*NTKFLOW, "resume", str(run), "--cpu"], env=env, capture_output=True)
    err = out.stderr.decode()
    assert out.returncode == 1 and len(err.strip().splitlines()) == 1, err
    assert "no intact checkpoint" in err and "Traceback" not in err
    assert rd.read_status()["status"] == "failed"


def test_resume_rejects_non_run_dir(tmp_path):
    from typer.testing import CliRunner

    from ntkflow.cli import app

    out = CliRunner().invoke(app, ["resume", str(tmp_path)])
    assert out.exit_code == 1
    assert _flat("not a run directory") in _flat(out.output)


def test_cy_eval_on_trained_model(tmp_path, reference, skeleton):
    """`ntkflow cy eval` rebuilds the model through the job's build() and evaluates it; the
    result equals the model of the final checkpoint, and approximates the round metric
    the toy job was trained on."""
    from typer.testing import CliRunner

    from ntkflow.cli import app
    from ntkflow.io.cymetric import write_npz

    sys.path.insert(0, str(JOBS))
    x = np.random.default_rng(0).uniform(-1.0, 1.0, size=(9, 2))
    pts = write_npz(tmp_path / "pts.npz", points=x, weights=np.ones(9))
    out = tmp_path / "metric.npz"
    args = ["cy", "eval", "--model", str(reference.path), "--points", str(pts)]
    res = CliRunner().invoke(app, [*args, "--out", str(out), "--json", "--batch", "4"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["n_points"] == 9 and summary["metric_shape"] == [2, 2]
    assert summary["model"].endswith("model.eqx")
    with np.load(out) as f:
        g, back_x, w = f["g"], f["points"], f["weights"]
    np.testing.assert_array_equal(back_x, x)
    np.testing.assert_array_equal(w, np.ones(9))
    state, _ = load_checkpoint(reference.latest_checkpoint()[1], skeleton, job=KIND)
    np.testing.assert_allclose(g, np.asarray(jax.vmap(state.model)(x)), rtol=1e-13)
    round_metric = 4.0 / (1.0 + (x**2).sum(1))[:, None, None] ** 2 * np.eye(2)
    assert np.abs(g - round_metric).max() < 0.3 * np.abs(round_metric).max()

    # an unfinished run (no model.eqx): its newest checkpoint is evaluated
    import shutil

    unfinished = tmp_path / "unfinished"
    shutil.copytree(reference.path, unfinished)
    (unfinished / "model.eqx").unlink()
    args[3] = str(unfinished)
    res = CliRunner().invoke(app, [*args, "--out", str(out), "--json", "--batch", "4"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["model"].endswith(".ckpt")
    with np.load(out) as f:
        np.testing.assert_array_equal(f["g"], g)

    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    args[-1] = str(tmp_path / "bad.npz")
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o.npz")])
    assert res.exit_code == 1 and _flat("not an .npz file") in _flat(res.output)
    assert not (tmp_path / "o.npz").exists()
