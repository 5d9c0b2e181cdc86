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
from ._common import JSON, config_option, emit, fail, failing_on, figure, info, progress_bar

app = typer.Typer(
    help="Metric flows: parameter, kernel, linearised, Ricci limit.", no_args_is_help=True
)


def _positive(name: str, values: tuple) -> None:
    if not values:
        raise ValueError(f"{name} must list at least one value")
    bad = [v for v in values if not v > 0]
    if bad:
        raise ValueError(f"{name} must be positive, got {bad[0]!r}")


@dataclasses.dataclass(frozen=True)
class RicciLimitRun:
    """``kind = "ricci-limit"``: distance to Ricci flow against the kernel lengthscale σ."""

    manifold: str = option(
        "sphere2",
        "Manifold: sphere2 (exact round solution) or torus2.",
        choices=("sphere2", "torus2"),
    )
    sigmas: tuple[float, ...] = option((0.4, 0.3, 0.2), "Kernel lengthscales σ.")
    t: float | None = option(None, "Flow time.", min=0.0, min_exclusive=True)
    points_per_sigma: float = option(1.5, "Grid points per σ.", min=0.0, min_exclusive=True)
    gauge: str | None = option(
        None, "Gauge: hamilton or perelman.", choices=(None, "hamilton", "perelman")
    )

    def __post_init__(self):
        _positive("sigmas", self.sigmas)


@dataclasses.dataclass(frozen=True)
class WidthLimitRun:
    """``kind = "width-limit"``: finite against infinite width."""

    widths: tuple[int, ...] = option((64, 256, 1024), "MLP widths.")
    points: int = option(12, "Training points.", min=1)
    t: float = option(4.0, "Flow time.", min=0.0, min_exclusive=True)
    lr: float = option(0.02, "Gradient-descent step.", min=0.0, min_exclusive=True)
    seed: int = option(0, "Seed of the random number generator.")

    def __post_init__(self):
        _positive("widths", self.widths)


@dataclasses.dataclass(frozen=True)
class LinearisedCheckRun:
    """``kind = "linearized-check"``: linearised network against the empirical-NTK flow."""

    points: int = option(8, "Collocation points.", min=1)
    width: int = option(32, "MLP width.", min=1)
    t: float = option(3.0, "Flow time.", min=0.0, min_exclusive=True)
    seed: int = option(0, "Seed of the random number generator.")


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


def _config(cls: type, **flags: Any) -> Any:
    """``cls`` from command-line flags (``None``: not given), checked like a `flow run` file."""
    from ..io import InputError, resolve_config

    with failing_on(InputError):
        return resolve_config(cls, None, flags)


def _numbers(text: str | None, what: str) -> tuple | None:
    """``"0.4,0.3"`` -> ``(0.4, 0.3)`` (integers stay integers); ``None`` when not given."""
    if text is None:
        return None

    def number(v: str) -> int | float:
        try:
            return int(v)
        except ValueError:
            return float(v)

    try:
        return tuple(number(v) for v in text.split(",") if v.strip())
    except ValueError:
        fail(f"{what}: expected comma-separated numbers, got {text!r}")


def _plot(path: str | None, xs, ys, xlabel: str, ylabel: str, title: str, loglog=True) -> None:
    if not path:
        return
    with figure(path, figsize=(5, 3.6)) as ax:
        ax.plot(xs, ys, "o-")
        if loglog:
            ax.set(xscale="log", yscale="log")
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    info(f"plot written to {path}")


def _ricci_limit(c: RicciLimitRun, plot: str | None) -> dict[str, Any]:
    from ..flows.ricci_limit import ricci_limit

    t = c.t if c.t is not None else (0.1 if c.manifold == "sphere2" else 0.25)
    with progress_bar(f"Gaussian-kernel Ricci flow on {c.manifold}", len(c.sigmas)) as advance:
        out = ricci_limit(
            c.manifold,
            list(c.sigmas),
            t,
            gauge=c.gauge,
            points_per_sigma=c.points_per_sigma,
            progress=lambda s, d: advance(status=f"σ={s:g}: distance {d:.3g}"),
        )
    title = f"distance to Ricci flow at t={t:g} ({c.manifold})"
    _plot(plot, out["sigmas"], out["distances"], "σ", "relative distance", title)
    return out


def _linearised_check(c: LinearisedCheckRun) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ..flows.kernel_flow import kernel_flow
    from ..flows.linearised import linearised_flow
    from ..flows.losses import MetricRegression
    from ..flows.width_limit import make_head, target_metric
    from ..kernels import EmpiricalKernel

    k1, k2, k3 = jax.random.split(jax.random.key(c.seed), 3)
    xs = jax.random.uniform(k1, (c.points, 2), minval=-2.0, maxval=2.0)
    ev = jax.random.uniform(k2, (16, 2), minval=-2.0, maxval=2.0)
    w = jnp.full(c.points, 1.0 / c.points)
    head = make_head(c.width, k3, depth=1)
    loss, ts = MetricRegression(target_metric), np.linspace(0.0, c.t, 6)
    with progress_bar("linearised flow vs empirical-NTK kernel flow", 2) as advance:
        _, lins = linearised_flow(head, loss, xs, w, ts)
        advance()
        kf = kernel_flow(
            loss, head, EmpiricalKernel(head), xs, w, c.t, ts=ts, dense=True, rtol=1e-10, atol=1e-12
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
        "points": c.points,
        "width": c.width,
    }


def _width_limit(c: WidthLimitRun, plot: str | None) -> dict[str, Any]:
    from ..flows.width_limit import width_limit

    with progress_bar("finite vs infinite width", len(c.widths)) as advance:
        out = width_limit(
            list(c.widths),
            points=c.points,
            t=c.t,
            lr=c.lr,
            seed=c.seed,
            progress=lambda n, d, ch: advance(status=f"N={n}: distance {d:.3g}, ΔΘ {ch:.3g}"),
        )
    ylabel = "‖Θ_t − Θ_0‖/‖Θ_0‖"
    _plot(plot, out["widths"], out["ntk_changes"], "width N", ylabel, "metric-NTK change")
    return out


def _collocation(seed, n: int):
    """``n`` uniform points in [−2, 2]² and equal weights 1/n."""
    import jax
    import jax.numpy as jnp

    xs = jax.random.uniform(seed, (n, 2), minval=-2.0, maxval=2.0)
    return xs, jnp.full(n, 1.0 / n)


def _parameter_run(c: ParameterRun, out_dir: str) -> dict[str, Any]:
    import jax

    from ..flows.losses import EinsteinLoss, MetricRegression
    from ..flows.parameter_flow import parameter_flow
    from ..flows.width_limit import make_head, target_metric

    k1, k2 = jax.random.split(jax.random.key(c.seed))
    xs, w = _collocation(k1, c.points)
    loss = MetricRegression(target_metric) if c.loss == "regression" else EinsteinLoss(lam=c.lam)
    head = make_head(c.width, k2, c.depth)
    with (
        open(os.path.join(out_dir, "metrics.jsonl"), "w") as log,
        progress_bar("parameter flow", c.steps) as advance,
    ):

        def cb(i, val):
            log.write(json.dumps({"step": i, "loss": val}) + "\n")
            advance(status=f"loss {val:.3g}")

        res = parameter_flow(
            head, loss, xs, w, c.steps, c.optimizer, c.lr, ntk_every=c.ntk_every, callback=cb
        )
    change = "‖Θ_t − Θ_0‖/‖Θ_0‖"
    plot = os.path.join(out_dir, "loss.png")
    _plot(plot, range(len(res.losses)), res.losses, "step", "loss", "training loss", False)
    plot = os.path.join(out_dir, "ntk_change.png")
    _plot(plot, res.ntk_steps, res.ntk_changes, "step", change, "metric-NTK change", False)
    return {
        "losses": [float(res.losses[0]), float(res.losses[-1])],
        "ntk_steps": res.ntk_steps,
        "ntk_changes": res.ntk_changes,
    }


def _kernel_run(c: KernelRun, out_dir: str) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ..flows.kernel_flow import FlowError, SeparableKernel, kernel_flow
    from ..flows.losses import MetricRegression, total_loss
    from ..flows.width_limit import target_metric
    from ..io.points import write_npz
    from ..kernels import GaussianKernel

    xs, w = _collocation(jax.random.key(c.seed), c.points)
    kern = SeparableKernel(GaussianKernel(c.lengthscale), 2)
    loss = MetricRegression(target_metric)
    ref = lambda x: jnp.eye(2)
    times, losses = [0.0], [float(total_loss(loss, ref, xs, w))]
    state = os.path.join(out_dir, "kernel_flow_state.npz")

    def save(alpha, t, status):  # the flow writes nothing itself: the state goes through io
        write_npz(state, alpha=alpha, centers=xs, t=t, status=status)

    with (
        open(os.path.join(out_dir, "metrics.jsonl"), "w") as log,
        progress_bar("kernel flow", c.t) as advance,
    ):

        def cb(t, metric):
            save(metric.alpha, t, "ok")
            val = float(total_loss(loss, metric, xs, w))
            times.append(t)
            losses.append(val)
            log.write(json.dumps({"t": t, "loss": val}) + "\n")
            advance(completed=t, status=f"loss {val:.3g}")

        try:
            ts = np.linspace(0, c.t, c.saves)
            kernel_flow(loss, ref, kern, xs, w, c.t, ts=ts, dense=c.dense, callback=cb)
        except FlowError as e:
            if e.last_good is None:
                fail(str(e), code=1)
            save(e.last_good.alpha, e.last_time, "failed")
            fail(f"{e} (last good state saved to {state})", code=1)
    plot = os.path.join(out_dir, "loss.png")
    _plot(plot, times, losses, "flow time t", "loss", "kernel flow: loss", loglog=False)
    return {"times": times, "losses": losses, "points": c.points}


@app.command("ricci-limit")
def ricci_limit_cmd(
    manifold: str | None = config_option(RicciLimitRun, "manifold"),
    sigmas: str = typer.Option("0.4,0.3,0.2", help="Kernel lengthscales σ, comma-separated."),
    t: float | None = typer.Option(
        None, help="Flow time.", show_default="0.1 on sphere2, 0.25 on torus2"
    ),
    points_per_sigma: float | None = config_option(RicciLimitRun, "points_per_sigma"),
    gauge: str | None = typer.Option(
        None, help="Gauge: hamilton or perelman.", show_default="hamilton"
    ),
    plot: str = typer.Option(
        None, help="Write the PNG of distance against σ here.", show_default="no plot"
    ),
    as_json: bool = JSON,
) -> None:
    """Distance between the Gaussian-kernel flow and Ricci flow for each lengthscale σ.

    Measured at a fixed flow time (paper §3: the flow tends to Ricci flow as σ → 0).
    """
    sig = _numbers(sigmas, "--sigmas")
    flags = dict(manifold=manifold, sigmas=sig, t=t, points_per_sigma=points_per_sigma)
    c = _config(RicciLimitRun, gauge=gauge, **flags)
    emit(_ricci_limit(c, plot), as_json, "ricci limit")


@app.command("linearized-check")
def linearized_check_cmd(
    points: int | None = config_option(LinearisedCheckRun, "points"),
    width: int | None = config_option(LinearisedCheckRun, "width"),
    t: float | None = config_option(LinearisedCheckRun, "t"),
    seed: int | None = config_option(LinearisedCheckRun, "seed"),
    as_json: bool = JSON,
) -> None:
    """Linearised-network gradient flow against the empirical-NTK kernel flow.

    Maximum deviation of the metric along the trajectory, off the collocation points.
    """
    c = _config(LinearisedCheckRun, points=points, width=width, t=t, seed=seed)
    emit(_linearised_check(c), as_json, "linearized check")


@app.command("width-limit")
def width_limit_cmd(
    widths: str = typer.Option("64,256,1024", help="MLP widths, comma-separated."),
    points: int | None = config_option(WidthLimitRun, "points"),
    t: float | None = config_option(WidthLimitRun, "t"),
    lr: float | None = config_option(WidthLimitRun, "lr"),
    seed: int | None = config_option(WidthLimitRun, "seed"),
    plot: str = typer.Option(
        None, help="Write the PNG of NTK change against width here.", show_default="no plot"
    ),
    as_json: bool = JSON,
) -> None:
    """Finite-width gradient descent against the infinite-width kernel flow (analytic NTK)."""
    ws = _numbers(widths, "--widths")
    c = _config(WidthLimitRun, widths=ws, points=points, t=t, lr=lr, seed=seed)
    emit(_width_limit(c, plot), as_json, "width limit")


def _read_run_config(config: str) -> tuple[str, Any]:
    """``(kind, validated config)`` of a `flow run` TOML file; a usage error otherwise."""
    from ..io import InputError, from_dict, load_toml
    from ..io.validate import check_choice

    with failing_on(InputError):
        data = load_toml(config)
        kind = data.pop("kind", None)
        if kind is None:
            raise InputError(f"{config}: no 'kind' key (one of {', '.join(RUN_KINDS)})")
        check_choice(f"{config}: kind", kind, RUN_KINDS)
        return kind, from_dict(RUN_KINDS[kind], data, config)


def _run_kind(kind: str, c: Any, out_dir: str) -> dict[str, Any]:
    plot = os.path.join(
        out_dir, "distance_vs_sigma.png" if kind == "ricci-limit" else "ntk_change.png"
    )
    if kind == "ricci-limit":
        return _ricci_limit(c, plot)
    if kind == "width-limit":
        return _width_limit(c, plot)
    if kind == "linearized-check":
        return _linearised_check(c)
    return (_parameter_run if kind == "parameter" else _kernel_run)(c, out_dir)


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
    as_json: bool = JSON,
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
    emit({"kind": kind, "out": out_dir, **res}, as_json, f"flow run ({kind})")
