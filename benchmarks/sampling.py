"""Points per second of `sample_points` (with weights) vs. the peers' figures (anchors.md):
cymetric 1e5 quintic points in 16 s (JAX backend), MLGeometry 1e5 in 156 s (2 cores).

    python benchmarks/sampling.py [--points 100000]
"""

import argparse
import time

import jax

from ntkflow.cy.sampling import sample_points
from ntkflow.cy.variety import variety_from_name

p = argparse.ArgumentParser()
p.add_argument("--points", type=int, default=100_000)
p.add_argument("--varieties", default="fermat-quintic,quartic-k3,bicubic,tetraquadric")
a = p.parse_args()
print(f"{'variety':16s} {'points':>8s} {'first (s)':>10s} {'warm (s)':>9s} {'pts/s warm':>11s}")
for name in a.varieties.split(","):
    v = variety_from_name(name)
    t0 = time.perf_counter()
    sample_points(v, a.points, jax.random.PRNGKey(0))
    t1 = time.perf_counter()
    sample_points(v, a.points, jax.random.PRNGKey(1))
    t2 = time.perf_counter()
    print(f"{name:16s} {a.points:8d} {t1 - t0:10.2f} {t2 - t1:9.2f} {a.points / (t2 - t1):11.0f}")
print("peers (quintic, 1e5): cymetric-JAX 16 s, cymetric-TF 7 s, MLGeometry 156 s")
