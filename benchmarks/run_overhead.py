"""What the run machinery costs: checkpoint save/load against state size, and the loop's
per-step overhead (logging, NaN checks, progress) on a job that does no work.

    python benchmarks/run_overhead.py

Prints a table. Timings depend on the disk (each checkpoint is fsynced) and on the load of
the machine.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import ntkflow  # noqa: F401  (float64)
from ntkflow.io import RunDir, load_checkpoint, run_loop, save_checkpoint


def _best(fn, repeat=5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


class NoopJob:
    def init(self):
        return {"x": jnp.zeros(()), "k": 0}

    def step(self, state):
        return {"x": state["x"], "k": state["k"] + 1}, {"loss": 1.0}


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    print(f"{'state (float64 entries)':>24} {'bytes':>12} {'save ms':>9} {'load ms':>9}")
    path = tmp / "c.ckpt"
    for n in (10**4, 10**5, 10**6, 10**7):
        # parameters plus two Adam moments, as in a training state
        state = {k: jnp.asarray(np.random.default_rng(0).normal(size=n)) for k in "pmv"}
        state["key"] = jax.random.key(0)
        save = _best(lambda s=state: save_checkpoint(path, s, step=1, job="bench"))
        load = _best(lambda s=state: load_checkpoint(path, s))
        print(f"{3 * n:>24} {path.stat().st_size:>12} {1e3 * save:>9.2f} {1e3 * load:>9.2f}")

    print()
    print(f"{'loop, 2000 no-op steps':>36} {'us/step':>10}")
    for progress, every in ((False, 10**9), (False, 100), (True, 100)):
        rd = RunDir.create(tmp / f"run{progress}{every}", {"job": "bench", "config": {}})
        t = time.perf_counter()
        run_loop(rd, NoopJob(), 2000, every, job_kind="bench", progress=progress)
        us = 1e6 * (time.perf_counter() - t) / 2000
        label = f"progress={progress}, ckpt every {every if every < 10**9 else 'never'}"
        print(f"{label:>36} {us:>10.1f}")


if __name__ == "__main__":
    main()
