"""`ntkflow flow ...` commands: metric flows and their limits (``ntkflow.flows``).

ntkflow flow ricci-limit --manifold sphere2 --json   distance to Ricci flow vs σ
ntkflow flow linearized-check --json                 linearised net = empirical kernel flow
ntkflow flow width-limit --json                      finite vs infinite width
ntkflow flow run CONFIG.toml                         any of these (or a parameter flow)
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import typer

from ..io.config import option
from ._common import emit, fail, info, progress_bar

app = typer.Typer(
    help="Metric flows: parameter, kernel, linearised, Ricci limit.", no_args_is_help=True
)


def _floats(text: str, what: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        fail(f"{what}: expected comma-separated numbers, got {text!r}")
    if not vals:
        fail(f"{what}: no values given")
    return vals


def _plot(path: str | None, xs, ys, xlabel: str, ylabel: str, title: str, loglog=True) -> None:
    if not path:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(xs, ys, "o-")
    if loglog:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    info(f"plot written to {path}")


def _ricci_limit(manifold, sigmas, t, points_per_sigma, gauge, plot) -> dict[str, Any]:
    from ..flows.ricci_limit import GAUGES, MANIFOLDS, ricci_limit

    if manifold not in MANIFOLDS:
        fail(f"--manifold must be one of {MANIFOLDS}, got {manifold!r}")
    if gauge is not None and gauge not in GAUGES:
        fail(f"--gauge must be one of {GAUGES}, got {gauge!r}")
    if t is None:
        t = 0.1 if manifold == "sphere2" else 0.25
    with progress_bar(f"Gaussian-kernel Ricci flow on {manifold}", len(sigmas)) as advance:
        out = ricci_limit(
            manifold,
            sigmas,
            t,
            gauge=gauge,
            points_per_sigma=points_per_sigma,
            progress=lambda s, d: advance(status=f"σ={s:g}: distance {d:.3g}"),
        )
    _plot(
        plot,
        out["sigmas"],
        out["distances"],
        "σ",
        "relative distance",
        f"distance to Ricci flow at t={t:g} ({manifold})",
    )
    return out


@app.command("ricci-limit")
def ricci_limit_cmd(
    manifold: str = typer.Option(
        "sphere2", help="Manifold: sphere2 (exact round solution) or torus2."
    ),
    sigmas: str = typer.Option("0.4,0.3,0.2", help="Kernel lengthscales σ, comma-separated."),
    t: float = typer.Option(None, help="Flow time.", show_default="0.1 on sphere2, 0.25 on torus2"),
    points_per_sigma: float = typer.Option(1.5, help="Grid points per σ."),
    gauge: str = typer.Option(None, help="Gauge: hamilton or perelman.", show_default="hamilton"),
    plot: str = typer.Option(
        None, help="Write the PNG of distance against σ here.", show_default="no plot"
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object on stdout (progress stays on stderr)."
    ),
) -> None:
    """Distance between the Gaussian-kernel flow and Ricci flow for each lengthscale σ.

    Measured at a fixed flow time (paper §3: the flow tends to Ricci flow as σ → 0).
    """
    out = _ricci_limit(manifold, _floats(sigmas, "--sigmas"), t, points_per_sigma, gauge, plot)
    emit(out, as_json, "ricci limit")


def _linearized_check(points: int, width: int, t: float, seed: int) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ..flows.kernel_flow import kernel_flow
    from ..flows.linearised import linearised_flow
    from ..flows.losses import MetricRegression
    from ..flows.width_limit import make_head, target_metric
    from ..kernels import EmpiricalKernel

    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    xs = jax.random.uniform(k1, (points, 2), minval=-2.0, maxval=2.0)
    ev = jax.random.uniform(k2, (16, 2), minval=-2.0, maxval=2.0)
    w = jnp.full(points, 1.0 / points)
    head = make_head(width, k3, depth=1)
    loss, ts = MetricRegression(target_metric), np.linspace(0.0, t, 6)
    with progress_bar("linearised flow vs empirical-NTK kernel flow", 2) as advance:
        _, lins = linearised_flow(head, loss, xs, w, ts)
        advance()
        kf = kernel_flow(
            loss, head, EmpiricalKernel(head), xs, w, t, ts=ts, dense=True, rtol=1e-10, atol=1e-12
        )
        advance()
    devs, moved = [], 0.0
    for i in range(len(ts)):
        a = np.asarray(jax.vmap(lins[i])(ev))
        b = np.asarray(kf.metric_at_time(i).values(ev))
        devs.append(float(np.abs(a - b).max()))
        moved = max(moved, float(np.abs(a - np.asarray(jax.vmap(head)(ev))).max()))
    return {
        "max_deviation": max(devs),
        "deviations": devs,
        "times": ts,
        "max_change": moved,
        "points": points,
        "width": width,
    }


@app.command("linearized-check")
def linearized_check_cmd(
    points: int = typer.Option(8, help="Collocation points."),
    width: int = typer.Option(32, help="MLP width."),
    t: float = typer.Option(3.0, help="Flow time."),
    seed: int = typer.Option(0, help="Seed of the random number generator."),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object on stdout (progress stays on stderr)."
    ),
) -> None:
    """Linearised-network gradient flow against the empirical-NTK kernel flow.

    Maximum deviation of the metric along the trajectory, off the collocation points.
    """
    emit(_linearized_check(points, width, t, seed), as_json, "linearized check")


def _width_limit(widths, points, t, lr, seed, plot) -> dict[str, Any]:
    from ..flows.width_limit import width_limit

    with progress_bar("finite vs infinite width", len(widths)) as advance:
        out = width_limit(
            widths,
            points=points,
            t=t,
            lr=lr,
            seed=seed,
            progress=lambda n, d, c: advance(status=f"N={n}: distance {d:.3g}, ΔΘ {c:.3g}"),
        )
    _plot(
        plot, out["widths"], out["ntk_changes"], "width N", "‖Θ_t − Θ_0‖/‖Θ_0‖", "metric-NTK change"
    )
    return out


@app.command("width-limit")
def width_limit_cmd(
    widths: str = typer.Option("64,256,1024", help="MLP widths, comma-separated."),
    points: int = typer.Option(12, help="Training points."),
    t: float = typer.Option(4.0, help="Flow time."),
    lr: float = typer.Option(0.02, help="Gradient-descent step."),
    seed: int = typer.Option(0, help="Seed of the random number generator."),
    plot: str = typer.Option(
        None, help="Write the PNG of NTK change against width here.", show_default="no plot"
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object on stdout (progress stays on stderr)."
    ),
) -> None:
    """Finite-width gradient descent against the infinite-width kernel flow (analytic NTK)."""
    ws = [int(v) for v in _floats(widths, "--widths")]
    emit(_width_limit(ws, points, t, lr, seed, plot), as_json, "width limit")


def _parameter_run(cfg: dict, out_dir: str) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    from ..flows.losses import EinsteinLoss, MetricRegression
    from ..flows.parameter_flow import parameter_flow
    from ..flows.width_limit import make_head, target_metric

    k1, k2 = jax.random.split(jax.random.key(int(cfg.get("seed", 0))))
    pts = int(cfg.get("points", 16))
    xs = jax.random.uniform(k1, (pts, 2), minval=-2.0, maxval=2.0)
    w = jnp.full(pts, 1.0 / pts)
    name = cfg.get("loss", "regression")
    if name == "regression":
        loss = MetricRegression(target_metric)
    elif name == "einstein":
        loss = EinsteinLoss(lam=float(cfg.get("lam", 0.0)))
    else:
        fail(f"config: loss must be 'regression' or 'einstein', got {name!r}")
    head = make_head(int(cfg.get("width", 128)), k2, int(cfg.get("depth", 2)))
    steps = int(cfg.get("steps", 200))
    log = open(os.path.join(out_dir, "metrics.jsonl"), "w")  # noqa: SIM115
    with progress_bar("parameter flow", steps) as advance:

        def cb(i, val):
            log.write(json.dumps({"step": i, "loss": val}) + "\n")
            advance(status=f"loss {val:.3g}")

        res = parameter_flow(
            head,
            loss,
            xs,
            w,
            steps,
            cfg.get("optimizer", "adam"),
            float(cfg.get("lr", 1e-2)),
            ntk_every=int(cfg.get("ntk_every", 50)),
            callback=cb,
        )
    log.close()
    _plot(
        os.path.join(out_dir, "loss.png"),
        range(len(res.losses)),
        res.losses,
        "step",
        "loss",
        "training loss",
        loglog=False,
    )
    _plot(
        os.path.join(out_dir, "ntk_change.png"),
        res.ntk_steps,
        res.ntk_changes,
        "step",
        "‖Θ_t − Θ_0‖/‖Θ_0‖",
        "metric-NTK change",
        loglog=False,
    )
    return {
        "losses": [float(res.losses[0]), float(res.losses[-1])],
        "ntk_steps": res.ntk_steps,
        "ntk_changes": res.ntk_changes,
    }


def _kernel_run(cfg: dict, out_dir: str) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ..flows.kernel_flow import FlowError, SeparableKernel, kernel_flow
    from ..flows.losses import MetricRegression, total_loss
    from ..flows.width_limit import target_metric
    from ..kernels import GaussianKernel

    pts, ell = int(cfg.get("points", 200)), float(cfg.get("lengthscale", 0.5))
    t1, saves = float(cfg.get("t", 5.0)), int(cfg.get("saves", 11))
    xs = jax.random.uniform(
        jax.random.key(int(cfg.get("seed", 0))), (pts, 2), minval=-2.0, maxval=2.0
    )
    w = jnp.full(pts, 1.0 / pts)
    kern = SeparableKernel(GaussianKernel(ell), 2)
    loss = MetricRegression(target_metric)
    ref = lambda x: jnp.eye(2)
    log = open(os.path.join(out_dir, "metrics.jsonl"), "w")  # noqa: SIM115
    times, losses = [0.0], [float(total_loss(loss, ref, xs, w))]
    state = os.path.join(out_dir, "kernel_flow_state.npz")

    def save(alpha, t, status):  # the flow writes nothing itself: the state goes through io
        from io import BytesIO

        from ..io.atomic import atomic_write_bytes

        buf = BytesIO()
        np.savez(buf, alpha=np.asarray(alpha), centers=np.asarray(xs), t=t, status=status)
        atomic_write_bytes(state, buf.getvalue())

    with progress_bar("kernel flow", t1) as advance:

        def cb(t, metric):
            save(metric.alpha, t, "ok")
            val = float(total_loss(loss, metric, xs, w))
            times.append(t)
            losses.append(val)
            log.write(json.dumps({"t": t, "loss": val}) + "\n")
            advance(completed=t, status=f"loss {val:.3g}")

        try:
            kernel_flow(
                loss,
                ref,
                kern,
                xs,
                w,
                t1,
                ts=np.linspace(0, t1, saves),
                dense=bool(cfg.get("dense", False)),
                callback=cb,
            )
        except FlowError as e:
            log.close()
            if e.last_good is not None:
                save(e.last_good.alpha, e.last_time, "failed")
                fail(f"{e} (last good state saved to {state})", code=1)
            fail(str(e), code=1)
    log.close()
    _plot(
        os.path.join(out_dir, "loss.png"),
        times,
        losses,
        "flow time t",
        "loss",
        "kernel flow: loss",
        loglog=False,
    )
    return {"times": times, "losses": losses, "points": pts}


def _positive(name: str, values: tuple) -> None:
    if not values:
        raise ValueError(f"{name} must list at least one value")
    bad = [v for v in values if not v > 0]
    if bad:
        raise ValueError(f"{name} must be positive, got {bad[0]!r}")


@dataclasses.dataclass(frozen=True)
class RicciLimitRun:
    """``kind = "ricci-limit"``: distance to Ricci flow against the kernel lengthscale σ."""

    manifold: str = option("sphere2", "Manifold.", choices=("sphere2", "torus2"))
    sigmas: tuple[float, ...] = option((0.4, 0.3, 0.2), "Kernel lengthscales.")
    t: float | None = option(None, "Flow time.", min=0.0, min_exclusive=True)
    points_per_sigma: float = option(1.5, "Grid points per σ.", min=0.0, min_exclusive=True)
    gauge: str | None = option(None, "Gauge.", choices=(None, "hamilton", "perelman"))

    def __post_init__(self):
        _positive("sigmas", self.sigmas)


@dataclasses.dataclass(frozen=True)
class WidthLimitRun:
    """``kind = "width-limit"``: finite against infinite width."""

    widths: tuple[int, ...] = option((64, 256, 1024), "MLP widths.")
    points: int = option(12, "Training points.", min=1)
    t: float = option(4.0, "Flow time.", min=0.0, min_exclusive=True)
    lr: float = option(0.02, "Gradient-descent step.", min=0.0, min_exclusive=True)
    seed: int = option(0, "Seed.")

    def __post_init__(self):
        _positive("widths", self.widths)


@dataclasses.dataclass(frozen=True)
class LinearisedCheckRun:
    """``kind = "linearized-check"``: linearised network against the empirical-NTK flow."""

    points: int = option(8, "Collocation points.", min=1)
    width: int = option(32, "MLP width.", min=1)
    t: float = option(3.0, "Flow time.", min=0.0, min_exclusive=True)
    seed: int = option(0, "Seed.")


@dataclasses.dataclass(frozen=True)
class ParameterRun:
    """``kind = "parameter"``: gradient flow of the network parameters."""

    seed: int = option(0, "Seed.")
    points: int = option(16, "Training points.", min=1)
    loss: str = option("regression", "Loss.", choices=("regression", "einstein"))
    lam: float = option(0.0, "Einstein constant λ.")
    width: int = option(128, "MLP width.", min=1)
    depth: int = option(2, "MLP hidden layers.", min=1)
    steps: int = option(200, "Optimiser steps.", min=1)
    optimizer: str = option("adam", "Optimiser.", choices=("sgd", "adam", "lbfgs"))
    lr: float = option(1e-2, "Learning rate.", min=0.0, min_exclusive=True)
    ntk_every: int = option(50, "Steps between metric-NTK measurements.", min=1)


@dataclasses.dataclass(frozen=True)
class KernelRun:
    """``kind = "kernel"``: frozen Gaussian-kernel flow."""

    points: int = option(200, "Collocation points.", min=1)
    lengthscale: float = option(0.5, "Kernel lengthscale.", min=0.0, min_exclusive=True)
    t: float = option(5.0, "Flow time.", min=0.0, min_exclusive=True)
    saves: int = option(11, "Saved times.", min=2)
    seed: int = option(0, "Seed.")
    dense: bool = option(False, "Dense output.")


RUN_KINDS = {
    "ricci-limit": RicciLimitRun,
    "width-limit": WidthLimitRun,
    "linearized-check": LinearisedCheckRun,
    "parameter": ParameterRun,
    "kernel": KernelRun,
}


def _read_run_config(config: str) -> tuple[str, Any]:
    """``(kind, validated config)`` of a `flow run` TOML file; a usage error otherwise."""
    from ..io import InputError, from_dict, load_toml
    from ..io.validate import check_choice

    try:
        data = load_toml(config)
        kind = data.pop("kind", None)
        if kind is None:
            raise InputError(f"{config}: no 'kind' key (one of {', '.join(RUN_KINDS)})")
        check_choice(f"{config}: kind", kind, RUN_KINDS)
        return kind, from_dict(RUN_KINDS[kind], data, config)
    except InputError as e:
        fail(str(e))


@app.command("run")
def run_cmd(
    config: str = typer.Argument(
        ...,
        help="TOML file with kind = ricci-limit, width-limit, linearized-check, parameter or "
        "kernel, and that kind's options (an unknown key is an error).",
    ),
    out: str = typer.Option(
        None,
        help="Output folder for result.json, metrics and plots.",
        show_default="runs/flow-KIND",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object on stdout (progress stays on stderr)."
    ),
) -> None:
    """Run a flow from a config file; writes result.json, metrics and PNG plots.

    The config is checked in full (types, ranges, unknown keys) before the output folder is
    made; a flow that fails at run time removes the folder it made unless it saved a state.
    """
    kind, c = _read_run_config(config)
    out_dir = out or os.path.join("runs", f"flow-{kind}")
    made = not os.path.exists(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        fail(f"--out {out_dir}: cannot create the folder ({e.strerror})")
    try:
        res = _run_kind(kind, c, out_dir)
    except BaseException:
        if made and not os.path.exists(os.path.join(out_dir, "kernel_flow_state.npz")):
            import shutil

            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    from ..io.atomic import atomic_write_text
    from ._common import to_jsonable

    atomic_write_text(os.path.join(out_dir, "result.json"), json.dumps(to_jsonable(res)))
    res = {"kind": kind, "out": out_dir, **res}
    emit(res, as_json, f"flow run ({kind})")


def _run_kind(kind: str, c: Any, out_dir: str) -> dict[str, Any]:
    if kind == "ricci-limit":
        return _ricci_limit(
            c.manifold,
            list(c.sigmas),
            c.t,
            c.points_per_sigma,
            c.gauge,
            os.path.join(out_dir, "distance_vs_sigma.png"),
        )
    if kind == "width-limit":
        plot = os.path.join(out_dir, "ntk_change.png")
        return _width_limit(list(c.widths), c.points, c.t, c.lr, c.seed, plot)
    if kind == "linearized-check":
        return _linearized_check(c.points, c.width, c.t, c.seed)
    if kind == "parameter":
        return _parameter_run(dataclasses.asdict(c), out_dir)
    return _kernel_run(dataclasses.asdict(c), out_dir)
