"""The lazy limit on the Fermat quintic (paper.md §6, claims 4–5; paper v2 abstract): φ-MLPs
of growing width trained to convergence on l = ⟨|1 − η/κ|² w⟩/⟨w⟩ with K = K_FS + φ(u(z)),
against frozen kernels solved to their fixed point. Per width: test σ and the relative change
of the potential NTK ‖Θ_T − Θ_0‖/‖Θ_0‖, fitted ∝ N^{−a} (lazy training: a = ½, Jacot et al.
2018; Lee et al. 2019); and the spectrum of the metric-NTK Θ_{ab̄cd̄} as the paper writes it.
Regimes, stopping rule and spectrum: docs/derivations.md#experiments-feature_learning."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from ntkflow.cy import kahler_ntk as kn
from ntkflow.cy.fubini_study import FubiniStudy
from ntkflow.cy.potential import PhiPotential, n_spectral_inputs
from ntkflow.cy.train import (
    TrainingSet,
    eta,
    eta_from_metrics,
    fs_kappa,
    fs_metrics,
    loss_from_eta,
    monge_ampere_loss,
    sigma_from_eta,
)
from ntkflow.flows import LinearisedMetric, Stationarity, minimise
from ntkflow.io.atomic import atomic_write_text, write_json
from ntkflow.kernels import RandomFourierFeatures
from ntkflow.kernels.analytic import mlp_kernel
from ntkflow.kernels.convergence import power_law_slope
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


def finite_phi(m: int, width: int, depth: int, key, train: str = "all") -> MLP:
    """A finite φ-MLP (GELU, standard parameterisation) with its read-out scaled by 10⁻³,
    so that K_FS + φ starts next to Fubini–Study."""
    phi = MLP(m, "scalar", width, depth, "gelu", parameterization="standard", train=train, key=key)
    return eqx.tree_at(lambda n: n.layers[-1].weight, phi, phi.layers[-1].weight * 1e-3)


REGIMES = ("ntk", "standard", "analytic", "linearised", "gaussian")


@dataclasses.dataclass(frozen=True)
class FeatureLearningConfig:
    """The width sweep: ``seeds`` NTK-parameterised (``standard_seeds`` standard-
    parameterised) φ-MLPs of each width, and the frozen kernels, all on the same points and
    loss, each trained by L-BFGS until :class:`~ntkflow.flows.Stationarity` holds."""

    variety: str = "fermat-quintic"
    n_train: int = 300
    n_test: int = 1000
    n_ntk: int = 100
    widths: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)
    seeds: int = 3
    standard_seeds: int = 1
    depth: int = 1
    activation: str = "erf"
    tol: float = 1e-4
    window: int = 25
    max_steps: int = 2000
    gaussian_lengthscale: float = 1.0
    n_features: int = 2048
    spectrum_width: int = 256
    n_spectrum: int = 16
    seed: int = 0

    def __post_init__(self):
        counts = ("n_train", "n_test", "n_ntk", "seeds", "depth", "n_features", "n_spectrum")
        for name in (*counts, "window", "max_steps", "spectrum_width"):
            if (v := getattr(self, name)) < 1:
                raise ValueError(f"feature-learning: {name} must be >= 1, got {v}")
        if self.standard_seeds < 0:
            raise ValueError(
                f"feature-learning: standard_seeds must be >= 0, got {self.standard_seeds}"
            )
        if not self.widths or any(int(w) < 1 for w in self.widths):
            raise ValueError(f"feature-learning: widths must be >= 1, got {self.widths}")
        if len(set(self.widths)) != len(self.widths):
            raise ValueError(f"feature-learning: widths repeat: {self.widths}")
        if self.n_ntk > self.n_test or self.n_spectrum > self.n_test:
            raise ValueError("feature-learning: n_ntk and n_spectrum must not exceed n_test")
        if not self.tol > 0 or not self.gaussian_lengthscale > 0:
            raise ValueError("feature-learning: tol and gaussian_lengthscale must be > 0")

    @property
    def rule(self) -> Stationarity:
        return Stationarity(self.tol, self.window, self.max_steps)


def metric_ntk_spectra(potential, z, jac) -> dict[str, np.ndarray]:
    """Eigenvalues of the metric-NTK as the paper writes it, Θ_{(x,ab̄),(x',cd̄)} =
    Σ_I ∂g_{ab̄}(x)/∂θ_I ∂g_{cd̄}(x')/∂θ_I (complex bilinear, no conjugate), and of the Gram
    matrix G = Θ with (c, d̄) swapped, G_{(x,ab̄),(x',cd̄)} = Θ_{ab̄ dc̄} = Σ_I J J̄ (Hermitian,
    PSD). Θ = G P with P the swap, P² = 1: Θ has G^{1/2} P G^{1/2}'s real, indefinite
    spectrum (docs/derivations.md#experiments-feature_learning)."""
    th = np.asarray(kn.metric_metric_ntk(potential, z, jac))  # (N, N, d, d, d, d)
    n, d = th.shape[0], th.shape[2]
    theta = th.transpose(0, 2, 3, 1, 4, 5).reshape(n * d * d, n * d * d)
    gram = th.transpose(0, 2, 3, 1, 5, 4).reshape(n * d * d, n * d * d)
    ev = np.linalg.eigvals(theta)
    return {
        "theta": np.sort(ev.real)[::-1],
        "theta_max_imag": float(np.max(np.abs(ev.imag)) / np.max(np.abs(ev))),
        "gram": np.linalg.eigvalsh(0.5 * (gram + gram.conj().T))[::-1],
        "negative_bound": n * d * (d - 1) // 2,  # the −1 eigenspace of P
    }


class _Problem:
    """The points, loss and diagnostics every regime shares."""

    def __init__(self, cfg: FeatureLearningConfig):
        from ntkflow.cy.sampling import sample_points
        from ntkflow.cy.variety import variety_from_name

        self.variety = X = variety_from_name(cfg.variety)
        pts = sample_points(X, cfg.n_train + cfg.n_test, jax.random.PRNGKey(cfg.seed))
        tr, te = pts.split(cfg.n_test)
        self.train, self.test = TrainingSet.from_points(X, tr), TrainingSet.from_points(X, te)
        self.kappa = fs_kappa(X, self.train)
        self.fs = FubiniStudy(X.ambient)
        self.m = n_spectral_inputs(X.ambient)
        self.cfg = cfg
        self._compiled: dict = {}

    def fit(self, phi, key, on_step=None) -> tuple[dict, PhiPotential, PhiPotential]:
        """Train K_FS + φ to stationarity; the run's record, the starting and final potential.
        Runs with the same ``key`` (regime, width) share their compiled functions."""
        pot0 = PhiPotential(phi, self.fs)
        params, static = eqx.partition(pot0, trainable(pot0))
        loss, sig, ntk = self._functions(key)
        theta0, s0 = ntk(params, static), float(sig(params, static))
        res = minimise(loss, params, self.cfg.rule, on_step, args=(static,))
        theta, s = ntk(res.params, static), float(sig(res.params, static))
        ntk_change = float(jnp.linalg.norm(theta - theta0) / jnp.linalg.norm(theta0))
        record = _record(res, s, s0, ntk_change, _relative_change(res.params, params))
        return record, pot0, eqx.combine(res.params, static)

    def fit_analytic(self, on_step=None) -> dict:
        """The frozen infinite-width NTK Θ_∞ of the `ntk` networks' architecture at its fixed
        point. The flow dφ/dt = −Σ_a Θ_∞(·, x_a)·∂l/∂g(x_a) keeps φ = Σ_{a,q} β_{aq}
        p_q(∂∂̄)_{x_a} Θ_∞(·, x_a), so the packed metrics at the points are h = K β with K the
        metric kernel of Θ_∞ (:func:`~ntkflow.cy.kahler_ntk.potential_metric_kernel`).
        Written h = K^{1/2} γ, L-BFGS from γ = 0 stays in the flow's span and, for a quadratic
        loss, ends at the minimum-RKHS-norm minimiser, like the feature models' coefficients
        (docs/derivations.md#experiments-feature_learning)."""
        cfg, X, train, test = self.cfg, self.variety, self.train, self.test
        ker = mlp_kernel(cfg.depth, cfg.activation)
        k = lambda u, v: ker(u[None], v[None])[1][0, 0]
        n, d = train.z.shape[0], train.jac.shape[1]
        big = lambda m: m.transpose(0, 2, 1, 3).reshape(m.shape[0] * d * d, -1)
        kt = big(kn.potential_metric_kernel(k, X.ambient, train.z, train.jac, train.z, train.jac))
        kx = big(kn.potential_metric_kernel(k, X.ambient, test.z, test.jac, train.z, train.jac))
        lam, vec = np.linalg.eigh(0.5 * (kt + kt.T))
        keep = lam > 1e-12 * lam[-1]
        root = jnp.asarray(vec[:, keep] * np.sqrt(lam[keep]))  # K^{1/2} on its range
        to_beta = jnp.asarray(vec[:, keep] / np.sqrt(lam[keep]))
        unpack = jax.vmap(lambda q: kn.unpack_hermitian(q, d))
        g_tr, g_te = fs_metrics(X, train), fs_metrics(X, test)

        def loss(gam, root):
            g = g_tr + unpack((root @ gam).reshape(n, d * d))
            return loss_from_eta(eta_from_metrics(g, train.omega_sq), train.weights, self.kappa, 2)

        def sigma(gam):
            g = g_te + unpack((kx @ (to_beta @ gam)).reshape(-1, d * d))
            return float(sigma_from_eta(eta_from_metrics(g, test.omega_sq), test.weights))

        gam0 = jnp.zeros(root.shape[1])
        res = minimise(loss, gam0, cfg.rule, on_step, args=(root,))
        # frozen by construction: no NTK or parameter change
        return _record(res, sigma(res.params), sigma(gam0), 0.0, 0.0) | {
            "kernel_rank": int(keep.sum())
        }

    def _functions(self, key):
        if key not in self._compiled:
            train, test, kappa = self.train, self.test, self.kappa
            z_ntk = test.z[: self.cfg.n_ntk]
            model = eqx.combine
            self._compiled[key] = (
                lambda p, st: monge_ampere_loss(model(p, st), train, kappa, 2),
                eqx.filter_jit(
                    lambda p, st: sigma_from_eta(eta(model(p, st), test, 500), test.weights)
                ),
                eqx.filter_jit(lambda p, st: kn.potential_ntk(model(p, st), z_ntk)),
            )
        return self._compiled[key]

    def network(self, width: int, parameterization: str, seed: int) -> Centred:
        key = jax.random.fold_in(jax.random.PRNGKey(self.cfg.seed), 1000 + seed)
        net = MLP(
            self.m,
            "scalar",
            int(width),
            self.cfg.depth,
            self.cfg.activation,
            parameterization=parameterization,
            key=key,
        )
        return Centred(net, net)


def _record(res, sigma_test: float, sigma_initial: float, ntk_change: float, param_change: float):
    """One run's entry of ``runs``; a non-finite test σ is a :class:`FloatingPointError`."""
    if not np.isfinite(sigma_test):
        raise FloatingPointError("feature-learning: test σ is not finite after training")
    return {
        "sigma_test": sigma_test,
        "sigma_test_initial": sigma_initial,
        "ntk_change": ntk_change,
        "parameter_change": param_change,
        "loss": res.losses[-1],
        "loss_initial": res.losses[0],
        "losses": res.losses,
        "steps": res.steps,
        "converged": res.converged,
        "criterion": res.criterion,
    }


def _relative_change(params, params0) -> float:
    """‖θ − θ₀‖/‖θ₀‖ over the trained arrays (0 for coefficients that start at 0)."""
    a = jax.flatten_util.ravel_pytree(params)[0]
    b = jax.flatten_util.ravel_pytree(params0)[0]
    nb = float(jnp.linalg.norm(b))
    return float(jnp.linalg.norm(a - b)) / nb if nb > 0 else 0.0


def _by_width(runs: list[dict], widths) -> dict:
    out = {
        f"{k}_by_width": {"mean": [], "std": []}
        for k in ("sigma_test", "ntk_change", "parameter_change")
    }
    for w in widths:
        rs = [r for r in runs if r["width"] == w]
        for key in ("sigma_test", "ntk_change", "parameter_change"):
            v = np.array([r[key] for r in rs])
            out[f"{key}_by_width"]["mean"].append(float(v.mean()))
            out[f"{key}_by_width"]["std"].append(float(v.std(ddof=1)) if len(v) > 1 else 0.0)
    ws = [r["width"] for r in runs]
    a, err = power_law_slope(ws, [r["ntk_change"] for r in runs])
    b, berr = power_law_slope(ws, [r["parameter_change"] for r in runs])
    return {
        "widths": [int(w) for w in widths],
        **out,
        "ntk_change_slope": a,
        "ntk_change_slope_error": err,
        "parameter_change_slope": b,
        "parameter_change_slope_error": berr,
    }


def run_feature_learning(
    cfg: FeatureLearningConfig,
    out_dir: Path | None = None,
    regimes: tuple[str, ...] | None = None,
    progress: Callable[[str, int, float], None] | None = None,
) -> dict:
    """Every regime (or ``regimes`` of :data:`REGIMES`) on the same points; ``progress(run,
    step, loss)`` after each optimiser step. With ``out_dir``: figures, ``report.md`` and
    ``results.json``."""
    regimes = tuple(regimes or REGIMES)
    for name in regimes:
        if name not in REGIMES:
            raise ValueError(f"feature-learning: unknown regime {name!r}; known: {REGIMES}")
    t0 = time.perf_counter()
    prob = _Problem(cfg)
    widths = [int(w) for w in sorted(cfg.widths)]
    runs: list[dict] = []
    spectrum = None
    spec_width = min(widths, key=lambda w: abs(w - cfg.spectrum_width))

    def train(label, phi, key):
        cb = None if progress is None else (lambda k, v: progress(label, k, v))
        return prob.fit(phi, key, cb)

    for par, n_seeds in (("ntk", cfg.seeds), ("standard", cfg.standard_seeds)):
        if par not in regimes:
            continue
        for w in widths:
            for s in range(n_seeds):
                rec, pot0, pot = train(f"{par} N={w} seed {s}", prob.network(w, par, s), (par, w))
                runs.append({"regime": par, "width": w, "seed": s, **rec})
                if par == "ntk" and s == 0 and w == spec_width:
                    spectrum = _spectrum(prob, pot0, pot, w)
    frozen = {}
    if "analytic" in regimes:
        rec = prob.fit_analytic(lambda k, v: progress and progress("analytic Θ_∞", k, v))
        runs.append({"regime": "analytic", "width": 0, "seed": 0, **rec})
        frozen["analytic"] = rec["sigma_test"]
    if "linearised" in regimes:
        w = widths[-1]
        lin = LinearisedMetric.around(prob.network(w, "ntk", 0).phi, centred=True)
        rec, _, _ = train(f"linearised N={w}", lin, ("linearised", w))
        runs.append({"regime": "linearised", "width": w, "seed": 0, **rec})
        frozen["linearised"] = rec["sigma_test"]
    if "gaussian" in regimes:
        key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 3)
        rf = RandomFourierFeatures(prob.m, cfg.n_features, cfg.gaussian_lengthscale, key=key)
        rec, _, _ = train("gaussian", FeaturePhi(rf, jnp.zeros(cfg.n_features)), ("gaussian",))
        runs.append({"regime": "gaussian", "width": cfg.n_features, "seed": 0, **rec})
        frozen["gaussian"] = rec["sigma_test"]

    summary: dict = {}
    ntk_runs = [r for r in runs if r["regime"] == "ntk"]
    if ntk_runs:
        summary |= _by_width(ntk_runs, widths)
    std_runs = [r for r in runs if r["regime"] == "standard"]
    if std_runs:
        summary["standard"] = _by_width(std_runs, widths)
    summary["frozen_sigma_test"] = frozen
    summary["converged"] = [
        {k: r[k] for k in ("regime", "width", "seed", "converged", "steps", "criterion")}
        for r in runs
    ]
    summary["sigma_test_initial"] = runs[0]["sigma_test_initial"] if runs else None
    if spectrum is not None:
        summary["spectrum"] = {k: v for k, v in spectrum.items() if not isinstance(v, np.ndarray)}
    summary["conclusion"] = _conclusion(summary)
    summary["config"] = dataclasses.asdict(cfg)
    summary["wall_seconds"] = time.perf_counter() - t0
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        summary["figures"] = _figures(summary, runs, spectrum, out_dir)
        summary["report"] = str(_report(summary, runs, out_dir))
        arrays = (
            {}
            if spectrum is None
            else {k: v.tolist() for k, v in spectrum.items() if isinstance(v, np.ndarray)}
        )
        write_json(
            out_dir / "results.json",
            {**summary, "runs": runs, "spectrum_eigenvalues": arrays},
            indent=1,
        )
    return summary


def _spectrum(prob: _Problem, pot0, pot, width: int) -> dict:
    test, n = prob.test, prob.cfg.n_spectrum
    z, jac = test.z[:n], test.jac[:n]
    start, end = metric_ntk_spectra(pot0, z, jac), metric_ntk_spectra(pot, z, jac)
    out = {"width": width, "points": n, "negative_bound": start["negative_bound"]}
    for when, sp in (("start", start), ("end", end)):
        out[f"theta_{when}"], out[f"gram_{when}"] = sp["theta"], sp["gram"]
        scale = np.max(np.abs(sp["theta"]))
        out[f"negative_{when}"] = int(np.sum(sp["theta"] < -1e-9 * scale))
        out[f"max_imag_{when}"] = sp["theta_max_imag"]
    return out


def _conclusion(s: dict) -> str:
    if "sigma_test_by_width" not in s:
        return ""
    w, sig = s["widths"], s["sigma_test_by_width"]["mean"]
    text = (
        f"NTK-parameterised φ-MLPs trained to convergence: test σ {sig[0]:.4f} at width {w[0]} "
        f"and {sig[-1]:.4f} at width {w[-1]}; the NTK's relative change falls as N^"
        f"{s['ntk_change_slope']:.2f}±{s['ntk_change_slope_error']:.2f} and the parameters' as N^"
        f"{s['parameter_change_slope']:.2f}±{s['parameter_change_slope_error']:.2f} (lazy "
        "theory: parameters N^-0.5; NTK between N^-0.5 and N^-1)"
    )
    if s["frozen_sigma_test"]:
        fz = ", ".join(f"{k} {v:.4f}" for k, v in s["frozen_sigma_test"].items())
        text += f"; frozen kernels at their fixed point: {fz}"
    return text + "."


def _curve(ax, widths, stats: dict, color, label: str) -> None:
    """Mean ± std over seeds against width."""
    kw = {} if color is None else {"color": color}
    ax.errorbar(
        widths, stats["mean"], yerr=stats["std"], marker="o", ms=4, capsize=3, label=label, **kw
    )


def _figures(summary: dict, runs: list[dict], spectrum, out_dir: Path) -> list[str]:
    from ntkflow.io.atomic import figure

    names = []
    curves = [("ntk", summary)] + (
        [("standard", summary["standard"])] if "standard" in summary else []
    )
    if "widths" in summary or "standard" in summary:
        with figure(out_dir / "sigma_test_vs_width.png", figsize=(5.5, 3.8)) as ax:
            for label, c in curves:
                if "widths" not in c:
                    continue
                _curve(ax, c["widths"], c["sigma_test_by_width"], None, f"{label} parameterisation")
            for i, (k, v) in enumerate(summary["frozen_sigma_test"].items()):
                ax.axhline(v, ls="--", color=f"C{i + 2}", label=f"frozen {k} (fixed point)")
            ax.set(xscale="log", xlabel="width N", ylabel="test σ at convergence")
            ax.legend(fontsize=7)
        names.append("sigma_test_vs_width.png")
        with figure(out_dir / "ntk_change_vs_width.png", figsize=(5.5, 3.8)) as ax:
            for i, (label, c) in enumerate(curves):
                if "widths" not in c:
                    continue
                m, w = c["ntk_change_by_width"], np.asarray(c["widths"], float)
                _curve(ax, w, m, f"C{i}", f"{label}: slope {c['ntk_change_slope']:.2f}")
                a = c["ntk_change_slope"]
                gm = np.exp(np.mean(np.log(m["mean"])) - a * np.mean(np.log(w)))
                ax.plot(w, gm * w**a, ls=":", color=f"C{i}")
                pc = c["parameter_change_by_width"]["mean"]
                lab = f"{label}: ‖θ_T − θ_0‖/‖θ_0‖, slope {c['parameter_change_slope']:.2f}"
                ax.plot(w, pc, ls="--", marker="s", ms=3, color=f"C{i}", alpha=0.6, label=lab)
            ax.set(
                xscale="log",
                yscale="log",
                xlabel="width N",
                ylabel="relative change at convergence",
            )
            ax.legend(fontsize=7)
        names.append("ntk_change_vs_width.png")
    if runs:
        with figure(out_dir / "training_loss.png", figsize=(5.5, 3.8)) as ax:
            for r in runs:
                c = {
                    "ntk": "C0",
                    "standard": "C1",
                    "linearised": "C2",
                    "gaussian": "C3",
                    "analytic": "C4",
                }[r["regime"]]
                ax.plot(r["losses"], color=c, lw=0.8, alpha=0.7)
            for c, lab in (
                ("C0", "ntk"),
                ("C1", "standard"),
                ("C2", "linearised"),
                ("C3", "gaussian"),
            ):
                ax.plot([], [], color=c, label=lab)
            ax.set(yscale="log", xlabel="L-BFGS step", ylabel="training loss")
            ax.legend(fontsize=7)
        names.append("training_loss.png")
    if spectrum is not None:
        with figure(out_dir / "metric_ntk_spectrum.png", (9, 3.6), ncols=2, squeeze=False) as axes:
            for ax, key, title in (
                (axes[0][0], "theta", "Θ_{ab̄cd̄} as written (complex bilinear)"),
                (axes[0][1], "gram", "Gram Σ J J̄ (Hermitian, PSD)"),
            ):
                for when in ("start", "end"):
                    ev = np.asarray(spectrum[f"{key}_{when}"])
                    lim = 1e-12 * np.max(np.abs(ev))
                    ax.hist(
                        np.sign(ev) * np.log10(1 + np.abs(ev) / lim),
                        bins=50,
                        alpha=0.6,
                        label=f"{when} of training",
                    )
                ax.axvline(0, color="k", lw=0.5)
                ax.set_title(title, fontsize=9)
                ax.set_xlabel("sign(λ)·log10(1 + |λ|/λ₀)")
            axes[0][0].legend(fontsize=7)
        names.append("metric_ntk_spectrum.png")
    return [str(out_dir / f) for f in names]


def _report(summary: dict, runs: list[dict], out_dir: Path) -> Path:
    lines = ["# The lazy limit on the Fermat quintic", "", summary["conclusion"], ""]
    for label, c in (("NTK", summary), ("standard", summary.get("standard", {}))):
        if "widths" not in c:
            continue
        lines += [
            f"## {label} parameterisation (slopes of the NTK change: "
            f"{c['ntk_change_slope']:.3f} ± {c['ntk_change_slope_error']:.3f}; of the "
            f"parameters: {c['parameter_change_slope']:.3f} ± "
            f"{c['parameter_change_slope_error']:.3f})",
            "",
            "| width | test σ (mean ± std) | ‖Θ_T − Θ_0‖/‖Θ_0‖ (mean ± std) | ‖θ_T − θ_0‖/‖θ_0‖ |",
            "|---|---|---|---|",
        ]
        for i, w in enumerate(c["widths"]):
            s, n = c["sigma_test_by_width"], c["ntk_change_by_width"]
            sig, chg = (
                f"{s['mean'][i]:.4f} ± {s['std'][i]:.4f}",
                f"{n['mean'][i]:.4g} ± {n['std'][i]:.2g}",
            )
            pc = c["parameter_change_by_width"]["mean"][i]
            lines.append(f"| {w} | {sig} | {chg} | {pc:.4g} |")
        lines.append("")
    if summary["frozen_sigma_test"]:
        lines += ["## Frozen kernels at their fixed point", "", "| kernel | test σ |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" for k, v in summary["frozen_sigma_test"].items()]
        lines.append("")
    bad = [c for c in summary["converged"] if not c["converged"]]
    crit = summary["converged"][0]["criterion"] if summary["converged"] else ""
    lines.append(
        f"Stopping rule: {crit}. "
        + (
            f"{len(bad)} run(s) hit the step cap: "
            + ", ".join(f"{c['regime']} N={c['width']} seed {c['seed']}" for c in bad)
            if bad
            else "Every run met it."
        )
    )
    if "spectrum" in summary:
        sp = summary["spectrum"]
        lines += [
            "",
            f"Metric-NTK spectrum (width {sp['width']}, {sp['points']} points): the paper's "
            f"Θ_{{ab̄cd̄}} has {sp['negative_start']} negative eigenvalues at the start and "
            f"{sp['negative_end']} at the end (bound {sp['negative_bound']}: the antisymmetric "
            "components); the Gram matrix has none.",
        ]
    path = out_dir / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
