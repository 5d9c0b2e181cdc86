"""Kernel-flow benchmark: wall time per unit flow time and peak memory.

Metric regression (``l = ½|g − g*|²``, weights 1/N) on N uniform points of the unit square,
2×2 metrics, frozen Gaussian kernel ``exp(−|x − x'|²/(2ℓ²)) δ_ik δ_jl`` (ℓ = 0.2), flowed to
t = 1 by diffrax (Tsit5, rtol 1e-6). Paths: matrix-free chunked kernel–vector products, and
the dense Gram matrix where it fits (``(4N)²`` float64: 128 MB at N = 10³, 12.8 GB at 10⁴).
Each case runs in its own process so the peak resident memory (``ru_maxrss``) is its own.
"Warm" is a second run after compilation.

    python benchmarks/flows.py                 # N = 1000 and 10000
    python benchmarks/flows.py --sizes 1000 --paths dense,matrix_free
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def case(n: int, path: str, chunk: int) -> dict:
    import jax
    import jax.numpy as jnp

    import ntkflow  # noqa: F401
    from ntkflow.flows.kernel_flow import SeparableKernel, kernel_flow
    from ntkflow.flows.losses import MetricRegression
    from ntkflow.kernels import GaussianKernel

    xs = jax.random.uniform(jax.random.key(0), (n, 2))
    w = jnp.full(n, 1.0 / n)
    kern = SeparableKernel(GaussianKernel(0.2), 2)
    target = lambda x: jnp.array([[2 + jnp.sin(3 * x[0]), 0.3 * x[1]], [0.3 * x[1], 1.5]])
    loss = MetricRegression(target)
    kw = dict(
        ts=[0.0, 1.0], dense=path == "dense", chunk=chunk, rtol=1e-6, atol=1e-9, check_kernel=False
    )
    t0 = time.perf_counter()
    kernel_flow(loss, lambda x: jnp.eye(2), kern, xs, w, 1.0, **kw)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = kernel_flow(loss, lambda x: jnp.eye(2), kern, xs, w, 1.0, **kw)
    jax.block_until_ready(res.metric.alpha)
    warm = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"N": n, "path": path, "first_s": first, "warm_s_per_unit_t": warm, "peak_MB": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--paths", default="matrix_free,dense")
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--dense-max", type=int, default=3000, help="largest N for the dense path")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        n, path = a.case.split(":")
        print(json.dumps(case(int(n), path, a.chunk)))
        return
    rows = []
    for n in (int(s) for s in a.sizes.split(",")):
        for path in a.paths.split(","):
            if path == "dense" and n > a.dense_max:
                rows.append(
                    {
                        "N": n,
                        "path": path,
                        "note": f"skipped: (4N)² = {(4 * n) ** 2 * 8 / 1e9:.1f} GB does not fit",
                    }
                )
                continue
            out = subprocess.run(
                [sys.executable, __file__, "--case", f"{n}:{path}", "--chunk", str(a.chunk)],
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                rows.append({"N": n, "path": path, "note": out.stderr.strip().splitlines()[-1]})
            else:
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'N':>6} {'path':>12} {'first run s':>12} {'warm s / unit t':>16} {'peak MB':>9}")
    for r in rows:
        if "note" in r:
            print(f"{r['N']:>6} {r['path']:>12}  {r['note']}")
        else:
            print(
                f"{r['N']:>6} {r['path']:>12} {r['first_s']:>12.2f} "
                f"{r['warm_s_per_unit_t']:>16.2f} {r['peak_MB']:>9.0f}"
            )


if __name__ == "__main__":
    main()
