"""Infinite-width kernels of the networks and metric heads of :mod:`ntkflow.nets`.

- MLPs: :mod:`ntkflow.kernels.analytic` (NTK parameterisation only: in the standard
  parameterisation the NTK depends on the finite widths).
- Cos-net and Gauss-net (talk ``seeds/001``; paper.md §4, "Derived kernels"), with
  G(x, x') = exp(−σ_b² |x − x'|²/(2d)) and the talk's scalings (see the nets' docstrings):
  NNGP K = (σ_a²/2) G for both; NTK (σ_a²/2)(1 + [c trained] + σ_b² x·x'/d) G for the Cos-net,
  (σ_a²/2)(1 + [c trained] σ_c² + σ_b² x·x'/d) G for the Gauss-net; last layer only: K.
- Metric heads with the additive form (paper §3(a)): ``IndependentComponents`` gives
  Θ̄_ijkl(x, x') = s² [{i,j} = {k,l}] Θ̄_(ij)(x, x'); ``SharedTrunk`` gives
  Θ̄_ijkl = s² Θ̄(x, x') P_ijkl with P_ijkl = (δ_ik δ_jl + δ_il δ_jk)/2 (s = the head's scale).
  The cholesky and exp forms are non-linear in a random network output and have no
  deterministic limit at initialisation.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..nets.cosnet import CosNet
from ..nets.gaussnet import GaussNet
from ..nets.heads import IndependentComponents, ScalarHead, SharedTrunk
from ..nets.mlp import MLP
from .analytic import mlp_kernel, point_pair
from .gaussian import gaussian_matrix


def gaussian_kernel(x1: Array, x2: Array | None, sigma_b: float) -> Float[Array, "N1 N2"]:
    """G(x, x') = exp(−σ_b² |x − x'|² / (2d)) of a net with input weights of std σ_b: the
    Gaussian kernel (:mod:`ntkflow.kernels.gaussian`) with lengthscale ℓ = √d/σ_b."""
    x1, x2 = point_pair(x1, x2, "infinite-width kernels")
    return gaussian_matrix(x1, x2, (x1.shape[1] ** 0.5) / sigma_b)


def net_kernels(net, x1: Array, x2: Array | None = None) -> tuple[Array, Array]:
    """(NNGP, NTK) of a single-output network (every output of a multi-output one) at
    infinite width, each (N1, N2), honouring its ``train`` mode."""
    x1, x2 = point_pair(x1, x2, "infinite-width kernels")
    if isinstance(net, MLP):
        dense = net.layers[0]
        if dense.parameterization != "ntk":
            raise ValueError(
                "infinite-width NTK: only parameterization='ntk' has a width-independent limit "
                "(the NNGP is the same in both); build the MLP with parameterization='ntk'"
            )
        nngp, ntk = mlp_kernel(net.depth, net.activation, dense.W_std, dense.b_std)(x1, x2)
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


def _kind(kind: str, where: str) -> int:
    if kind not in ("ntk", "nngp"):
        raise ValueError(f"{where}: kind must be 'ntk' or 'nngp', got {kind!r}")
    return 0 if kind == "nngp" else 1


def infinite_width_metric_ntk(
    head, x1: Array, x2: Array | None = None, *, kind: str = "ntk"
) -> Float[Array, "N1 N2 n n n n"]:
    """Θ̄_ijkl(x, x') of a metric head at infinite width (``kind='nngp'`` gives the metric
    NNGP, i.e. the covariance of g_ij(x), g_kl(x')). See the module docstring."""
    k = _kind(kind, "infinite_width_metric_ntk")
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
    iu = np.triu_indices(n)
    x1, x2 = point_pair(x1, x2, "infinite-width kernels")
    out = jnp.zeros((x1.shape[0], x2.shape[0], n, n, n, n), x1.dtype)
    for c, (i, j) in enumerate(zip(*iu, strict=True)):
        theta = s2 * net_kernels(head.nets[c], x1, x2)[k]
        for a, b in {(i, j), (j, i)}:
            for p, q in {(i, j), (j, i)}:
                out = out.at[:, :, a, b, p, q].set(theta)
    return out


def infinite_width_scalar_ntk(
    head, x1: Array, x2: Array | None = None, *, kind: str = "ntk"
) -> Float[Array, "N1 N2"]:
    """Θ̄(x, x') of a scalar head (``ScalarHead``) or a bare scalar network."""
    k = _kind(kind, "infinite_width_scalar_ntk")
    if isinstance(head, ScalarHead):
        return head.scale**2 * net_kernels(head.net, x1, x2)[k]
    if isinstance(head, eqx.Module):
        return net_kernels(head, x1, x2)[k]
    raise ValueError(f"infinite_width_scalar_ntk: unsupported model {type(head).__name__}")
