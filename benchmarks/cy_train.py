"""Time to σ ≤ 0.05, 0.02, 0.01, 0.006 for `ntkflow cy train` on the Fermat quintic.

Wall time counts everything from the start: sampling 10⁵ points, the balanced metric, JIT
compilation and training; σ is measured on the held-out points after every step (the
measurement time is included, so the figures are upper bounds). Peak memory is the process's
maximum resident set size. Peer figures (same kind of 2-core CPU) are from
shared/reference/anchors.md.

    python benchmarks/cy_train.py                 # default trainer, float64 and float32
    python benchmarks/cy_train.py --k 4 --steps 40
"""

from __future__ import annotations

import argparse
import resource
import time

THRESHOLDS = (0.05, 0.02, 0.01, 0.006)
PEERS = [
    (
        "MLGeometry degree-4 network (incl. 156 s sampling)",
        {0.02: None, 0.01: 7.5 * 60, 0.006: 10 * 60},
    ),
    ("cymetric φ-model, TF (sampling 7 s)", {0.05: 489 + 7, 0.02: 1140 + 7, 0.01: None}),
    ("cymetric φ-model, JAX (0.036 after 13.5 min)", {0.05: None, 0.02: None, 0.01: None}),
]


def run(config: dict) -> dict:
    import ntkflow  # noqa: F401
    from ntkflow.cy.train_job import CYTrainJob

    t0 = time.perf_counter()
    job = CYTrainJob({**config, "eval_every": 1})
    setup = time.perf_counter() - t0
    state = job.init()
    reached: dict[float, float | None] = dict.fromkeys(THRESHOLDS)
    trace = []
    for _ in range(job.config.steps):
        state, m = job.step(state)
        t = time.perf_counter() - t0
        trace.append((t, m["sigma_test"]))
        for th in THRESHOLDS:
            if reached[th] is None and m["sigma_test"] <= th:
                reached[th] = t
    return {"setup": setup, "reached": reached, "trace": trace, "final": trace[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=None)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--n-fit", type=int, default=None)
    args = ap.parse_args()
    rows = []
    for dtype in args.dtypes.split(","):
        cfg = {"dtype": dtype, "steps": args.steps}
        if args.k is not None:
            cfg["k"] = args.k
        if args.n_fit is not None:
            cfg["n_fit"] = args.n_fit
        res = run(cfg)
        rows.append((f"ntkflow algebraic ({dtype})", res))
        print(
            f"{dtype}: setup {res['setup']:.1f} s; σ trace (s, σ):",
            ", ".join(f"({t:.0f}, {s:.4f})" for t, s in res["trace"]),
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    fmt = lambda v: "—" if v is None else f"{v:7.0f} s"
    print()
    print("| method | " + " | ".join(f"σ ≤ {th}" for th in THRESHOLDS) + " | final σ |")
    print("|---|" + "---|" * (len(THRESHOLDS) + 1))
    for name, res in rows:
        print(
            f"| {name} | "
            + " | ".join(fmt(res["reached"][th]) for th in THRESHOLDS)
            + f" | {res['final'][1]:.4f} at {res['final'][0]:.0f} s |"
        )
    for name, fig in PEERS:
        print(f"| {name} | " + " | ".join(fmt(fig.get(th)) for th in THRESHOLDS) + " | |")
    print(f"\npeak resident memory: {peak:.2f} GiB")


if __name__ == "__main__":
    main()
