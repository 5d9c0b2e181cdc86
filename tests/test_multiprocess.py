"""A `cy train` run of two processes × two CPU devices on localhost (jax.distributed with a
local coordinator): the same loss trajectory and final measures as one process on one device,
one run directory; killing one process fails the run with one line and the run resumes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

TRAIN = [
    "cy", "train", "--points", "3003", "--n-test", "1002", "--k", "2", "--dtype", "float64",
    "--json",
]  # fmt: skip
CONFIG = "n_balance = 1000\ntime_budget = 0\neval_every = 5\n"


def _port() -> int:
    from conftest import free_coordinator_port

    return free_coordinator_port()


def _env(devices: int, process: int | None = None, port: int | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NTKFLOW_")}
    env.pop("PYTEST_XDIST_WORKER", None)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    if process is not None:
        env.update(
            NTKFLOW_COORDINATOR=f"localhost:{port}",
            NTKFLOW_NUM_PROCESSES="2",
            NTKFLOW_PROCESS_ID=str(process),
        )
    return env


def _ntkflow(args, env, cwd) -> subprocess.Popen:
    code = "from ntkflow.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _two_processes(args, cwd) -> list[subprocess.Popen]:
    port = _port()
    return [_ntkflow(args, _env(2, i, port), cwd) for i in (0, 1)]


def _losses(run: Path) -> np.ndarray:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return np.array([json.loads(line)["loss"] for line in lines])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One process, one device, 30 steps."""
    cwd = tmp_path_factory.mktemp("one")
    (cwd / "cfg.toml").write_text(CONFIG)
    p = _ntkflow([*TRAIN, "--config", "cfg.toml", "--steps", 30, "--run-dir", "run"], _env(1), cwd)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]
    return cwd / "run", json.loads(out)


def test_two_processes_give_the_same_run(tmp_path, reference):
    ref_run, ref = reference
    (tmp_path / "cfg.toml").write_text(CONFIG)
    args = [*TRAIN, "--config", "cfg.toml", "--steps", 30, "--run-dir", "run"]
    procs = _two_processes(args, tmp_path)
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    np.testing.assert_allclose(_losses(tmp_path / "run"), _losses(ref_run), rtol=1e-10)
    for out, _ in outs:  # both processes report process 0's measures
        got = json.loads(out)
        for key in ("sigma_test", "volume", "euler_characteristic"):
            np.testing.assert_allclose(got[key], ref[key], rtol=1e-10)
    # one run directory, written by process 0 alone
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["run"]
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["status"] == "completed" and status["step"] == 30


def test_killed_process_fails_the_run_which_resumes(tmp_path, reference):
    ref_run, ref = reference
    (tmp_path / "cfg.toml").write_text(CONFIG)
    args = [*TRAIN, "--config", "cfg.toml", "--steps", 100_000, "--checkpoint-every", 5]
    procs = _two_processes([*args, "--run-dir", "run"], tmp_path)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 12):
        assert time.monotonic() < deadline and procs[0].poll() is None, procs[0].stderr.read()
        time.sleep(0.2)
    procs[1].send_signal(signal.SIGKILL)
    _, err = procs[0].communicate(timeout=120)
    procs[1].communicate(timeout=60)
    assert procs[0].returncode == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "another process of the multi-process run" in errors[0]
    assert "ntkflow resume" in errors[0]
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["status"] == "failed" and status["checkpoint"]
    # resumed by two fresh processes to step 30: the uninterrupted trajectory
    procs = _two_processes(["resume", "run", "--steps", 30, "--json"], tmp_path)
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    np.testing.assert_allclose(_losses(tmp_path / "run"), _losses(ref_run), rtol=1e-10)
    np.testing.assert_allclose(json.loads(outs[0][0])["sigma_test"], ref["sigma_test"], rtol=1e-10)


def test_two_processes_measure_their_own_shards(tmp_path):
    """`cy measure` of a shard directory by two processes, each reading and evaluating only
    its own rows: σ, its error, volume and χ equal one process's to 1e-10."""
    sample = ["cy", "sample", "--points", 5000, "--shard-size", 1000, "--out", "pts"]
    p = _ntkflow(sample, _env(1), tmp_path)
    assert p.wait(timeout=300) == 0, p.stderr.read()
    measure = ["cy", "measure", "--points", "pts", "--metric", "donaldson:k=2",
               "--curvature-points", 300, "--json"]  # fmt: skip
    one = _ntkflow(measure, _env(1), tmp_path)
    out, err = one.communicate(timeout=600)
    assert one.returncode == 0, err[-3000:]
    ref = json.loads(out)
    procs = _two_processes(measure, tmp_path)
    outs = [q.communicate(timeout=600) for q in procs]
    for q, (_, err) in zip(procs, outs, strict=True):
        assert q.returncode == 0, err[-3000:]
    for out, _ in outs:
        got = json.loads(out)
        assert got["points"] == 5000
        for key in ("sigma", "sigma_error", "volume", "volume_error", "euler_characteristic"):
            np.testing.assert_allclose(got[key], ref[key], rtol=1e-10)
