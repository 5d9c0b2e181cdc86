"""``ntkflow report RUN``: a self-contained HTML page with the run's curves and its config.

One figure per metric (``loss`` / ``val_loss`` share one, ``X_error`` is drawn as error bars on
``X``), 1-d metrics as spectra at a few steps, and Ricci against σ when both are logged; a y
axis is logarithmic when positive values span more than a factor 30. The PNGs go to
``figures/`` and are embedded in ``report.html`` as base64 (the page: :mod:`.html_page`).
"""

from __future__ import annotations

import html
import io
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write_bytes, atomic_write_text
from .html_page import figure as html_figure
from .html_page import page as html_page
from .html_page import table as _table
from .rundir import RunDir

LOG_SPAN = 30.0
_SPLIT = re.compile(r"(^|[_/.])(train|val|valid|validation|test)(?=$|[_/.])")


def _group(name: str) -> str:
    """``val_loss``, ``loss/train``, ``loss`` -> ``loss``."""
    g = _SPLIT.sub(r"\1", name).strip("_/.")
    return g or name


def _use_log(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return v.size > 1 and bool(np.all(v > 0)) and v.max() / v.min() > LOG_SPAN


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "metric"


def _png(fig, ax, xlabel: str, ylabel: str, title: str, legend: dict | None = None) -> bytes:
    """Label ``ax``, draw its grid (and legend), and render ``fig`` as PNG bytes."""
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    if legend is not None:
        ax.legend(**legend)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _series(records: list[dict[str, Any]], key: str) -> tuple[np.ndarray, list]:
    pairs = [(r["step"], r[key]) for r in records if r.get(key) is not None]
    return np.asarray([s for s, _ in pairs]), [v for _, v in pairs]


def make_figures(records: list[dict[str, Any]]) -> list[tuple[str, str, bytes]]:
    """``(file name, caption, PNG bytes)`` for every metric in ``records``."""
    from matplotlib.figure import Figure  # no pyplot: no global backend, no GUI

    keys: list[str] = []
    for r in records:
        keys += [k for k in r if k not in ("step", "time_s") and k not in keys]
    scalars = [k for k in keys if all(not isinstance(r.get(k), list) for r in records)]
    vectors = [k for k in keys if k not in scalars]
    errors = {k: e for k in scalars for e in (f"{k}_error", f"{k}_err") if e in scalars}
    plotted = [k for k in scalars if k not in errors.values()]
    groups: dict[str, list[str]] = defaultdict(list)
    for k in plotted:
        groups[_group(k)].append(k)

    out = []
    for group, members in groups.items():
        fig = Figure(figsize=(6, 3.6))
        ax = fig.subplots()
        allv = []
        for k in members:
            steps, vals = _series(records, k)
            v = np.asarray(vals, dtype=float)
            allv.append(v)
            if k in errors:
                err = np.asarray(
                    [r.get(errors[k]) or 0.0 for r in records if r.get(k) is not None], float
                )
                ax.errorbar(steps, v, yerr=err, label=f"{k} ± {errors[k]}", marker="o", ms=3)
            else:
                ax.plot(steps, v, label=k, lw=1.2, marker="o" if len(v) < 20 else None, ms=3)
        if _use_log(np.concatenate(allv)):
            ax.set_yscale("log")
        legend = {} if len(members) > 1 or any(k in errors for k in members) else None
        shown = [f"{k} ± {errors[k]}" if k in errors else k for k in members]
        png = _png(fig, ax, "step", group, group, legend)
        out.append((f"{_safe(group)}.png", f"{', '.join(shown)} against step", png))

    for k in vectors:
        steps, vals = _series(records, k)
        pick = np.unique(np.linspace(0, len(vals) - 1, min(5, len(vals))).round().astype(int))
        fig = Figure(figsize=(6, 3.6))
        ax = fig.subplots()
        allv = [np.sort(np.abs(np.asarray(vals[i], dtype=float)))[::-1] for i in pick]
        for i, v in zip(pick, allv, strict=True):
            ax.plot(np.arange(1, v.size + 1), v, marker="o", ms=3, label=f"step {steps[i]}")
        if _use_log(np.concatenate(allv)):
            ax.set_yscale("log")
        png = _png(fig, ax, "index (descending)", f"|{k}|", k, {"fontsize": "small"})
        out.append((f"{_safe(k)}.png", f"{k} at {len(pick)} steps", png))

    sigma = [k for k in plotted if "sigma" in k.lower()]
    ricci = [k for k in plotted if "ricci" in k.lower()]
    both = [r for r in records if sigma and ricci and sigma[0] in r and ricci[0] in r]
    if both:
        s = np.array([r[sigma[0]] for r in both], dtype=float)
        q = np.array([r[ricci[0]] for r in both], dtype=float)
        fig = Figure(figsize=(5, 4))
        ax = fig.subplots()
        sc = ax.scatter(s, q, c=[r["step"] for r in both], s=8, cmap="viridis")
        fig.colorbar(sc, ax=ax, label="step")
        for axis, v in (("x", s), ("y", q)):
            if _use_log(v):
                getattr(ax, f"set_{axis}scale")("log")
        title = f"{ricci[0]} against {sigma[0]}"
        png = _png(fig, ax, sigma[0], ricci[0], title)
        out.append((f"{_safe(ricci[0])}_vs_{_safe(sigma[0])}.png", title, png))
    return out


def write_report(run_dir: str | Path) -> dict[str, Any]:
    """Write ``figures/*.png`` and ``report.html`` for the run; return a summary dict."""
    rd = RunDir.open(run_dir)
    info = rd.read_run()
    status = rd.status()  # a "running" run that no process holds is reported as "crashed"
    records = rd.read_metrics()
    figures = make_figures(records)
    rd.figures.mkdir(exist_ok=True)
    blocks = []
    for name, caption, png in figures:
        atomic_write_bytes(rd.figures / name, png)
        blocks.append(html_figure(png, name, caption))
    last, device = (records[-1] if records else {}), info.get("device") or {}
    shown = lambda v: f"{v:.6g}" if isinstance(v, float) else v
    summary = {
        "job": info.get("job"),
        "status": status.get("status"),
        "step": f"{status.get('step')} of {info.get('n_steps')}",
        "seed": info.get("seed"),
        "created": info.get("created"),
        "resumed": len(info.get("resumes", [])),
        "device": device.get("backend"),
        "x64": device.get("x64"),
        **{f"final {k}": shown(v) for k, v in last.items() if not isinstance(v, list)},
    }
    if status.get("status") == "crashed":
        summary["status"] = (
            f"crashed (status.json still says {status.get('recorded')!r}, but no process holds "
            "the run; `ntkflow resume` continues it)"
        )
    summary |= {k: status[k] for k in ("signal", "error", "left") if status.get(k)}
    if status.get("checkpoint"):
        summary["last checkpoint"] = Path(status["checkpoint"]).name
    summary_file = rd.path / "summary.json"
    if summary_file.exists():
        try:
            final = json.loads(summary_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            final = {}
        summary |= {
            f"result {k}": shown(v) for k, v in final.items() if not isinstance(v, list | dict)
        }
    title = f"ntkflow run {rd.path.name}"
    figures_html = "\n".join(blocks) or "<p>No metrics logged yet.</p>"
    body = f"""{_table(summary)}
<h2>Curves</h2>
{figures_html}
<h2>Configuration</h2>
<pre>{html.escape(json.dumps(info.get("config", {}), indent=2))}</pre>
<h2>Environment</h2>
{_table({**(info.get("versions") or {}), **device})}"""
    page = html_page(title, body)
    atomic_write_text(rd.report, page)
    return {
        "report": str(rd.report),
        "figures": [str(rd.figures / name) for name, _, _ in figures],
        "metrics": len(records),
        "status": status.get("status"),
    }
