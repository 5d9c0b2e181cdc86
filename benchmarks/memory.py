"""Wall time and peak resident memory of every documented command, at its defaults.

Each command of the README and docs/*.md runs in a fresh process under ``/usr/bin/time -v``
(in a scratch folder), and the table prints its wall time and maximum resident set size beside
the 8 GiB limit a laptop user can give. Commands that take far longer than ten minutes at their
defaults run with fewer points (the ``note`` column says which); every other option is the
default.

    python benchmarks/memory.py                       # all commands (≈ 40 min on 2 cores)
    python benchmarks/memory.py --only demo,cy-train  # a subset, by name
    python benchmarks/memory.py --markdown table.md   # also write the table as markdown
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_GIB = 8.0

FLOW_TOML = """kind = "ricci-limit"
manifold = "sphere2"
"""

# (name, argv, note); later commands may use files written by earlier ones in the same folder
COMMANDS: list[tuple[str, list[str], str]] = [
    ("demo", ["demo"], ""),
    ("cy-train", ["cy", "train", "--variety", "fermat-quintic", "--json", "--run-dir", "run"], ""),
    ("report", ["report", "run"], ""),
    (
        "cy-sample",
        [
            "cy",
            "sample",
            "--variety",
            "fermat-quintic",
            "--points",
            "100000",
            "--seed",
            "0",
            "--out",
            "pts.npz",
        ],
        "",
    ),
    (
        "cy-measure",
        ["cy", "measure", "--points", "pts.npz", "--metric", "fubini-study", "--json"],
        "",
    ),
    (
        "cy-measure-plots",
        ["cy", "measure", "--points", "pts.npz", "--metric", "fubini-study", "--plots", "plots"],
        "",
    ),
    (
        "cy-measure-bicubic",
        ["cy", "measure", "--points", "bicubic.npz", "--metric", "fubini-study", "--json"],
        "2 000 bicubic points",
    ),
    ("cy-donaldson", ["cy", "donaldson", "--variety", "fermat-quintic", "--k", "3", "--json"], ""),
    (
        "cy-kernel-flow",
        ["cy", "kernel-flow", "--variety", "fermat-quintic", "--points", "10000", "--json"],
        "",
    ),
    ("reproduce-locality", ["reproduce", "locality", "--json"], ""),
    ("reproduce-feature-learning", ["reproduce", "feature-learning", "--json"], "≈ 12 min"),
    (
        "ricci-flow-sphere2",
        ["ricci-flow", "--manifold", "sphere2", "--radius", "1", "--t-end", "0.45", "--json"],
        "",
    ),
    (
        "ricci-flow-sphere3",
        ["ricci-flow", "--manifold", "sphere3", "--radius", "1", "--t-end", "0.2", "--json"],
        "",
    ),
    (
        "ricci-flow-torus2",
        ["ricci-flow", "--manifold", "torus2", "--perturbation", "0.1", "--t-end", "1.0", "--json"],
        "",
    ),
    ("flow-ricci-limit", ["flow", "ricci-limit", "--manifold", "sphere2", "--json"], ""),
    ("flow-linearised-check", ["flow", "linearized-check", "--json"], ""),
    ("flow-width-limit", ["flow", "width-limit", "--json"], ""),
    ("flow-run", ["flow", "run", "flow.toml", "--out", "flowrun"], ""),
    (
        "ntk-convergence",
        ["ntk", "convergence", "--arch", "mlp", "--activation", "relu", "--depth", "2", "--json"],
        "",
    ),
]

SETUP = {
    "cy-measure-bicubic": [
        "cy",
        "sample",
        "--variety",
        "bicubic",
        "--points",
        "2000",
        "--seed",
        "0",
        "--out",
        "bicubic.npz",
    ],
}


def measure(argv: list[str], cwd: Path) -> tuple[int, float, float, str]:
    """(exit code, wall seconds, peak RSS GiB, last stderr line) of `ntkflow argv`."""
    entry = "import sys; from ntkflow.cli import main; sys.argv[0] = 'ntkflow'; main()"
    cmd = ["/usr/bin/time", "-v", sys.executable, "-c", entry, *argv]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    rss = int(m.group(1)) / 1024**2 if m else float("nan")
    err = [ln for ln in p.stderr.splitlines() if ln.strip() and not ln.startswith("\t")]
    return p.returncode, wall, rss, (err[-1] if err else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated command names (default: all)")
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = ap.parse_args()
    only = {s for s in args.only.split(",") if s}
    unknown = only - {c[0] for c in COMMANDS}
    if unknown:
        sys.exit(f"unknown command names {sorted(unknown)}; choose from {[c[0] for c in COMMANDS]}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="ntkflow-memory-") as tmp:
        cwd = Path(tmp)
        (cwd / "flow.toml").write_text(FLOW_TOML)
        env_note = f"{os.cpu_count()} cores"
        print(f"| command | wall [s] | peak RSS [GiB] | ≤ {LIMIT_GIB:g} GiB | exit | note |")
        print("|---|---|---|---|---|---|")
        for name, argv, note in COMMANDS:
            if only and name not in only:
                continue
            if name in SETUP:
                measure(SETUP[name], cwd)
            code, wall, rss, last = measure(argv, cwd)
            ok = "yes" if rss <= LIMIT_GIB and code == 0 else "**no**"
            extra = note if code == 0 else f"{note} {last[:80]}".strip()
            row = (
                f"| `ntkflow {' '.join(argv)}` | {wall:.1f} | {rss:.2f} | {ok} | {code} | {extra} |"
            )
            rows.append(row)
            print(row, flush=True)
    if args.markdown:
        head = [
            f"Measured with benchmarks/memory.py ({env_note}).",
            "",
            f"| command | wall [s] | peak RSS [GiB] | ≤ {LIMIT_GIB:g} GiB | exit | note |",
            "|---|---|---|---|---|---|",
        ]
        args.markdown.write_text("\n".join(head + rows) + "\n")


if __name__ == "__main__":
    main()
