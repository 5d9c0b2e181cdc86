"""Empirical metric-NTK throughput per strategy, float32/float64, with peak memory.

Configurations (anchors.md, "Empirical metric-NTK speed to beat"):
  (a) SharedTrunk metric, 3-d inputs, MLP 3 -> 256 -> 256 -> 9 (erf, 69 129 parameters;
      the neural-tangents reference has 69 376), symmetric 3x3 output, N = 64 and 256 points:
      full Θ of shape (N, N, 3, 3, 3, 3); neural-tangents (2 cores, float64): structured
      0.010 s / 0.27 s, Jacobian contraction 1.55 s / 20.0 s, NTK-vector products 0.52 s / 10.2 s.
  (b) 3-hidden-layer width-512 MLP metric at N = 1000 (structured only by default; the other
      strategies need tens of GB there unchunked: they chunk themselves within the memory budget
      and take minutes).

Run:  python benchmarks/ntk.py [--quick] [--all-b]
Peak memory is the process's maximum resident set size after each configuration (ru_maxrss,
monotone, so it bounds the configuration's own peak from above). Times are best of 3 after one
compiling call.
"""

from __future__ import annotations

import argparse
import resource
import time

import jax
import jax.numpy as jnp

import ntkflow  # noqa: F401  (enables float64)
from ntkflow.kernels import STRATEGIES, metric_ntk, metric_ntk_plan
from ntkflow.nets import MLP, SharedTrunk


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def head(width: int, depth: int, dtype):
    net = MLP(3, 9, width, depth, "erf", b_std=0.1, key=jax.random.PRNGKey(0), dtype=dtype)
    return SharedTrunk(net, 3)


def bench(h, xs, strategy, repeats=3):
    f = lambda: metric_ntk(h, xs, strategy=strategy).block_until_ready()
    f()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="skip slow strategy/size pairs")
    p.add_argument("--all-b", action="store_true", help="all strategies on (b), chunked")
    args = p.parse_args()
    print(f"devices: {jax.devices()}")
    print(
        f"{'config':<28}{'dtype':<9}{'strategy':<13}{'N':>6}{'time s':>10}"
        f"{'entries/s':>12}{'peak MiB':>10}"
    )
    rows = []
    for dtype in (jnp.float64, jnp.float32):
        h = head(256, 2, dtype)
        for n_pts in (64, 256):
            xs = jax.random.normal(jax.random.PRNGKey(1), (n_pts, 3), dtype)
            for strategy in STRATEGIES:
                if args.quick and strategy != "structured" and n_pts == 256:
                    continue
                t = bench(h, xs, strategy)
                entries = n_pts * n_pts * 81
                rows.append(("(a) 2x256 MLP metric", dtype, strategy, n_pts, t, entries))
                print(
                    f"{'(a) 2x256 MLP metric':<28}{jnp.dtype(dtype).name:<9}{strategy:<13}"
                    f"{n_pts:>6}{t:>10.4f}{entries / t:>12.3g}{peak_mib():>10.0f}",
                    flush=True,
                )
    for dtype in (jnp.float64, jnp.float32):
        h = head(512, 3, dtype)
        xs = jax.random.normal(jax.random.PRNGKey(1), (1000, 3), dtype)
        for strategy in STRATEGIES if args.all_b else ("structured",):
            # chunk_size=None: blocks sized from the compiled footprint (NTKFLOW_MEMORY_BUDGET)
            chunk, nbytes = metric_ntk_plan(h, xs, strategy=strategy)
            print(f"  {strategy}: block of {chunk or 1000} points, {nbytes / 2**30:.2f} GiB")
            t = bench(h, xs, strategy, repeats=1 if chunk else 3)
            entries = 1000 * 1000 * 81
            print(
                f"{'(b) 3x512 MLP metric':<28}{jnp.dtype(dtype).name:<9}{strategy:<13}"
                f"{1000:>6}{t:>10.4f}{entries / t:>12.3g}{peak_mib():>10.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
