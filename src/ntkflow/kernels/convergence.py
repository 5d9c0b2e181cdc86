"""Finite-width metric-NTK against its infinite-width limit (paper §6, claim 2): for an additive
``SharedTrunk`` head on an MLP, Cos-net or Gauss-net of width N, the seed-averaged
ε(N) = ‖Θ_N − Θ̄‖_F / ‖Θ̄‖_F with Θ̄_ijkl = Θ̄(x, x') P_ijkl falls like N^{-1/2} (Jacot et al.
2018; Lee et al. 2019); the fitted slope of log ε against log N is returned with the data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..nets import MLP, CosNet, GaussNet, SharedTrunk
from .empirical import metric_ntk
from .infinite_width import infinite_width_metric_ntk

ARCHS = ("mlp", "cosnet", "gaussnet")
DEFAULT_WIDTHS = {
    "mlp": (64, 128, 256, 512, 1024),
    "cosnet": (128, 512, 2048, 8192, 32768),
    "gaussnet": (128, 512, 2048, 8192, 32768),
}


def make_trunk(arch: str, width: int, n: int, *, activation: str, depth: int, key) -> SharedTrunk:
    """The additive SharedTrunk metric head used by the convergence study."""
    if arch == "mlp":
        net = MLP(n, n * n, width, depth, activation, W_std=1.0, b_std=0.1, key=key)
    elif arch == "cosnet":
        net = CosNet(n, width, sigma_a=1.0, sigma_b=1.0, out_size=n * n, key=key)
    elif arch == "gaussnet":
        net = GaussNet(n, width, sigma_a=1.0, sigma_b=1.0, sigma_c=0.0, out_size=n * n, key=key)
    else:
        raise ValueError(f"unknown architecture {arch!r}; known: {ARCHS}")
    return SharedTrunk(net, n, form="additive")


def power_law_slope(xs: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``a, s_a`` of log v = a log x + c over all (x, v) pairs (repeated x, e.g.
    several seeds per width, allowed): the exponent of v ∝ x^a and its standard error; NaN for
    fewer than two distinct x."""
    x, y = np.log(np.asarray(xs, float)), np.log(np.asarray(values, float))
    if len(x) < 2 or np.ptp(x) == 0:
        return float("nan"), float("nan")
    a, c = np.polyfit(x, y, 1)
    res = y - (a * x + c)
    err = np.sqrt(res @ res / max(len(x) - 2, 1) / ((x - x.mean()) @ (x - x.mean())))
    return float(a), float(err)


def fit_slope(widths: Sequence[float], errors: Sequence[float]) -> float:
    """Least-squares slope of log(error) against log(width) (:func:`power_law_slope`)."""
    return power_law_slope(widths, errors)[0]


def ntk_convergence(
    arch: str = "mlp",
    *,
    widths: Sequence[int] | None = None,
    seeds: int = 4,
    points: int = 6,
    n: int = 2,
    activation: str = "relu",
    depth: int = 2,
    key=None,
    callback: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Mean relative distance of the empirical metric-NTK to Θ̄ at each width, and the slope."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; known: {ARCHS}")
    if seeds < 1 or points < 1:
        raise ValueError(f"seeds and points must be >= 1, got {seeds}, {points}")
    widths = tuple(DEFAULT_WIDTHS[arch] if widths is None else widths)
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"need at least two positive widths, got {widths}")
    key = jax.random.PRNGKey(0) if key is None else key
    kx, knet = jax.random.split(key)
    xs = jax.random.normal(kx, (points, n)) * (1.0 if arch == "mlp" else 0.5)
    trunk = lambda width, k: make_trunk(arch, width, n, activation=activation, depth=depth, key=k)
    bar = infinite_width_metric_ntk(trunk(1, knet), xs)
    bar_norm = jnp.linalg.norm(bar)
    errors, spread = [], []
    for width in widths:

        @eqx.filter_jit
        def error(k, width=width):
            return jnp.linalg.norm(metric_ntk(trunk(width, k), xs) - bar) / bar_norm

        errs = []
        for s in range(seeds):
            e = float(error(jax.random.fold_in(knet, 1000 * width + s)))
            if not np.isfinite(e):
                raise FloatingPointError(f"non-finite kernel error at width {width}, seed {s}")
            errs.append(e)
            if callback is not None:
                callback(width, s, e)
        errors.append(float(np.mean(errs)))
        spread.append(float(np.std(errs)))
    return {
        "arch": arch,
        "activation": activation if arch == "mlp" else ("cos" if arch == "cosnet" else "exp"),
        "depth": depth if arch == "mlp" else 1,
        "widths": list(widths),
        "errors": errors,
        "error_std": spread,
        "seeds": seeds,
        "points": points,
        "n": n,
        "slope": fit_slope(widths, errors),
    }
