"""The metric-flow experiments of ``ntkflow flow``: a frozen config each and one :func:`run`.
``RUN_KINDS`` and :class:`RicciFlowRun`: docs/derivations.md#experiments-flows."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..io.config import InputError, option
from ..io.progress import err_console, progress_bar


def _positive(name: str, values: tuple) -> None:
    if not values:
        raise ValueError(f"{name} must list at least one value")
    bad = [v for v in values if not v > 0]
    if bad:
        raise ValueError(f"{name} must be positive, got {bad[0]!r}")


@dataclasses.dataclass(frozen=True)
class RicciLimitRun:
    """``kind = "ricci-limit"``: distance to Ricci flow against the kernel lengthscale ℓ."""

    manifold: str = option(
        "sphere2",
        "Manifold: sphere2, sphere3 (round), berger3 (Berger S³, σ³ squashed to 1/2), torus2 "
        "or torus3.",
        choices=("sphere2", "sphere3", "berger3", "torus2", "torus3"),
    )
    lengthscales: tuple[float, ...] | None = option(
        None, "Kernel lengthscales ℓ (default: per manifold, smallest ≤ 0.05)."
    )
    t: float | None = option(
        None, "Flow time (default: per manifold).", min=0.0, min_exclusive=True
    )
    sigmas: tuple[float, ...] | None = option(None, "Deprecated name of lengthscales.")

    def __post_init__(self):
        if self.sigmas is not None:
            _positive("sigmas", self.sigmas)
            if self.lengthscales is not None:
                raise ValueError("give lengthscales or its deprecated name sigmas, not both")
            object.__setattr__(self, "lengthscales", self.sigmas)
            object.__setattr__(self, "sigmas", None)
        if self.lengthscales is not None:
            _positive("lengthscales", self.lengthscales)


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


MANIFOLDS = ("sphere2", "sphere3", "torus2", "torus3")


@dataclasses.dataclass(frozen=True)
class RicciFlowRun:
    """``ntkflow ricci-flow``: the reference solver of :mod:`ntkflow.geometry.ricci_flow`."""

    manifold: str = option(
        "sphere2", "Manifold: sphere2, sphere3, torus2 or torus3.", choices=MANIFOLDS
    )
    radius: float = option(1.0, "Initial radius of the round sphere.", min=0.0, min_exclusive=True)
    t_end: float = option(0.45, "Final time of the flow.", min=0.0, min_exclusive=True)
    perturbation: float = option(
        0.0, "Amplitude of a random smooth perturbation (on spheres, a non-round start)."
    )
    seed: int = option(0, "Seed of the random perturbation.")
    size: int = option(32, "Grid points per axis (torus) or polar points (S²).")
    normalised: bool = option(False, "Run the volume-normalised flow.")
    saves: int = option(41, "Number of saved times.", min=2)


RUN_KINDS = {
    "ricci-limit": RicciLimitRun,
    "width-limit": WidthLimitRun,
    "linearized-check": LinearisedCheckRun,
    "parameter": ParameterRun,
    "kernel": KernelRun,
}


def load_config(path: str | Path) -> tuple[str, Any]:
    """``(kind, checked config)`` of a ``flow run`` TOML file; :class:`InputError` otherwise."""
    from ..io import from_dict, load_toml
    from ..io.config import check_choice

    data = load_toml(path)
    kind = data.pop("kind", None)
    if kind is None:
        raise InputError(f"{path}: no 'kind' key (one of {', '.join(RUN_KINDS)})")
    check_choice(f"{path}: kind", kind, RUN_KINDS)
    return kind, from_dict(RUN_KINDS[kind], data, str(path))


def _plot(path, xs, ys, xlabel: str, ylabel: str, title: str, loglog=True) -> None:
    from ..io.atomic import figure

    if not path:
        return
    with figure(path, figsize=(5, 3.6)) as ax:
        ax.plot(xs, ys, "o-")
        if loglog:
            ax.set(xscale="log", yscale="log")
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    err_console.print(f"plot written to {path}")


CHANGE = "‖Θ_t − Θ_0‖/‖Θ_0‖"


def _ricci_limit(c: RicciLimitRun, out: Path | None, plot) -> dict[str, Any]:
    from ..flows.ricci_limit import DEFAULTS, ricci_limit

    ls = c.lengthscales or DEFAULTS[c.manifold][0]
    with progress_bar(f"Gaussian-kernel Ricci flow on {c.manifold}", len(ls)) as advance:
        say = lambda s, d: advance(status=f"ℓ={s:g}: distance {d:.3g}")
        try:
            res = ricci_limit(c.manifold, ls, c.t, progress=say)
        except ValueError as e:
            raise InputError(str(e)) from None
    title = f"distance to Ricci flow at t={res['t']:g} ({c.manifold})"
    if res["order"] is not None:  # one lengthscale fits no order
        title += f", order {res['order']:.2f}"
    _plot(plot, res["lengthscales"], res["distances"], "ℓ", "relative distance", title)
    return res


def _width_limit(c: WidthLimitRun, out: Path | None, plot) -> dict[str, Any]:
    from ..flows.width_limit import width_limit

    with progress_bar("finite vs infinite width", len(c.widths)) as advance:
        say = lambda n, d, ch: advance(status=f"N={n}: distance {d:.3g}, ΔΘ {ch:.3g}")
        res = width_limit(**dataclasses.asdict(c), progress=say)
    _plot(plot, res["widths"], res["ntk_changes"], "width N", CHANGE, "metric-NTK change")
    return res


def _linearised_check(c: LinearisedCheckRun, out: Path | None, plot) -> dict[str, Any]:
    from ..flows.kernel_flow import kernel_flow
    from ..flows.linearised import linearised_flow
    from ..flows.losses import MetricRegression
    from ..flows.width_limit import collocation, make_head, target_metric
    from ..kernels import EmpiricalKernel

    k1, k2, k3 = jax.random.split(jax.random.key(c.seed), 3)
    (xs, w), (ev, _) = collocation(k1, c.points), collocation(k2, 16)
    head = make_head(c.width, k3, depth=1)
    loss, ts = MetricRegression(target_metric), np.linspace(0.0, c.t, 6)
    with progress_bar("linearised flow vs empirical-NTK kernel flow", 2) as advance:
        _, lins = linearised_flow(head, loss, xs, w, ts)
        advance()
        kf = kernel_flow(
            loss, head, EmpiricalKernel(head), xs, w, c.t, ts=ts, dense=True, rtol=1e-10, atol=1e-12
        )
        advance()
    g0 = np.asarray(jax.vmap(head)(ev))
    lin = [np.asarray(jax.vmap(m)(ev)) for m in lins]
    devs = [
        float(np.abs(a - np.asarray(kf.metric_at_time(i).values(ev))).max())
        for i, a in enumerate(lin)
    ]
    return {
        "max_deviation": max(devs),
        "deviations": devs,
        "times": ts,
        "max_change": max(float(np.abs(a - g0).max()) for a in lin),
        "points": c.points,
        "width": c.width,
    }


def _parameter(c: ParameterRun, out: Path, plot) -> dict[str, Any]:
    from ..flows.losses import EinsteinLoss, MetricRegression
    from ..flows.parameter_flow import parameter_flow
    from ..flows.width_limit import collocation, make_head, target_metric

    k1, k2 = jax.random.split(jax.random.key(c.seed))
    xs, w = collocation(k1, c.points)
    loss = MetricRegression(target_metric) if c.loss == "regression" else EinsteinLoss(lam=c.lam)
    head = make_head(c.width, k2, c.depth)
    with open(out / "metrics.jsonl", "w") as log, progress_bar("parameter flow", c.steps) as adv:

        def cb(i, val):
            log.write(json.dumps({"step": i, "loss": val}) + "\n")
            adv(status=f"loss {val:.3g}")

        res = parameter_flow(
            head, loss, xs, w, c.steps, c.optimizer, c.lr, ntk_every=c.ntk_every, callback=cb
        )
    steps = range(len(res.losses))
    _plot(out / "loss.png", steps, res.losses, "step", "loss", "training loss", False)
    ntk = (res.ntk_steps, res.ntk_changes, "step", CHANGE, "metric-NTK change", False)
    _plot(out / "ntk_change.png", *ntk)
    return {
        "losses": [float(res.losses[0]), float(res.losses[-1])],
        "ntk_steps": res.ntk_steps,
        "ntk_changes": res.ntk_changes,
    }


def _kernel(c: KernelRun, out: Path, plot) -> dict[str, Any]:
    from ..flows.kernel_flow import FlowError, SeparableKernel, kernel_flow
    from ..flows.losses import MetricRegression, total_loss
    from ..flows.width_limit import collocation, target_metric
    from ..io.cymetric import write_npz
    from ..kernels import GaussianKernel

    xs, w = collocation(jax.random.key(c.seed), c.points)
    kern = SeparableKernel(GaussianKernel(c.lengthscale), 2)
    loss = MetricRegression(target_metric)
    ref = lambda x: jnp.eye(2)
    times, losses = [0.0], [float(total_loss(loss, ref, xs, w))]
    state = out / "kernel_flow_state.npz"

    def save(alpha, t, status):  # the flow writes nothing itself: the state goes through io
        write_npz(state, alpha=alpha, centers=xs, t=t, status=status)

    with open(out / "metrics.jsonl", "w") as log, progress_bar("kernel flow", c.t) as advance:

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
                raise
            save(e.last_good.alpha, e.last_time, "failed")
            raise FlowError(f"{e} (last good state saved to {state})") from None
    _plot(out / "loss.png", times, losses, "flow time t", "loss", "kernel flow: loss", False)
    return {"times": times, "losses": losses, "points": c.points}


def _ricci_flow(c: RicciFlowRun, out: Path | None, plot) -> dict[str, Any]:
    from ..geometry import ricci_flow, ricci_flow_round_sphere, singular_time_round_sphere
    from ..geometry.ricci_flow import initial_metric
    from ..io.atomic import figure

    n = int(c.manifold[-1])
    round_start = c.manifold.startswith("sphere") and c.perturbation == 0.0
    t_sing = singular_time_round_sphere(n, c.radius)
    if round_start and not c.normalised and c.t_end >= t_sing:
        raise InputError(
            f"--t-end {c.t_end} is at or past the singular time T = r0^2/(2(n-1)) = "
            f"{t_sing:.6g} of the round S^{n} of radius {c.radius}: the sphere has shrunk to a "
            "point"
        )
    metric = initial_metric(c.manifold, c.radius, c.perturbation, c.seed)
    ts = np.linspace(0.0, c.t_end, c.saves)
    err_console.print(f"Ricci flow on {c.manifold}, t in [0, {c.t_end}]")
    with progress_bar("ricci-flow", total=c.t_end) as advance:
        sol = ricci_flow(
            metric,
            c.t_end,
            size=min(c.size, 16) if c.manifold == "torus3" else c.size,
            ts=ts,
            normalised=c.normalised,
            progress=lambda t: advance(completed=t, status=f"t = {t:.4g}"),
        )
    curv = [np.asarray(sol.scalar_curvature(float(t))) for t in ts]
    r_min, r_max = np.array([r.min() for r in curv]), np.array([r.max() for r in curv])
    result: dict[str, Any] = {
        "manifold": c.manifold,
        "t_end": float(c.t_end),
        "normalised": c.normalised,
        "scalar_curvature_min": float(r_min[-1]),
        "scalar_curvature_max": float(r_max[-1]),
        "curvature_spread": float(r_max[-1] - r_min[-1]),
        "curvature_spread_initial": float(r_max[0] - r_min[0]),
    }
    exact = None
    if round_start and not c.normalised:
        r_exact = np.asarray(ricci_flow_round_sphere(n, c.radius, ts))
        y = np.asarray(sol.states)  # radius r at each grid point: u = log r, A = B = C = r²/4
        radii = np.exp(y) if c.manifold == "sphere2" else np.sqrt(4 * y)
        result["relative_error"] = float(np.abs(radii / r_exact[:, None] - 1).max())
        result["radius_final"] = float(radii.mean(axis=1)[-1])
        result["radius_exact"] = float(r_exact[-1])
        result["singular_time"] = t_sing
        exact = n * (n - 1) / r_exact**2
    with figure(plot, figsize=(6, 4)) as ax:
        ax.fill_between(ts, r_min, r_max, alpha=0.3, label="min–max of R")
        ax.plot(ts, r_max, lw=1)
        ax.plot(ts, r_min, lw=1)
        if exact is not None:
            ax.plot(ts, exact, "k--", lw=1, label="exact (round)")
        ax.set(xlabel="t", ylabel="scalar curvature R")
        ax.set_title(f"Ricci flow on {c.manifold}" + (" (normalised)" if c.normalised else ""))
        ax.legend()
    result["plot"] = str(plot)
    return result


_RUNS = {  # config class -> (experiment, name of its plot in a run directory)
    RicciLimitRun: (_ricci_limit, "distance_vs_lengthscale.png"),
    WidthLimitRun: (_width_limit, "ntk_change.png"),
    LinearisedCheckRun: (_linearised_check, None),
    ParameterRun: (_parameter, None),
    KernelRun: (_kernel, None),
    RicciFlowRun: (_ricci_flow, "ricci_flow.png"),
}


def run(config: Any, run_dir: str | Path | None = None, *, plot=None) -> dict[str, Any]:
    """Run the experiment of ``config``; ``run_dir`` (needed by ``parameter`` and ``kernel``)
    gets ``result.json``, the metrics and the plots, ``plot`` is the PNG outside one. Bad input
    is an :class:`InputError`; a failed flow raises ``FlowError`` or ``RicciFlowError``."""
    from ..io.atomic import write_json

    experiment, plot_name = _RUNS[type(config)]
    if run_dir is None:
        return experiment(config, None, plot)
    out = Path(run_dir)
    made = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out {out}: cannot create the folder ({e.strerror})") from None
    try:
        res = experiment(config, out, plot or (plot_name and out / plot_name))
    except BaseException:
        if made and not (out / "kernel_flow_state.npz").exists():
            shutil.rmtree(out, ignore_errors=True)
        raise
    write_json(out / "result.json", res)
    return res
