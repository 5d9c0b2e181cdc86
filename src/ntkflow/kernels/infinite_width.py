"""Infinite-width kernels of the networks and metric heads of :mod:`ntkflow.nets`.
G(x, x') = exp(−σ_b² |x − x'|²/(2d)), NNGP K = (σ_a²/2) G (paper.md §4; paper §3(a)).
Derivation: docs/derivations.md#kernels-infinite_width."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..nets.features import CosNet, GaussNet
from ..nets.heads import IndependentComponents, SharedTrunk
from ..nets.mlp import MLP
from .analytic import mlp_kernel, point_pair, serial
from .gaussian import gaussian_matrix


def gaussian_kernel(x1: Array, x2: Array | None, sigma_b: float) -> Float[Array, "N1 N2"]:
    """G(x, x') = exp(−σ_b² |x − x'|² / (2d)) of a net with input weights of std σ_b: the
    Gaussian kernel (:mod:`ntkflow.kernels.gaussian`) with lengthscale ℓ = √d/σ_b."""
    x1, x2 = point_pair(x1, x2, "infinite-width kernels")
    return gaussian_matrix(x1, x2, (x1.shape[1] ** 0.5) / sigma_b)


def net_kernels(net, x1: Array, x2: Array | None = None) -> tuple[Array, Array]:
    """(NNGP, NTK) of a single-output network (every output of a multi-output one) at
    infinite width, each (N1, N2), honouring its ``train`` mode.

    An MLP in the standard parameterisation has no width-independent NTK: its NTK is the
    width-n kernel Θₙ = n Θ̂ + Θ_d of :func:`~ntkflow.kernels.analytic.mlp_kernel` at the
    net's own width n (on the scale of its empirical NTK; divide by n for the learning-rate-η/n
    kernel). Last layer only: Θ = n E[φ(u)φ(u')] + 1 there (read-out weights and bias), Θ = K in
    the NTK parameterisation."""
    x1, x2 = point_pair(x1, x2, "infinite-width kernels")
    if isinstance(net, MLP):
        dense = net.layers[0]
        kernel = mlp_kernel(
            net.depth,
            net.activation,
            dense.W_std,
            dense.b_std,
            parameterization=dense.parameterization,
            width=net.width,
        )
        if net.train == "last":  # Θ of the read-out layer alone: its input NTK set to 0
            s = serial(*kernel.layers[:-1]).state(x1, x2)
            s = kernel.layers[-1](eqx.tree_at(lambda t: t.ntk, s, jnp.zeros_like(s.ntk)))
            return s.nngp, s.ntk
        nngp, ntk = kernel(x1, x2)
    elif isinstance(net, CosNet | GaussNet):
        nngp = 0.5 * net.sigma_a**2 * gaussian_kernel(x1, x2, net.sigma_b)
        c_term = (1.0 if isinstance(net, CosNet) else net.sigma_c**2) if net.train_c else 0.0
        ntk = nngp * (1.0 + c_term + net.sigma_b**2 * (x1 @ x2.T) / net.in_size)
    else:
        raise ValueError(
            f"infinite-width kernels: no analytic kernel for {type(net).__name__}; "
            "supported: MLP, CosNet, GaussNet"
        )
    if net.train == "last":
        ntk = nngp
    return nngp, ntk


def symmetric_projector(n: int) -> np.ndarray:
    """P_ijkl = (δ_ik δ_jl + δ_il δ_jk)/2, the projector on symmetric n×n matrices."""
    e = np.eye(n)
    return 0.5 * (np.einsum("ik,jl->ijkl", e, e) + np.einsum("il,jk->ijkl", e, e))


def component_indicator(n: int) -> np.ndarray:
    """S_ijkl = 1 if {i, j} = {k, l} as unordered pairs, else 0."""
    return np.minimum(2 * symmetric_projector(n), 1.0)


def infinite_width_metric_ntk(
    head, x1: Array, x2: Array | None = None, *, kind: str = "ntk"
) -> Float[Array, "N1 N2 n n n n"]:
    """Θ̄_ijkl(x, x') of a metric head at infinite width (``kind='nngp'`` gives the metric
    NNGP, i.e. the covariance of g_ij(x), g_kl(x')).
    See docs/derivations.md#kernels-infinite_width."""
    if kind not in ("ntk", "nngp"):
        raise ValueError(f"infinite_width_metric_ntk: kind must be 'ntk' or 'nngp', got {kind!r}")
    k = 0 if kind == "nngp" else 1
    if not isinstance(head, IndependentComponents | SharedTrunk):
        raise ValueError(
            f"infinite_width_metric_ntk: expected IndependentComponents or SharedTrunk, "
            f"got {type(head).__name__}"
        )
    if head.form != "additive":
        raise ValueError(
            f"infinite_width_metric_ntk: the {head.form!r} form is non-linear in the random "
            "network output, so its metric-NTK has no deterministic infinite-width limit; "
            "use form='additive'"
        )
    s2, n = head.scale**2, head.n
    if isinstance(head, SharedTrunk):
        theta = net_kernels(head.net, x1, x2)[k]
        return s2 * theta[:, :, None, None, None, None] * symmetric_projector(n)
    x1, x2 = point_pair(x1, x2, "infinite-width kernels")
    iu = np.triu_indices(n)
    c = np.arange(len(iu[0]))
    u = np.zeros((len(c), n, n), x1.dtype)  # u[c, a, b] = 1 if {a, b} = component c's {i, j}
    u[c, iu[0], iu[1]] = u[c, iu[1], iu[0]] = 1.0
    theta = jnp.stack([net_kernels(net, x1, x2)[k] for net in head.nets])
    return s2 * jnp.einsum("cxy,cab,cpq->xyabpq", theta, u, u)
