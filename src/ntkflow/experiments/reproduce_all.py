"""Every experiment of the paper in one run (``ntkflow reproduce all``).

Each experiment runs with the defaults of its own command into ``OUT/<name>/``, where it
writes its JSON and figures as that command does; a failing experiment is recorded (its
one-line error) and the others still run. After each experiment ``OUT/summary.json`` and the
self-contained ``OUT/report.html`` (:mod:`ntkflow.io.html_page`) are rewritten atomically, so
an interrupted run still has a report of what finished.

| name | command | paper (reference/paper.md) |
|---|---|---|
| ntk-convergence | ``ntk convergence`` | §2, §6 claim 2: Θ → Θ̄ like N^{-1/2} |
| linearized-check | ``flow linearized-check`` | §2, claim 2: linearised = frozen-kernel flow |
| width-limit | ``flow width-limit`` | claim 2: Θ_t − Θ_0 → 0, finite → infinite width |
| ricci-limit | ``flow ricci-limit``, every manifold | §3, claim 3: Gaussian kernel → Ricci flow |
| kernel-flow | ``cy kernel-flow`` | §5, claim 4: the talk's frozen-kernel flow on the quintic |
| locality | ``reproduce locality`` | §6b: gain in loss vs distance, fixed kernels |
| feature-learning | ``reproduce feature-learning`` | claims 4–5, §6b: NTK change and spectra |
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ntkflow.cy.kernel_flow import KernelFlowConfig
from ntkflow.experiments.feature_learning import FeatureLearningConfig
from ntkflow.experiments.flows import LinearisedCheckRun, RicciLimitRun, WidthLimitRun
from ntkflow.experiments.locality import LocalityConfig
from ntkflow.experiments.ntk_convergence import NtkConvergenceSettings
from ntkflow.io.atomic import atomic_write_text, to_jsonable, write_json
from ntkflow.io.config import InputError
from ntkflow.io.progress import progress_bar

# Keys of an experiment's JSON that are not key numbers: settings, histories, file paths.
NOT_NUMBERS = ("config", "histories", "figures", "figure", "report", "plot")


@dataclasses.dataclass(frozen=True)
class ReproduceAllConfig:
    """The experiments' settings (each its command's defaults) and which to run.

    ``ricci_limit`` holds overrides of :class:`RicciLimitRun` fields, applied to every
    manifold of ``ricci_manifolds`` (``None``: all that ``ntkflow.flows.ricci_limit.MANIFOLDS``
    lists when the run starts). ``only``: names of :data:`EXPERIMENTS` (``None``: all)."""

    ntk_convergence: NtkConvergenceSettings = dataclasses.field(
        default_factory=NtkConvergenceSettings
    )
    linearized_check: LinearisedCheckRun = dataclasses.field(default_factory=LinearisedCheckRun)
    width_limit: WidthLimitRun = dataclasses.field(default_factory=WidthLimitRun)
    ricci_limit: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    ricci_manifolds: tuple[str, ...] | None = None
    kernel_flow: KernelFlowConfig = dataclasses.field(default_factory=KernelFlowConfig)
    locality: LocalityConfig = dataclasses.field(default_factory=LocalityConfig)
    feature_learning: FeatureLearningConfig = dataclasses.field(
        default_factory=FeatureLearningConfig
    )
    only: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.only is not None:
            unknown = [n for n in self.only if n not in EXPERIMENTS]
            if unknown:
                raise InputError(
                    f"--only: unknown experiment {unknown[0]!r}; known: {', '.join(EXPERIMENTS)}"
                )
            if not self.only:
                raise InputError("--only: no experiment named")

    def selected(self) -> tuple[str, ...]:
        """The experiments to run, in the order of :data:`EXPERIMENTS`."""
        return tuple(n for n in EXPERIMENTS if self.only is None or n in self.only)


@dataclasses.dataclass
class Part:
    """One result of an experiment: its JSON file and its figures (a sub-run has a label)."""

    json: Path
    figures: list[Path]
    label: str | None = None


# --- the experiments -------------------------------------------------------------------------


def _pngs(folder: Path, listed=()) -> list[Path]:
    """The figures an experiment listed, then any other PNG it wrote in ``folder``."""
    out = [Path(p) for p in listed]
    out += [p for p in sorted(folder.glob("*.png")) if p not in out]
    return [p for p in out if p.is_file()]


def run_ntk_convergence(s: NtkConvergenceSettings, out: Path) -> list[Part]:
    from ntkflow.experiments.ntk_convergence import ntk_convergence_experiment

    res = ntk_convergence_experiment(s, out / "ntk_convergence.png")
    write_json(out / "result.json", res, indent=1)
    return [Part(out / "result.json", [Path(res["plot"])])]


def _flow_run(config: Any, out: Path, label: str | None = None) -> Part:
    from ntkflow.experiments.flows import run

    run(config, out)
    return Part(out / "result.json", _pngs(out), label)


def run_linearized_check(c: LinearisedCheckRun, out: Path) -> list[Part]:
    return [_flow_run(c, out)]


def run_width_limit(c: WidthLimitRun, out: Path) -> list[Part]:
    return [_flow_run(c, out)]


def ricci_manifolds(cfg: ReproduceAllConfig) -> tuple[str, ...]:
    from ntkflow.flows.ricci_limit import MANIFOLDS

    return tuple(cfg.ricci_manifolds or MANIFOLDS)


def run_ricci_limit(cfg: ReproduceAllConfig, out: Path) -> list[Part]:
    parts, errors = [], []
    for m in ricci_manifolds(cfg):
        try:
            parts.append(_flow_run(RicciLimitRun(**{**cfg.ricci_limit, "manifold": m}), out / m, m))
        except Exception as e:  # the other manifolds still run
            errors.append(f"{m}: {one_line(e)}")
    if errors:
        raise PartialFailure("; ".join(errors), parts)
    return parts


def run_kernel_flow(c: KernelFlowConfig, out: Path) -> list[Part]:
    from ntkflow.experiments.kernel_flow import kernel_flow_experiment

    res = kernel_flow_experiment(c, out) | {"config": dataclasses.asdict(c)}
    write_json(out / "result.json", res, indent=1)
    return [Part(out / "result.json", [Path(res["plot"])])]


def run_locality(c: LocalityConfig, out: Path) -> list[Part]:
    from ntkflow.experiments.locality import run_locality as locality

    n_stages = 1 + len(c.kernels) + int(c.network)
    with progress_bar("locality", n_stages) as advance:
        res = locality(c, out, lambda name: advance(status=name))
    return [
        Part(out / "results.json", _pngs(out, [res.get("figure")] if res.get("figure") else []))
    ]


def run_feature_learning(c: FeatureLearningConfig, out: Path) -> list[Part]:
    from ntkflow.experiments.feature_learning import run_feature_learning as feature_learning

    with progress_bar("feature learning", None):  # a spinner: the experiment's own contract
        summary = feature_learning(c, out)  # is (config, out_dir) -> summary with "figures"
    return [Part(out / "results.json", _pngs(out, summary.get("figures") or []))]


@dataclasses.dataclass(frozen=True)
class Experiment:
    """An entry of :data:`EXPERIMENTS`: how to run it and what to say about it."""

    title: str
    command: str
    paper: str
    minutes: float  # expected wall time at the defaults on a 2-core CPU (docs/experiments.md)
    field: str  # the field of ReproduceAllConfig with its settings
    run: Callable[[Any, Path], list[Part]]
    shown: tuple[str, ...] = ()  # settings named in --help (those the config has)
    whole_config: bool = False  # run takes the whole ReproduceAllConfig

    def settings(self, cfg: ReproduceAllConfig) -> Any:
        return cfg if self.whole_config else getattr(cfg, self.field)


EXPERIMENTS: dict[str, Experiment] = {
    "ntk-convergence": Experiment(
        "Empirical metric-NTK → analytic NTK with width",
        "ntkflow ntk convergence",
        "§2 / claim 2: Θ → Θ̄, fluctuations ~ N^{-1/2}",
        0.5,
        "ntk_convergence",
        run_ntk_convergence,
        ("arch", "widths", "seeds", "points"),
    ),
    "linearized-check": Experiment(
        "Linearised network = empirical-NTK kernel flow",
        "ntkflow flow linearized-check",
        "§2 / claim 2: linearised training equals the frozen-kernel flow",
        0.5,
        "linearized_check",
        run_linearized_check,
        ("points", "width", "t"),
    ),
    "width-limit": Experiment(
        "Finite-width gradient descent → infinite-width kernel flow",
        "ntkflow flow width-limit",
        "claim 2: Θ_t − Θ_0 → 0 as the width grows",
        0.6,
        "width_limit",
        run_width_limit,
        ("widths", "points", "t"),
    ),
    "ricci-limit": Experiment(
        "Gaussian-kernel flow → Ricci flow as σ → 0",
        "ntkflow flow ricci-limit --manifold M (every manifold)",
        "§3 / claim 3: frozen, local, non-mixing kernel + Perelman's loss = Ricci flow",
        12.0,
        "ricci_limit",
        run_ricci_limit,
        ("lengthscales", "sigmas", "t", "points_per_sigma"),
        whole_config=True,
    ),
    "kernel-flow": Experiment(
        "Frozen-kernel (infinite-width) Kähler flow on the Fermat quintic",
        "ntkflow cy kernel-flow",
        "§5 / claim 4: the talk's Gaussian-kernel experiment, 10⁴ points",
        2.0,
        "kernel_flow",
        run_kernel_flow,
        ("kernel", "n_points", "n_test", "n_features", "steps"),
    ),
    "locality": Experiment(
        "Gain in loss against distance for fixed kernels",
        "ntkflow reproduce locality",
        "§6b: local kernels do not generalise, non-local ones do not fit",
        2.0,
        "locality",
        run_locality,
        ("n_train", "n_eval", "kernels", "flow_steps", "net_steps"),
    ),
    "feature-learning": Experiment(
        "The lazy limit: feature learning against frozen kernels on the Fermat quintic",
        "ntkflow reproduce feature-learning",
        "claims 4–5, §6b: the lazy limit in width, frozen kernels at their fixed point, spectrum",
        25.0,
        "feature_learning",
        run_feature_learning,
        ("n_train", "n_test", "widths", "seeds", "max_steps"),
    ),
}


# --- running and reporting -------------------------------------------------------------------


class PartialFailure(RuntimeError):
    """Some parts of an experiment failed; ``parts`` are the ones that finished."""

    def __init__(self, message: str, parts: list[Part]):
        super().__init__(message)
        self.parts = parts


def one_line(e: BaseException, limit: int = 400) -> str:
    """``Type: message`` on one line, at most ``limit`` characters."""
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def settings_of(name: str, cfg: ReproduceAllConfig) -> dict[str, Any]:
    """The settings an experiment runs with, as a JSON-safe dict."""
    exp = EXPERIMENTS[name]
    if name == "ricci-limit":
        per = {
            m: dataclasses.asdict(RicciLimitRun(**{**cfg.ricci_limit, "manifold": m}))
            for m in ricci_manifolds(cfg)
        }
        return to_jsonable(per)
    return to_jsonable(dataclasses.asdict(exp.settings(cfg)))


def describe(name: str, cfg: ReproduceAllConfig | None = None) -> str:
    """``key=value, ...`` of the settings :attr:`Experiment.shown` (``--help``)."""
    cfg = cfg or ReproduceAllConfig()
    exp = EXPERIMENTS[name]
    if name == "ricci-limit":
        conf = RicciLimitRun(**{**cfg.ricci_limit, "manifold": ricci_manifolds(cfg)[0]})
        head = [f"manifolds={','.join(ricci_manifolds(cfg))}"]
    elif name == "ntk-convergence" and cfg.ntk_convergence.widths is None:
        from ntkflow.kernels.convergence import DEFAULT_WIDTHS

        c = cfg.ntk_convergence
        conf, head = dataclasses.replace(c, widths=DEFAULT_WIDTHS[c.arch]), []
    else:
        conf, head = exp.settings(cfg), []

    def show(v):
        if isinstance(v, tuple | list):
            return ",".join(f"{u:g}" if isinstance(u, float) else str(u) for u in v)
        return "per manifold" if v is None and name == "ricci-limit" else str(v)

    per = ("lengthscales", "t") if name == "ricci-limit" else ("t",)
    fields = [f for f in exp.shown if getattr(conf, f, None) is not None or f in per]
    return ", ".join(head + [f"{f}={show(getattr(conf, f))}" for f in fields])


def run_all(
    cfg: ReproduceAllConfig,
    out_dir: str | Path,
    progress: Callable[[str, str], None] | None = None,
) -> dict[str, Any]:
    """Run the selected experiments into ``out_dir/<name>/``; write ``summary.json`` and
    ``report.html`` there (after each experiment). ``progress(name, "start" | status)``.
    Returns the summary; its ``failed`` lists the experiments that raised."""
    out = Path(out_dir)
    names = cfg.selected()
    say = progress or (lambda _n, _s: None)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out-dir {out}: cannot create the folder ({e.strerror})") from None
    t_start = time.perf_counter()
    entries: dict[str, dict[str, Any]] = {
        n: {"name": n, "status": "pending", "wall_seconds": None, "parts": []} for n in names
    }
    summary = _write(out, entries, 0.0)  # all pending: an interrupted run still has a page
    for name in names:
        exp, entry = EXPERIMENTS[name], entries[name]
        folder = out / name
        if folder.exists():  # the results of an earlier run: replaced, not mixed
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        entry |= {"title": exp.title, "command": exp.command, "paper": exp.paper}
        entry["settings"] = settings_of(name, cfg)
        say(name, "start")
        t0 = time.perf_counter()
        parts: list[Part] = []
        try:
            parts = exp.run(exp.settings(cfg), folder)
            entry["status"] = "ok"
        except Exception as e:
            parts = getattr(e, "parts", [])
            entry["status"] = "failed"
            entry["error"] = one_line(e)
        entry["wall_seconds"] = round(time.perf_counter() - t0, 2)
        entry["parts"] = [_part_entry(p, out) for p in parts]
        say(name, entry["status"])
        summary = _write(out, entries, time.perf_counter() - t_start)
    return summary


def _relative(path: Path, out: Path) -> str:
    """``path`` relative to ``out`` (what the report's links and images use)."""
    return os.path.relpath(Path(path).absolute(), out.absolute())


def _part_entry(p: Part, out: Path) -> dict[str, Any]:
    return {
        "label": p.label,
        "json": _relative(p.json, out),
        "figures": [_relative(f, out) for f in p.figures],
    }


def _summary(entries: dict, wall: float, out: Path) -> dict[str, Any]:
    return {
        "out_dir": str(out),
        "report": str(out / "report.html"),
        "experiments": list(entries.values()),
        "failed": [n for n, e in entries.items() if e["status"] == "failed"],
        "wall_seconds": round(wall, 2),
    }


def _write(out: Path, entries: dict, wall: float) -> dict[str, Any]:
    """Write ``summary.json`` and ``report.html``; return the summary written."""
    summary = to_jsonable(_summary(entries, wall, out))
    write_json(out / "summary.json", summary, indent=1)
    atomic_write_text(out / "report.html", report_html(summary, out))
    return summary


def report_html(summary: dict[str, Any], out: Path) -> str:
    """The HTML page of a ``reproduce all`` summary: per experiment its status, wall time,
    settings, key numbers (read back from its JSON file) and figures (embedded)."""
    from ntkflow.io import html_page as hp

    esc = hp.esc
    exps = summary["experiments"]
    overview = "".join(
        f'<tr><th><a href="#{esc(e["name"])}">{esc(e["name"])}</a></th>'
        f'<td class="{"failed" if e["status"] == "failed" else "ok"}">{esc(e["status"])}</td>'
        f"<td>{_seconds(e['wall_seconds'])}</td></tr>"
        for e in exps
    )
    body = [
        "<p>Halverson–Ruehle, <i>Metric Flows with Neural Networks</i> (arXiv 2310.19870): "
        "every experiment, each with the settings shown in its section (by default those of its "
        "own command). "
        f"Total wall time {_seconds(summary['wall_seconds'])}.</p>",
        f"<table><tr><th>experiment</th><th>status</th><th>wall time</th></tr>{overview}</table>",
    ]
    for e in exps:
        body.append(f'<h2 id="{esc(e["name"])}">{esc(e["name"])}: {esc(e.get("title", ""))}</h2>')
        info = {
            "status": e["status"],
            "wall time": _seconds(e["wall_seconds"]),
            "command": e.get("command", ""),
            "paper": e.get("paper", ""),
        }
        if e.get("error"):
            info["error"] = e["error"]
        body.append(hp.table(info))
        for part in e["parts"]:
            if part["label"]:
                body.append(f"<h3>{esc(part['label'])}</h3>")
            rel = part["json"]
            body.append(f'<p>Results: <a href="{esc(rel)}">{esc(rel)}</a></p>')
            try:
                data = json.loads((out / rel).read_text())
            except (OSError, ValueError) as err:
                body.append(f"<p class=failed>cannot read {esc(rel)}: {esc(str(err))}</p>")
            else:
                body.append(hp.numbers_table(data, NOT_NUMBERS, rel))
            body += [hp.figure_file(out / f, f) for f in part["figures"]]
        if e.get("settings") is not None:
            body.append(
                "<details><summary>settings</summary><pre>"
                f"{esc(json.dumps(e['settings'], indent=1))}</pre></details>"
            )
    return hp.page("ntkflow reproduce all", "\n".join(body))


def _seconds(s: float | None) -> str:
    if s is None:
        return "not run"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"
