"""σ_k and seconds per degree k for Donaldson's balanced metric on the Fermat quintic,
against anchors.md: σ_k = 0.273, 0.195, 0.131, 0.092 (k = 2..5), the peer took 204 s for k = 5.

    python benchmarks/donaldson.py [--kmax 6]
"""

import argparse

import jax

from ntkflow.cy.donaldson import default_n_points, donaldson
from ntkflow.cy.variety import fermat_quintic

REF = {2: 0.273, 3: 0.195, 4: 0.131, 5: 0.092}
p = argparse.ArgumentParser()
p.add_argument("--kmin", type=int, default=2)
p.add_argument("--kmax", type=int, default=6)
p.add_argument("--test-points", type=int, default=50_000)
a = p.parse_args()
v = fermat_quintic()
cols = ["k", "N_k", "points", "sigma", "±", "ref", "dev %", "s"]
widths = [2, 4, 7, 8, 7, 6, 6, 7]
print(" ".join(f"{c:>{w}s}" for c, w in zip(cols, widths, strict=True)))
for k in range(a.kmin, a.kmax + 1):
    r = donaldson(v, k, jax.random.PRNGKey(k), n_test=a.test_points)
    ref = REF.get(k, 3.1 / k**2 - 4.2 / k**3)
    dev = 100 * (r["sigma"] / ref - 1)
    print(
        f"{k:2d} {r['n_basis']:4d} {default_n_points(v, k):7d} {r['sigma']:8.4f} "
        f"{r['sigma_error']:7.4f} {ref:6.3f} {dev:6.1f} {r['seconds']:7.1f}",
        flush=True,
    )
