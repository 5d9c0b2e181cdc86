"""The metric interface: a *metric* is any callable ``x -> g(x)`` (equinox module or plain
function) taking one point ``x`` of shape ``(n,)`` to a symmetric positive-definite ``(n, n)``
matrix; ``jax.vmap`` for batches."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

Metric = Callable[[Float[Array, " n"]], Float[Array, "n n"]]


class MetricError(ValueError):
    """Raised when a metric or a point is malformed (shape, symmetry, definiteness, NaN)."""


def check_point(x: Array, where: str = "point") -> Array:
    """Check (statically) that ``x`` is one point, a 1-d array; return it as an array."""
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise MetricError(
            f"{where}: expected one point of shape (n,), got shape {x.shape}; "
            "functions act on one point, use jax.vmap for a batch"
        )
    return x


def metric_at(metric: Metric, x: Array, where: str = "metric") -> Float[Array, "n n"]:
    """Evaluate ``metric`` at one point and check (statically, so safe under ``jit``) the shape
    ``(n, n)`` with ``n = x.shape[0]``; :func:`check_metric` checks values."""
    x = check_point(x, where)
    g = metric(x)
    n = x.shape[0]
    if g.shape != (n, n):
        raise MetricError(
            f"{where}: a metric at a point of dimension {n} must be a ({n}, {n}) matrix, "
            f"got shape {g.shape}"
        )
    return g


def check_metric(metric: Metric, xs: Array, where: str = "metric") -> None:
    """Eagerly check a metric on points ``xs`` (N, n); raise :class:`MetricError` naming the
    first offending point: wrong shape, NaN/inf, asymmetry or a non-positive eigenvalue."""
    xs = jnp.asarray(xs)
    if xs.ndim != 2:
        raise MetricError(f"{where}: expected points of shape (N, n), got {xs.shape}")
    metric_at(metric, xs[0], where)
    gs = np.asarray(jax.vmap(metric)(xs))
    bad = ~np.isfinite(gs).all(axis=(-1, -2))
    if bad.any():
        i = int(np.argmax(bad))
        raise MetricError(f"{where}: NaN or inf at point {i} (x = {np.asarray(xs[i])})")
    gt = np.swapaxes(gs, -1, -2)
    asym = np.abs(gs - gt).max(axis=(-1, -2))
    eig = np.linalg.eigvalsh(0.5 * (gs + gt)).min(axis=-1)
    for bad, what, label, value in (
        (asym > 1e-8 * np.abs(gs).max(axis=(-1, -2)) + 1e-12, "symmetric", "|g - g^T| = ", asym),
        (eig <= 0, "positive-definite", "smallest eigenvalue ", eig),
    ):
        if bad.any():
            i = int(np.argmax(bad))
            raise MetricError(f"{where}: not {what} at point {i} ({label}{value[i]:.3g})")
