"""The empirical (finite-width) metric neural tangent kernel (paper §1, eq. (1.3)):

    Θ_ijkl(x, x') = Σ_I ∂g_ij(x)/∂θ_I ∂g_kl(x')/∂θ_I,

summed over the trainable parameters only (:func:`ntkflow.nets.trainable`). Three strategies
give the same numbers:

- ``'jacobian'``: explicit per-point Jacobians ∂g/∂θ, contracted leaf by leaf;
- ``'matrix_free'``: J(x) (J(x')ᵀ e_kl) by Jacobian-vector / vector-Jacobian products
  (neural-tangents' "NTK-vector products");
- ``'structured'`` (default, fastest): per dense layer the kernel factorises as
  (back-propagated vectors · back-propagated vectors') × (activations · activations' + bias
  term), see :mod:`ntkflow.kernels.structured`.

Since g is symmetric, kernels are computed on its n(n+1)/2 independent components (row-major
upper triangle) and expanded. All points are processed in blocks of ``chunk_size`` so memory
stays bounded; :func:`kernel_vector_product` applies Θ without forming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..nets.trainable import trainable
from .structured import structured_block

STRATEGIES = ("structured", "jacobian", "matrix_free")
DEFAULT_STRATEGY = "structured"


# ---------------------------------------------------------------- blocks (one chunk pair)


def jacobian_block(fn: Callable, model: Any, mask: Any, x1: Array, x2: Array | None) -> Array:
    """Θ_mn(x, x') = Σ_I ∂f_m(x)/∂θ_I ∂f_n(x')/∂θ_I by explicit Jacobians (N1, N2, m, m)."""
    params, static = eqx.partition(model, mask)

    def jac(xs):
        def one(x):
            return jax.jacrev(lambda p: fn(eqx.combine(p, static), x))(params)

        return jax.vmap(one)(xs)

    j1 = jac(x1)
    j2 = j1 if x2 is None else jac(x2)
    terms = [
        jnp.einsum(
            "amp,bnp->abmn",
            a.reshape(a.shape[0], a.shape[1], -1),
            b.reshape(b.shape[0], b.shape[1], -1),
        )
        for a, b in zip(jax.tree_util.tree_leaves(j1), jax.tree_util.tree_leaves(j2), strict=True)
    ]
    return sum(terms[1:], terms[0])


def matrix_free_block(fn: Callable, model: Any, mask: Any, x1: Array, x2: Array | None) -> Array:
    """Θ by products: v_(b,n) = J(x2)ᵀ e_(b,n) (vjp), then J(x1) v (jvp), (N1, N2, m, m)."""
    params, static = eqx.partition(model, mask)
    x2 = x1 if x2 is None else x2

    def f_batch(p, xs):
        return jax.vmap(lambda x: fn(eqx.combine(p, static), x))(xs)

    out2, vjp2 = jax.vjp(lambda p: f_batch(p, x2), params)
    n2, m = out2.shape
    basis = jnp.eye(n2 * m, dtype=out2.dtype).reshape(n2 * m, n2, m)
    (vs,) = jax.vmap(vjp2)(basis)

    def jvp1(v):
        return jax.jvp(lambda p: f_batch(p, x1), (params,), (v,))[1]

    out = jax.vmap(jvp1)(vs)  # (n2*m, N1, m)
    return out.reshape(n2, m, x1.shape[0], m).transpose(2, 0, 3, 1)


_BLOCKS = {
    "jacobian": jacobian_block,
    "matrix_free": matrix_free_block,
    "structured": structured_block,
}


@eqx.filter_jit
def _block(fn, strategy, model, x1, x2):
    return _BLOCKS[strategy](fn, model, trainable(model), x1, x2)


# ---------------------------------------------------------------- validation and chunking


def _check_points(x: Array, name: str, where: str) -> Array:
    x = jnp.asarray(x)
    if x.ndim != 2:
        raise ValueError(
            f"{where}: {name} must be a batch of points of shape (N, d), got {x.shape}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{where}: {name} holds no points")
    return x


def _check_args(x1, x2, strategy, chunk_size, where):
    x1 = _check_points(x1, "x1", where)
    if x2 is not None:
        x2 = _check_points(x2, "x2", where)
        if x2.shape[1] != x1.shape[1]:
            raise ValueError(
                f"{where}: x1 and x2 have points of different dimension "
                f"({x1.shape[1]} and {x2.shape[1]})"
            )
    if strategy not in STRATEGIES:
        raise ValueError(f"{where}: unknown strategy {strategy!r}; known: {STRATEGIES}")
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
    ):
        raise ValueError(
            f"{where}: chunk_size must be a positive integer or None, got {chunk_size!r}"
        )
    return x1, x2


def _chunks(x: Array, size: int) -> list[tuple[Array, int]]:
    """Blocks of exactly ``size`` points (the last one padded with copies of its first point,
    so every block compiles once), with the number of real points in each."""
    out = []
    for s in range(0, x.shape[0], size):
        blk = x[s : s + size]
        k = blk.shape[0]
        if k < size:
            blk = jnp.concatenate([blk, jnp.broadcast_to(blk[:1], (size - k, x.shape[1]))])
        out.append((blk, k))
    return out


def empirical_ntk(
    fn: Callable[[Any, Array], Float[Array, " m"]],
    model: Any,
    x1: Float[Array, "N1 d"],
    x2: Float[Array, "N2 d"] | None = None,
    *,
    strategy: str = "jacobian",
    chunk_size: int | None = None,
) -> Float[Array, "N1 N2 m m"]:
    """Θ_mn(x, x') = Σ_I ∂f_m(x)/∂θ_I ∂f_n(x')/∂θ_I for ``f = fn(model, x)`` of shape (m,),
    over the trainable parameters of ``model``. ``x2=None`` means x2 = x1 (and is faster).

    ``'structured'`` needs ``fn`` to call the model once and not to differentiate it in x
    (e.g. a Kähler metric ∂∂̄K of the model); use 'jacobian' or 'matrix_free' for those."""
    x1, x2 = _check_args(x1, x2, strategy, chunk_size, "empirical_ntk")
    same = x2 is None
    x2a = x1 if same else x2
    if chunk_size is None or (chunk_size >= x1.shape[0] and chunk_size >= x2a.shape[0]):
        return _block(fn, strategy, model, x1, None if same else x2a)
    c1, c2 = _chunks(x1, chunk_size), _chunks(x2a, chunk_size)
    rows = []
    for i, (b1, k1) in enumerate(c1):
        row = []
        for j, (b2, k2) in enumerate(c2):
            blk = _block(fn, strategy, model, b1, None if (same and i == j) else b2)
            row.append(blk[:k1, :k2])
        rows.append(jnp.concatenate(row, axis=1))
    return jnp.concatenate(rows, axis=0)


# ---------------------------------------------------------------- metric and scalar kernels


def _metric_components(model, x):
    g = model(x)
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise ValueError(f"metric_ntk: the model must return a square matrix, got shape {g.shape}")
    iu = np.triu_indices(g.shape[0])
    return g[iu]


def _scalar_output(model, x):
    k = model(x)
    if k.size != 1:
        raise ValueError(f"scalar_ntk: the model must return a scalar, got shape {k.shape}")
    return jnp.reshape(k, (1,))


def unpack_index(n: int) -> np.ndarray:
    """``idx[i, j]`` = position of component (min(i,j), max(i,j)) in ``triu_indices(n)``."""
    iu = np.triu_indices(n)
    idx = np.zeros((n, n), dtype=int)
    idx[iu] = np.arange(len(iu[0]))
    return idx + np.triu(idx, 1).T


def unpack(theta_packed: Float[Array, "N1 N2 m m"], n: int) -> Float[Array, "N1 N2 n n n n"]:
    """Expand a kernel on the n(n+1)/2 components to the paper's index order Θ_ijkl."""
    idx = unpack_index(n)
    return theta_packed[:, :, idx[:, :, None, None], idx[None, None, :, :]]


def metric_ntk(
    model: Any,
    x1: Float[Array, "N1 d"],
    x2: Float[Array, "N2 d"] | None = None,
    *,
    strategy: str = DEFAULT_STRATEGY,
    chunk_size: int | None = None,
    packed: bool = False,
) -> Array:
    """Empirical metric-NTK Θ_ijkl(x, x') (paper eq. (1.3)), shape (N1, N2, n, n, n, n).

    ``model`` maps one point to a symmetric (n, n) matrix; only its trainable parameters enter.
    ``x2=None`` uses x2 = x1. ``packed=True`` returns the (N1, N2, m, m) kernel on the
    m = n(n+1)/2 upper-triangle components (row-major), n²/m² times smaller.
    """
    theta = empirical_ntk(
        _metric_components, model, x1, x2, strategy=strategy, chunk_size=chunk_size
    )
    if packed:
        return theta
    m = theta.shape[-1]
    n = int(round((np.sqrt(8 * m + 1) - 1) / 2))
    return unpack(theta, n)


def scalar_ntk(
    model: Any,
    x1: Float[Array, "N1 d"],
    x2: Float[Array, "N2 d"] | None = None,
    *,
    strategy: str = DEFAULT_STRATEGY,
    chunk_size: int | None = None,
) -> Float[Array, "N1 N2"]:
    """Empirical NTK Θ(x, x') = Σ_I ∂f(x)/∂θ_I ∂f(x')/∂θ_I of a scalar model (e.g. a Kähler
    potential, paper §5)."""
    theta = empirical_ntk(_scalar_output, model, x1, x2, strategy=strategy, chunk_size=chunk_size)
    return theta[:, :, 0, 0]


# ---------------------------------------------------------------- kernel-vector products


@eqx.filter_jit
def _vjp_chunk(model, xs, v):
    params, static = eqx.partition(model, trainable(model))
    _, vjp = jax.vjp(lambda p: jax.vmap(eqx.combine(p, static))(xs), params)
    return vjp(v)[0]


@eqx.filter_jit
def _jvp_chunk(model, xs, w):
    params, static = eqx.partition(model, trainable(model))
    return jax.jvp(lambda p: jax.vmap(eqx.combine(p, static))(xs), (params,), (w,))[1]


def kernel_vector_product(
    model: Any,
    xs: Float[Array, "N d"],
    v: Array,
    *,
    x_eval: Float[Array, "M d"] | None = None,
    chunk_size: int | None = None,
) -> Array:
    """(Θ v)(x) = Σ_{x'∈xs} Θ_ijkl(x, x') v_kl(x') for x in ``x_eval`` (default ``xs``),
    computed as J(x) (J(xs)ᵀ v) — one vjp and one jvp per chunk, never forming Θ.

    ``v`` has the model's output shape per point, (N, n, n) for a metric, (N,) for a scalar.
    """
    where = "kernel_vector_product"
    xs = _check_points(xs, "xs", where)
    v = jnp.asarray(v)
    if v.shape[0] != xs.shape[0]:
        raise ValueError(f"{where}: v has {v.shape[0]} points but xs has {xs.shape[0]}")
    x_eval = xs if x_eval is None else _check_points(x_eval, "x_eval", where)
    if x_eval.shape[1] != xs.shape[1]:
        raise ValueError(f"{where}: x_eval and xs have points of different dimension")
    size = xs.shape[0] if chunk_size is None else chunk_size
    w = None
    for s in range(0, xs.shape[0], size):
        xb, vb = xs[s : s + size], v[s : s + size]
        if xb.shape[0] < size:  # pad with zero weights so every chunk compiles once
            pad = size - xb.shape[0]
            xb = jnp.concatenate([xb, jnp.broadcast_to(xb[:1], (pad, xs.shape[1]))])
            vb = jnp.concatenate([vb, jnp.zeros((pad,) + vb.shape[1:], vb.dtype)])
        wb = _vjp_chunk(model, xb, vb)
        w = wb if w is None else jax.tree.map(jnp.add, w, wb)
    esize = x_eval.shape[0] if chunk_size is None else chunk_size
    outs = []
    for blk, k in _chunks(x_eval, esize):
        outs.append(_jvp_chunk(model, blk, w)[:k])
    return jnp.concatenate(outs, axis=0)
