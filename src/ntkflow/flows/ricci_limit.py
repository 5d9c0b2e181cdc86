"""The Ricci limit: a frozen Gaussian kernel and Perelman's loss (paper §3, §4).
dg_ij(x)/dt = −Σ_a w_a G_σ(x, x_a) · 2 (R_ij + ∇_i∇_j φ)(x_a) → −2(Ric + ∇²φ) as σ → 0.
Kernel, loss, gauge and charts: docs/derivations.md#flows-ricci_limit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..geometry import ricci_tensor
from ..geometry.ricci_flow import ricci_flow
from ..geometry.spectral import SpectralTorusMetric, torus_grid
from ..kernels.gaussian import GaussianKernel
from .kernel_flow import KernelMetric, SeparableKernel, kernel_flow, metric_values
from .losses import metric_jet, perelman_gradient, taylor_metric

GAUGES = ("perelman", "hamilton")
MANIFOLDS = ("sphere2", "torus2")


def gaussian_jet_matrices(kern: GaussianKernel, xs: Float[Array, "N d"]):
    """``G[a, b] = G_σ(x_a, x_b)``, ``D[a, b, k] = ∂_k G``, ``H[a, b, k, m] = ∂_k∂_m G`` (x_a
    derivatives): ``∂_k G = −Δ_k/σ² G``, ``∂_k∂_m G = (Δ_kΔ_m/σ⁴ − δ_km/σ²) G``."""
    s2 = kern.lengthscale**2
    delta = jax.vmap(lambda x: jax.vmap(lambda y: kern.displacement(x, y))(xs))(xs)
    g = jax.vmap(lambda x: jax.vmap(lambda y: kern(x, y))(xs))(xs)
    d = -delta / s2 * g[..., None]
    eye = jnp.eye(xs.shape[1])
    h = (delta[..., :, None] * delta[..., None, :] / s2**2 - eye / s2) * g[..., None, None]
    return g, d, h


class RicciLimitGradient(eqx.Module):
    """Gradient field for :func:`~ntkflow.flows.kernel_flow.kernel_flow`:
    ``w_a · 2 E(x_a)`` with ``E = Ric + ∇²φ`` (Perelman) or ``Ric`` (Hamilton), from the
    2-jets of ``g = g_ref + Σ_b G_σ(·, x_b) α_b`` at the collocation points."""

    gmat: Array
    dmat: Array
    hmat: Array
    ref_jets: tuple
    measure: Callable
    gauge: str = eqx.field(static=True, default="perelman")

    def __call__(self, metric: KernelMetric, xs, weights):
        # the jets (g, ∂g, ∂²g) at the points: reference + Gaussian derivative matrices · α
        mats = zip(self.ref_jets, (self.gmat, self.dmat, self.hmat), ("", "k", "km"), strict=True)
        jets = [j0 + jnp.einsum(f"ab{s},bij->aij{s}", m, metric.alpha) for j0, m, s in mats]

        def e_at(x, *jet):
            poly = taylor_metric(x, *jet)
            if self.gauge == "hamilton":
                return ricci_tensor(poly, x)
            return perelman_gradient(poly, x, self.measure)

        return 2.0 * weights[:, None, None] * jax.vmap(e_at)(xs, *jets)


def round_sphere(x):
    """Unit round S², stereographic chart: ``g₀ = 4/(1 + |x|²)² δ`` (Ric = g₀)."""
    return 4.0 / (1.0 + x @ x) ** 2 * jnp.eye(x.shape[0], dtype=x.dtype)


def wavy_torus(x):
    """A non-round conformal metric on T²: ``e^{2u₀} δ``, u₀ = 0.3 cos x₁ + 0.2 sin(x₁ + x₂)."""
    u = 0.3 * jnp.cos(x[0]) + 0.2 * jnp.sin(x[0] + x[1])
    return jnp.exp(2 * u) * jnp.eye(2, dtype=x.dtype)


@dataclass
class Setup:
    xs: Array  # collocation points (N, 2)
    weights: Array  # coordinate cell areas (N,)
    eval_mask: np.ndarray  # which points count in the distance
    g0: Callable
    period: float | None


def setup(manifold: str, lengthscale: float, points_per_sigma: float = 1.5) -> Setup:
    """Collocation grid and initial metric for ``sphere2`` or ``torus2``
    (docs/derivations.md#flows-ricci_limit)."""
    if manifold not in MANIFOLDS:
        raise ValueError(f"ricci_limit: unknown manifold {manifold!r}; known: {MANIFOLDS}")
    sigma = lengthscale  # ℓ of the kernel G_ℓ (the CLI's --sigmas, JSON "sigmas")
    if not sigma > 0 or not points_per_sigma > 0:
        raise ValueError(
            f"ricci_limit: sigma and points_per_sigma must be > 0, got {sigma}, {points_per_sigma}"
        )
    torus = manifold == "torus2"
    length = 2 * np.pi if torus else 2 * (1.0 + 5.0 * sigma)
    size = int(np.ceil(length / (sigma / points_per_sigma)))
    h = length / size  # torus: [0, 2π)² from 0; sphere: the cell centres of [−L, L]²
    t = np.arange(size) * h if torus else (np.arange(size) + 0.5) * h - length / 2
    a, b = np.meshgrid(t, t, indexing="ij")
    xs = np.stack([a.ravel(), b.ravel()], 1)
    w = jnp.asarray(np.full(len(xs), h**2))
    if torus:
        return Setup(jnp.asarray(xs), w, np.ones(len(xs), bool), wavy_torus, 2 * np.pi)
    return Setup(jnp.asarray(xs), w, (xs**2).sum(1) <= 1.0, round_sphere, None)


def reference_flow(manifold: str, su: Setup, t: float) -> np.ndarray:
    """Reference Ricci flow at time t on the setup's points: exact ``(1 − 2t) g₀`` on the round
    sphere; the pseudo-spectral solver of :mod:`ntkflow.geometry` on the torus."""
    if manifold == "sphere2":
        return np.asarray((1 - 2 * t) * jax.vmap(round_sphere)(su.xs))
    size = 32
    vals = jax.vmap(wavy_torus)(torus_grid(2, size)).reshape(size, size, 2, 2)
    sol = ricci_flow(SpectralTorusMetric.from_grid_values(vals), t, ts=[0.0, t])
    return np.asarray(sol.metric_at(t, su.xs))


def gaussian_ricci_flow(
    manifold: str,
    lengthscale: float,
    t: float,
    *,
    gauge: str | None = None,
    points_per_sigma: float = 1.5,
    rtol: float = 1e-6,
    atol: float = 1e-8,
):
    """Run the Gaussian-kernel generalised Ricci flow to time ``t``; returns
    ``(setup, KernelFlowResult)``. Default gauge: Hamilton
    (docs/derivations.md#flows-ricci_limit)."""
    gauge = gauge or "hamilton"
    if gauge not in GAUGES:
        raise ValueError(f"ricci_limit: unknown gauge {gauge!r}; known: {GAUGES}")
    su = setup(manifold, lengthscale, points_per_sigma)
    kern = GaussianKernel(lengthscale, su.period, normalised=True)
    gmat, dmat, hmat = jax.jit(gaussian_jet_matrices, static_argnums=0)(kern, su.xs)
    g0 = su.g0
    ref_jets = jax.jit(jax.vmap(lambda x: metric_jet(g0, x)))(su.xs)
    measure = lambda x: jnp.sqrt(jnp.linalg.det(g0(x)))
    grad = RicciLimitGradient(gmat, dmat, hmat, ref_jets, measure, gauge)
    opts = {"ts": np.linspace(0, t, 5), "rtol": rtol, "atol": atol, "check_kernel": False}
    return su, kernel_flow(grad, g0, SeparableKernel(kern, 2), su.xs, su.weights, t, **opts)


def distance(su: Setup, g: np.ndarray, g_ref: np.ndarray) -> float:
    """Relative L² distance ``(Σ w |g − g_ref|_F² / Σ w |g_ref|_F²)^{1/2}`` over the
    evaluation points (coordinate measure)."""
    m, w = su.eval_mask, np.asarray(su.weights)[su.eval_mask]
    num = (w * ((np.asarray(g) - g_ref)[m] ** 2).sum((1, 2))).sum()
    den = (w * (g_ref[m] ** 2).sum((1, 2))).sum()
    return float(np.sqrt(num / den))


def ricci_limit(
    manifold: str = "sphere2",
    sigmas=(0.4, 0.3, 0.2),
    t: float = 0.1,
    *,
    gauge: str | None = None,
    points_per_sigma: float = 1.5,
    progress: Callable[[float, float], None] | None = None,
) -> dict:
    """Distance at flow time ``t`` between the Gaussian-kernel flow and the reference Ricci
    flow, for each σ. Returns ``{"sigmas", "distances", "points", "t", "gauge"}``."""
    dists, npts = [], []
    for s in sigmas:
        su, res = gaussian_ricci_flow(
            manifold, s, t, gauge=gauge, points_per_sigma=points_per_sigma
        )
        g = np.asarray(metric_values(res.metric, su.xs))
        dists.append(distance(su, g, reference_flow(manifold, su, t)))
        npts.append(int(su.xs.shape[0]))
        if progress is not None:
            progress(s, dists[-1])
    return {
        "manifold": manifold,
        "sigmas": [float(s) for s in sigmas],
        "distances": dists,
        "points": npts,
        "t": t,
        "gauge": gauge or "hamilton",
    }
