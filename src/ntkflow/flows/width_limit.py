"""Finite width vs infinite width on a metric-regression task (paper §2; Jacot et al. 2018;
Lee et al. 2019): ‖g_N(T) − g_∞(T)‖ / ‖g_N(T) − g_N(0)‖, expected ~ N^{−1/2} or faster.
Setup: docs/derivations.md#flows-width_limit."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..kernels import infinite_width_metric_ntk
from ..nets import MLP, SharedTrunk
from .kernel_flow import regression_closed_form
from .losses import MetricRegression
from .parameter_flow import parameter_flow


def target_metric(x):
    """The regression target: a smooth SPD metric on ℝ²."""
    return jnp.array(
        [[1.5 + 0.5 * jnp.sin(x[0]), 0.3 * jnp.cos(x[1])], [0.3 * jnp.cos(x[1]), 1.2 + 0.2 * x[0]]]
    )


def collocation(key, n: int):
    """``n`` uniform points in [−2, 2]² and equal weights 1/n (the regression task's data)."""
    return jax.random.uniform(key, (n, 2), minval=-2.0, maxval=2.0), jnp.full(n, 1.0 / n)


def make_head(width: int, key, depth: int = 2, activation: str = "erf", scale: float = 0.3):
    """The additive SharedTrunk metric head of the task, on an MLP in NTK parameterisation."""
    net = MLP(2, 4, width, depth, activation, W_std=1.5, b_std=0.1, parameterization="ntk", key=key)
    return SharedTrunk(net, 2, form="additive", scale=scale)


def width_limit(
    widths=(64, 256, 1024, 4096),
    *,
    points: int = 12,
    t: float = 4.0,
    lr: float = 0.02,
    seed: int = 0,
    seeds: int = 2,
    depth: int = 1,
    progress: Callable[[int, float, float], None] | None = None,
) -> dict:
    """Run the comparison; returns ``{"widths", "distances", "ntk_changes", ...}``."""
    kx, kn = jax.random.split(jax.random.key(seed))
    kns = jax.random.split(kn, seeds)
    xs, w = collocation(kx, points)
    loss = MetricRegression(target_metric)
    steps = int(round(t / lr))
    dists, changes = [], []
    for width in widths:
        d_s, c_s = [], []
        for kn in kns:  # average over initialisations (fluctuations are what scale)
            head = make_head(width, kn, depth)
            g0 = np.asarray(jax.vmap(head)(xs))
            res = parameter_flow(head, loss, xs, w, steps, "sgd", lr, ntk_every=steps)
            g_fin = np.asarray(jax.vmap(res.model)(xs))
            theta = infinite_width_metric_ntk(head, xs)  # (P, P, n, n, n, n)
            g_inf = g0 + _closed_form_from_gram(loss, head, theta, xs, w, steps * lr)
            d_s.append(float(np.linalg.norm(g_fin - g_inf) / np.linalg.norm(g_fin - g0)))
            c_s.append(float(res.ntk_changes[-1]))
        dists.append(float(np.mean(d_s)))
        changes.append(float(np.mean(c_s)))
        if progress is not None:
            progress(width, dists[-1], changes[-1])
    return {
        "widths": list(widths),
        "distances": dists,
        "ntk_changes": changes,
        "points": points,
        "t": steps * lr,
        "lr": lr,
        "seeds": seeds,
        "depth": depth,
    }


def _closed_form_from_gram(loss, head, theta, xs, w, t):
    """``Σ_b Θ̄(x_a, x_b) α_b(t)`` at the training points (closed form, eigendecomposition),
    with the kernel given by its values there: points are passed by index (a 1-d coordinate
    holding a, exact in float64)."""
    n, p = theta.shape[2], xs.shape[0]
    ids = jnp.arange(p, dtype=jnp.float64)[:, None]
    th = jnp.asarray(theta)
    kernel = lambda a, b: th[a[0].astype(int), b[0].astype(int)]
    ref = lambda a: head(xs[a[0].astype(int)])
    tgt = MetricRegression(lambda a: loss.target(xs[a[0].astype(int)]))
    cf = regression_closed_form(tgt, ref, kernel, ids, w, [t], n=n)
    return np.asarray(cf.metric.values(ids) - jax.vmap(ref)(ids))
