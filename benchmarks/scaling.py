"""Strong and weak scaling of the data-parallel layer (:mod:`ntkflow.parallel`).

Times one full-batch L-BFGS step of ``cy train`` (algebraic ansatz, float64) and one Euler step
of ``cy kernel-flow`` (Gaussian kernel) on meshes of 1, 2, 4, … devices:

- strong scaling: the same total number of points on every mesh (time should fall as 1/D);
- weak scaling: a fixed number of points per device (time should stay flat).

Each row also prints the per-device footprint of the compiled training step (XLA's memory
analysis) and the largest relative difference of the loss after the timed steps from the
1-device run (float64 round-off: the same numbers on every mesh). The baseline is the 1-device
row of each table.

On a CPU the devices are virtual (``XLA_FLAGS=--xla_force_host_platform_device_count=N``, set
here unless given) and share the machine's cores: the tables then show correctness and the
overhead of sharding, not speed-up. On a multi-GPU node the devices are the GPUs.

    python benchmarks/scaling.py [--devices 1 2 4] [--points 20000] [--steps 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--points", type=int, default=20_000, help="training points (strong)")
    ap.add_argument("--per-device", type=int, default=5_000, help="points per device (weak)")
    ap.add_argument("--flow-points", type=int, default=20_000, help="kernel-flow points")
    ap.add_argument("--k", type=int, default=3, help="degree of the algebraic ansatz")
    ap.add_argument("--steps", type=int, default=4, help="timed steps per row")
    return ap.parse_args()


ARGS = _parse()
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + f" --xla_force_host_platform_device_count={max(ARGS.devices)}"
    )

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

from ntkflow.cy.kernel_flow import KernelFlowConfig, run_kernel_flow  # noqa: E402
from ntkflow.cy.train_job import CYTrainJob  # noqa: E402


def train_row(devices: int, n_fit: int) -> tuple[float, float, list[float]]:
    """(seconds per L-BFGS step, compiled bytes per device of the step, losses)."""
    cfg = dict(
        variety="fermat-quintic",
        n_points=n_fit + 1_000,
        n_test=1_000,
        n_fit=n_fit,
        k=ARGS.k,
        steps=ARGS.steps + 1,
        time_budget=0,
        eval_every=10_000,
        n_balance=min(n_fit, 10_000),
        dtype="float64",
        devices=devices,
    )
    job = CYTrainJob(cfg)
    state = job.init()
    state, first = job.step(state)  # compiles
    losses = [first["loss"]]
    t0 = time.perf_counter()
    for _ in range(ARGS.steps):
        state, m = job.step(state)
        losses.append(m["loss"])
    jax.block_until_ready(state["params"])
    per_step = (time.perf_counter() - t0) / ARGS.steps
    compiled = job._step.lower(state["params"], state["opt_state"], job.fit, state["key"])
    mem = compiled.compile().memory_analysis()
    per_device = (mem.temp_size_in_bytes + mem.argument_size_in_bytes) if mem else float("nan")
    return per_step, per_device, losses


def flow_row(devices: int, n_points: int) -> tuple[float, float]:
    """(seconds per Euler step of the Gaussian kernel flow, final training loss)."""

    def run(steps: int) -> tuple[float, float]:
        cfg = KernelFlowConfig(
            n_points=n_points, n_test=1_000, steps=steps, eval_every=steps, devices=devices
        )
        t0 = time.perf_counter()
        hist = run_kernel_flow(cfg)
        return time.perf_counter() - t0, hist["loss"][-1]

    few, many = 2, 2 + 20 * ARGS.steps
    t_few, _ = run(few)
    t_many, loss = run(many)
    return (t_many - t_few) / (many - few), loss


def table(title: str, rows: list[tuple], header: tuple[str, ...]) -> None:
    print(f"\n{title}")
    print(" | ".join(f"{h:>14}" for h in header))
    print("-" * (17 * len(header)))
    for r in rows:
        print(" | ".join(f"{x:>14.4g}" if isinstance(x, float) else f"{x!s:>14}" for x in r))


def main() -> None:
    devs = [d for d in ARGS.devices if d <= len(jax.local_devices())]
    print(
        f"backend {jax.default_backend()}, {len(jax.local_devices())} local devices, "
        f"{os.cpu_count()} CPU cores; timed steps per row: {ARGS.steps}"
    )
    for name, size in (("strong", lambda d: ARGS.points), ("weak", lambda d: ARGS.per_device * d)):
        rows, base, base_losses = [], None, None
        for d in devs:
            t, mem, losses = train_row(d, size(d))
            if base is None:
                base, base_losses = t, losses
            same = max(abs(a / b - 1) for a, b in zip(losses, base_losses, strict=True))
            rows.append((d, size(d), t, base / t, mem / 2**20, same if name == "strong" else "-"))
        table(
            f"cy train, one L-BFGS step ({name} scaling, k = {ARGS.k}, float64)",
            rows,
            ("devices", "points", "s/step", "speed-up", "MiB/device", "Δloss vs 1"),
        )
    rows, base, base_loss = [], None, None
    for d in devs:
        for name, n in (("strong", ARGS.flow_points), ("weak", ARGS.per_device * d)):
            t, loss = flow_row(d, n)
            if name == "strong":
                base = t if base is None else base
                base_loss = loss if base_loss is None else base_loss
                rows.append((d, name, n, t, base / t, abs(loss / base_loss - 1)))
            else:
                rows.append((d, name, n, t, "-", "-"))
    table(
        "cy kernel-flow, one Euler step (Gaussian kernel, 512 features)",
        rows,
        ("devices", "scaling", "points", "s/step", "speed-up", "Δloss vs 1"),
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
