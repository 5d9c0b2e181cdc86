"""Finite-width feature learning vs frozen kernels on the Fermat quintic (paper.md §6, claims
4–5; paper v2 abstract), on l = ⟨|1 − η/κ|² w⟩/⟨w⟩ with K = K_FS + φ(u(z)).
Regimes and diagnostics: docs/derivations.md#experiments-feature_learning."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ntkflow.cy import kahler_ntk as kn
from ntkflow.cy.fubini_study import FubiniStudy
from ntkflow.cy.potential import PhiPotential, n_spectral_inputs
from ntkflow.cy.train import TrainingSet, eta, fs_kappa, monge_ampere_loss, sigma_from_eta
from ntkflow.flows import LinearisedMetric, make_step, power_iteration
from ntkflow.io.atomic import atomic_write_text, write_json
from ntkflow.kernels import RandomFourierFeatures
from ntkflow.nets import MLP, trainable


class Centred(eqx.Module):
    """φ_θ(u) − φ_θ₀(u) with θ₀ frozen (same kernel as φ_θ, zero at initialisation).

    θ₀ is excluded from training by :meth:`trainable_mask`; the difference must stay
    differentiable in u, so that ∂∂̄φ_θ₀ cancels in the metric too."""

    phi: eqx.Module
    phi0: eqx.Module

    def __call__(self, u):
        return self.phi(u) - self.phi0(u)

    def trainable_mask(self):
        return Centred(trainable(self.phi), jax.tree.map(lambda _: False, self.phi0))


class FeaturePhi(eqx.Module):
    """φ(u) = a·ψ(u) with frozen random Fourier features ψ."""

    rf: RandomFourierFeatures
    a: jax.Array

    def __call__(self, u):
        return jnp.dot(self.a, self.rf(u))

    def trainable_mask(self):
        mask = jax.tree.map(lambda _: False, self)
        return eqx.tree_at(lambda m: m.a, mask, True)


FROZEN_THRESHOLD = 0.1  # ‖Θ_t − Θ_0‖_F/‖Θ_0‖_F below which a regime counts as frozen


@dataclasses.dataclass(frozen=True)
class FeatureLearningConfig:
    """Sizes and training settings shared by all regimes (counts must be >= 1)."""

    variety: str = "fermat-quintic"
    n_train: int = 1500
    n_test: int = 1000
    n_ntk: int = 200
    steps: int = 300
    eval_every: int = 30
    width: int = 64
    depth: int = 3
    learning_rate: float = 2e-3
    wide_width: int = 256
    gaussian_lengthscale: float = 1.0
    n_features: int = 512
    seed: int = 0

    def __post_init__(self):
        for name in ("n_train", "n_test", "n_ntk", "steps", "eval_every", "width", "depth"):
            if (v := getattr(self, name)) < 1:
                raise ValueError(f"feature-learning: {name} must be >= 1, got {v}")


def _lambda_max(loss, params, iters: int = 20) -> float:
    """Largest eigenvalue of ∇²l at ``params`` (power iteration on Hessian-vector products)."""
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    hvp = jax.jit(
        lambda v: jax.flatten_util.ravel_pytree(
            jax.jvp(jax.grad(lambda p: loss(unravel(p))), (flat,), (v,))[1]
        )[0]
    )
    v = jax.random.normal(jax.random.PRNGKey(1), flat.shape, flat.dtype)
    return float(power_iteration(hvp, v, iters))


def finite_phi(m: int, width: int, depth: int, key, train: str = "all") -> MLP:
    """The finite φ-MLP (GELU, standard parameterisation) with its read-out scaled by 10⁻³,
    so that K_FS + φ starts next to Fubini–Study."""
    phi = MLP(m, "scalar", width, depth, "gelu", parameterization="standard", train=train, key=key)
    return eqx.tree_at(lambda n: n.layers[-1].weight, phi, phi.layers[-1].weight * 1e-3)


def _build(cfg: FeatureLearningConfig, variety):
    m = n_spectral_inputs(variety.ambient)
    k1, k2, k3 = (jax.random.fold_in(jax.random.PRNGKey(cfg.seed), i) for i in (1, 2, 3))
    finite = finite_phi(m, cfg.width, cfg.depth, k1)
    last = finite_phi(m, cfg.width, cfg.depth, k1, train="last")
    wide = MLP(m, "scalar", cfg.wide_width, 2, "gelu", parameterization="ntk", key=k2)
    rf = RandomFourierFeatures(m, cfg.n_features, cfg.gaussian_lengthscale, key=k3)
    return {
        "gaussian-kernel": (FeaturePhi(rf, jnp.zeros(cfg.n_features)), "gd", None),
        "linearised": (LinearisedMetric.around(finite, centred=True), "adam", cfg.learning_rate),
        "wide-ntk": (Centred(wide, wide), "gd", None),
        "last-layer": (last, "adam", cfg.learning_rate),
        "finite": (finite, "adam", cfg.learning_rate),
    }


def train_regime(
    phi,
    kind,
    lr,
    variety,
    train,
    test,
    z_ntk,
    kappa,
    steps,
    eval_every,
    on_eval: Callable | None = None,
) -> dict:
    """Full-batch training of K_FS + φ; returns histories of test σ and the NTK change."""
    fs = FubiniStudy(variety.ambient)
    pot = PhiPotential(phi, fs)
    params, static = eqx.partition(pot, trainable(pot))
    loss = lambda p: monge_ampere_loss(eqx.combine(p, static), train, kappa, 2)
    lr = 1.0 / _lambda_max(loss, params) if kind == "gd" else lr
    tx = optax.sgd(lr) if kind == "gd" else optax.adam(lr)
    opt = tx.init(params)
    step = jax.jit(make_step(loss, tx))

    sig = jax.jit(lambda p: sigma_from_eta(eta(eqx.combine(p, static), test, 500), test.weights))
    ntk = eqx.filter_jit(lambda p: kn.potential_ntk(eqx.combine(p, static), z_ntk))
    theta0 = ntk(params)
    hist = {"step": [], "sigma_test": [], "ntk_change": [], "loss": []}
    for k in range(steps + 1):
        if k % eval_every == 0 or k == steps:
            theta = theta0 if k == 0 else ntk(params)
            s = float(sig(params))
            ch = float(jnp.linalg.norm(theta - theta0) / jnp.linalg.norm(theta0))
            if not np.isfinite(s):
                raise FloatingPointError(f"feature-learning: test σ is not finite at step {k}")
            for name, v in (("step", k), ("sigma_test", s), ("ntk_change", ch)):
                hist[name].append(v)
            if on_eval is not None:
                on_eval(k, hist)
        if k < steps:
            params, opt, value = step(params, opt)
            if not np.isfinite(float(value)):
                raise FloatingPointError(f"feature-learning: loss is not finite at step {k + 1}")
            if k % eval_every == 0:
                hist["loss"].append(float(value))
    hist["spectrum_start"] = np.linalg.eigvalsh(np.asarray(theta0))[::-1]
    hist["spectrum_end"] = np.linalg.eigvalsh(np.asarray(theta))[::-1]  # theta at k = steps
    hist["learning_rate"] = lr
    return hist


def run_feature_learning(
    cfg: FeatureLearningConfig,
    out_dir: Path | None = None,
    regimes: tuple[str, ...] | None = None,
    progress=None,
) -> dict:
    """Train every regime (or ``regimes``) on the same points; ``progress(name, step, hist)``
    after each measurement. With ``out_dir``: figures, ``report.md`` and ``results.json``."""
    from ntkflow.cy.sampling import sample_points
    from ntkflow.cy.variety import variety_from_name

    t0 = time.perf_counter()
    X = variety_from_name(cfg.variety)
    pts = sample_points(X, cfg.n_train + cfg.n_test, jax.random.PRNGKey(cfg.seed))
    tr, te = pts.split(cfg.n_test)
    train, test = TrainingSet.from_points(X, tr), TrainingSet.from_points(X, te)
    kappa = fs_kappa(X, train)
    models = _build(cfg, X)
    results = {}
    for name in regimes or tuple(models):
        if name not in models:
            raise ValueError(f"feature-learning: unknown regime {name!r}; known: {tuple(models)}")
        cb = None if progress is None else (lambda k, h, n=name: progress(n, k, h))
        results[name] = train_regime(
            *models[name], X, train, test, test.z[: cfg.n_ntk], kappa, cfg.steps, cfg.eval_every, cb
        )
    summary = {
        "regimes": [
            {"name": n, "sigma_test": h["sigma_test"][-1], "ntk_change": h["ntk_change"][-1]}
            | {"sigma_test_initial": h["sigma_test"][0]}
            for n, h in results.items()
        ],
        "config": dataclasses.asdict(cfg) | {"gaussian_width": cfg.gaussian_lengthscale},
        "wall_seconds": time.perf_counter() - t0,
    }
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        summary["figures"] = _figures(results, out_dir)
        summary["report"] = str(_report(summary, results, out_dir))
        write_json(out_dir / "results.json", {**summary, "histories": results}, indent=1)
    return summary


def _figures(results, out_dir: Path) -> list[str]:
    from ntkflow.io.atomic import figure

    for key, ylabel, fname, logy in (
        ("sigma_test", "test σ", "sigma_test.png", True),
        ("ntk_change", "‖Θ_t − Θ_0‖_F / ‖Θ_0‖_F", "ntk_change.png", False),
    ):
        with figure(out_dir / fname, figsize=(5.5, 3.8)) as ax:
            for n, h in results.items():
                ax.plot(h["step"], h[key], marker="o", ms=3, label=n)
            ax.set(
                xlabel="training step (full batch)",
                ylabel=ylabel,
                yscale="log" if logy else "linear",
            )
            ax.legend(fontsize=8)
    size = (3.2 * len(results), 3)
    with figure(out_dir / "ntk_spectrum.png", size, ncols=len(results), squeeze=False) as axes:
        for ax, (n, h) in zip(axes[0], results.items(), strict=True):
            for which in ("start", "end"):
                ev = np.clip(np.asarray(h[f"spectrum_{which}"]), 1e-16, None)
                ax.hist(np.log10(ev), bins=40, alpha=0.6, label=which)
            ax.set_title(n, fontsize=9)
            ax.set_xlabel("log10 eigenvalue of Θ (potential NTK)")
        axes[0][0].legend(fontsize=8)
    return [str(out_dir / f) for f in ("sigma_test.png", "ntk_change.png", "ntk_spectrum.png")]


def _report(summary, results, out_dir: Path) -> Path:
    rows = summary["regimes"]
    frozen = [r for r in rows if r["name"] != "finite"]
    fin = [r for r in rows if r["name"] == "finite"]
    lines = [
        "# Feature learning vs frozen kernels on the Fermat quintic",
        "",
        "| regime | test σ start | test σ end | ‖Θ_t − Θ_0‖/‖Θ_0‖ |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['name']} | {r['sigma_test_initial']:.4f} | {r['sigma_test']:.4f} | "
        f"{r['ntk_change']:.3g} |"
        for r in rows
    ]
    lines += [
        "",
        "Θ is the potential NTK Σ_I ∂K(z_i)/∂θ_I ∂K(z_j)/∂θ_I on "
        f"{summary['config']['n_ntk']} fixed test points (trainable parameters of each "
        "regime); the histograms show the eigenvalues of this PSD Gram matrix.",
        "",
    ]
    if fin and frozen:
        best = min(frozen, key=lambda r: r["sigma_test"])
        lazy = [r for r in frozen if r["ntk_change"] < FROZEN_THRESHOLD]
        holds = bool(lazy) and fin[0]["sigma_test"] < min(r["sigma_test"] for r in lazy)
        lines.append(
            f"Finite-width feature learning reaches test σ {fin[0]['sigma_test']:.4f} with NTK "
            f"change {fin[0]['ntk_change']:.3g}; the best other regime is {best['name']} "
            f"({best['sigma_test']:.4f}, NTK change {best['ntk_change']:.3g}). Counting as "
            f"frozen the regimes whose measured NTK change stays below {FROZEN_THRESHOLD} "
            f"({', '.join(r['name'] for r in lazy) or 'none'}), the paper's claim — frozen "
            "kernels learn the Calabi–Yau metric worse than a finite network whose NTK moves — "
            f"{'holds' if holds else 'does NOT hold'} in this run. All regimes get the same "
            "number of full-batch steps; learning rates are not tuned per regime."
        )
    path = out_dir / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
