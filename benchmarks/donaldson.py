"""`ntkflow cy donaldson --k K` on the Fermat quintic (or ``--variety V``: bicubic,
tetraquadric, cicy:P5[3,3], ...), one fresh process per k (sampling, compilation, T-iterations
and σ all counted), beside cyjax's figures on a 2-core machine.

Prints per k: N_k, T-iteration points, σ_k ± its Monte-Carlo error, the reference σ_k
(anchors.md; Douglas et al.'s fit 3.1/k² − 4.2/k³ beyond k = 5), wall and CPU seconds, peak
resident memory of the process (from ``wait4``, as ``/usr/bin/time -v`` reports it), and
cyjax's wall time (anchors.md / the issue: k = 3 7.4 s, k = 4 18.4 s, k = 5 72 s). References
exist for the quintic only (cyjax cannot run products or complete intersections); on another
variety the reference columns are left empty.

    python benchmarks/donaldson.py [--kmin 2] [--kmax 6] [--variety bicubic]
"""

import argparse
import json
import os
import subprocess
import sys
import time

REF = {2: 0.273, 3: 0.194, 4: 0.132, 5: 0.092}
CYJAX_SECONDS = {3: 7.4, 4: 18.4, 5: 72.0}


def run(k: int, extra: list[str]) -> tuple[dict, float, float, float]:
    entry = "from ntkflow.cli import main; main()"
    cmd = [sys.executable, "-c", entry, "cy", "donaldson", "--k", str(k), "--json", *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"k={k}: `{' '.join(cmd)}` failed")
    result = json.loads(out.strip().splitlines()[-1])
    return result, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 2**20  # KiB → GiB


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kmin", type=int, default=2)
    p.add_argument("--kmax", type=int, default=6)
    p.add_argument("--variety", default="fermat-quintic")
    a, extra = p.parse_known_args()
    quintic = a.variety == "fermat-quintic"
    extra = [*extra, "--variety", a.variety]
    head = f"{'k':>2} {'N_k':>4} {'σ_k':>7} {'±':>6} {'ref':>6} {'dev%':>5} "
    head += f"{'wall s':>7} {'cpu s':>7} {'RSS GiB':>7} {'cyjax s':>7}"
    print(head)
    for k in range(a.kmin, a.kmax + 1):
        r, wall, cpu, rss = run(k, extra)
        ref = REF.get(k, 3.1 / k**2 - 4.2 / k**3) if quintic else None
        cyjax = CYJAX_SECONDS.get(k) if quintic else None
        refs = (
            f"{'—':>6} {'—':>5}"
            if ref is None
            else f"{ref:6.3f} {100 * (r['sigma'] / ref - 1):5.1f}"
        )
        print(
            f"{k:2d} {r['n_basis']:4d} {r['sigma']:7.4f} {r['sigma_error']:6.4f} {refs} "
            f"{wall:7.1f} {cpu:7.1f} {rss:7.2f} {'' if cyjax is None else f'{cyjax:7.1f}'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
