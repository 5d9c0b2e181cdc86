"""The empirical (finite-width) metric neural tangent kernel (paper §1, eq. (1.3)):
Θ_ijkl(x, x') = Σ_I ∂g_ij(x)/∂θ_I ∂g_kl(x')/∂θ_I.
Details: docs/derivations.md#kernels-empirical."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float

from ..memory import MemoryBudgetError, memory_budget
from ..memory import chunk_size as budget_chunk
from ..nets.trainable import trainable
from .structured import jacobian_block, matrix_free_block, n_points, structured_block

STRATEGIES = ("structured", "jacobian", "matrix_free")
DEFAULT_STRATEGY = "structured"
_BLOCKS = dict(zip(STRATEGIES, (structured_block, jacobian_block, matrix_free_block), strict=True))
_dims = lambda x: jax.tree.map(lambda a: a.shape[1:], x)  # the shape of one point


def _split(fn, strategy, model, fn2=None):
    """(arrays, block of (arrays, x1, x2)): the arrays of (fn, fn2, model) travel as arguments,
    so one compilation serves every model of the same structure."""
    dyn, st = eqx.partition((fn, fn2, model), eqx.is_array)

    def block(dyn, x1, x2):
        f, f2, m = eqx.combine(dyn, st)
        return _BLOCKS[strategy](f, m, trainable(m), x1, x2, *(() if f2 is None else (f2,)))

    return dyn, st, block


_PLANS: dict = {}


def _compile(block, dyn, x1, x2, c1: int, c2: int | None):
    spec = lambda x, n: jax.tree.map(lambda a: jax.ShapeDtypeStruct((n, *a.shape[1:]), a.dtype), x)
    s2 = None if c2 is None else spec(x2 if x2 is not None else x1, c2)
    return jax.jit(block).lower(dyn, spec(x1, c1), s2).compile()


def _bytes(compiled) -> int:
    m = compiled.memory_analysis()
    if m is None:
        return 0
    return int(m.temp_size_in_bytes + m.output_size_in_bytes + m.argument_size_in_bytes)


def _plan(fn, strategy, model, x1, x2, budget: int | None, chunk: int | None = None, fn2=None):
    """(chunk, compiled block, arrays): the largest square block of points whose compiled
    footprint (XLA memory analysis: temporaries + outputs + arguments) fits the memory budget,
    or the whole kernel in one block (chunk None) when that fits. A given ``chunk`` is used
    as is. Plans are cached per model structure, point shapes and budget."""
    budget = memory_budget() if budget is None else int(budget)
    dyn, st, block = _split(fn, strategy, model, fn2)
    n1, n2 = n_points(x1), None if x2 is None else n_points(x2)
    leaves, treedef = jax.tree.flatten(st)
    specs = [(a.shape, a.dtype) for a in jax.tree.leaves(dyn)]
    specs += [(a.shape[1:], a.dtype) for a in jax.tree.leaves((x1, x2))]  # per point
    key = (strategy, treedef, tuple(map(id, leaves)), tuple(specs), n1, n2, budget, chunk)
    if key in _PLANS:
        return (*_PLANS[key][:2], dyn)
    x2o = x1 if x2 is None else x2
    if chunk is not None and chunk < max(n1, n2 or 0):
        plan = (chunk, _compile(block, dyn, x1, x2o, chunk, chunk))
    elif chunk is not None or _bytes(whole := _compile(block, dyn, x1, x2, n1, n2)) <= budget:
        plan = (None, whole if chunk is None else _compile(block, dyn, x1, x2, n1, n2))
    else:
        # bytes(c) = a + b c + q c² for c × c blocks (outputs grow as c², Jacobians as c):
        # fit from three probes, solve for the budget, then shrink until the compiled block fits
        probes = (2, 4, 8)
        used = [_bytes(_compile(block, dyn, x1, x2o, c, c)) for c in probes]
        q, b, a = np.polyfit(probes, used, 2)
        q, b = max(q, 0.0), max(b, 1.0)
        room = budget - a
        c = room / b if q == 0 else (-b + np.sqrt(b * b + 4 * q * max(room, 0.0))) / (2 * q)
        c = int(max(1, min(c, max(n1, n2 or 0))))
        compiled = _compile(block, dyn, x1, x2o, c, c)
        while _bytes(compiled) > budget and c > 1:
            c = max(1, (3 * c) // 4)
            compiled = _compile(block, dyn, x1, x2o, c, c)
        if _bytes(compiled) > budget:
            raise MemoryBudgetError(
                f"empirical_ntk: one pair of points needs {_bytes(compiled) / 2**30:.2f} GiB with "
                f"strategy {strategy!r}, more than the budget of {budget / 2**30:.2f} GiB; "
                "raise NTKFLOW_MEMORY_BUDGET or use strategy='structured'"
            )
        plan = (c, compiled)
    if len(_PLANS) > 64:
        _PLANS.clear()
    _PLANS[key] = (*plan, leaves)  # the leaves keep their ids alive while the plan is cached
    return plan[0], plan[1], dyn


def _check_points(x: Any, name: str, where: str) -> Any:
    if isinstance(x, (jax.Array, np.ndarray, list)):
        x = jnp.asarray(x)
        if x.ndim != 2:
            raise ValueError(
                f"{where}: {name} must be a batch of points of shape (N, d), got {x.shape}"
            )
    leaves = jax.tree.leaves(x)
    if not leaves or any(jnp.ndim(a) < 1 for a in leaves):
        raise ValueError(f"{where}: {name} must be a pytree of arrays batched along axis 0")
    if len({a.shape[0] for a in leaves}) != 1:
        raise ValueError(f"{where}: the leaves of {name} hold different numbers of points")
    if leaves[0].shape[0] == 0:
        raise ValueError(f"{where}: {name} holds no points")
    return x


def _check_args(x1, x2, strategy, chunk_size, where, mixed=False):
    x1 = _check_points(x1, "x1", where)
    if mixed and (x2 is None or strategy == "structured"):
        raise ValueError(f"{where}: fn2 needs x2 and strategy 'jacobian' or 'matrix_free'")
    if x2 is not None:
        x2 = _check_points(x2, "x2", where)
        if not mixed and _dims(x1) != _dims(x2):
            raise ValueError(f"{where}: x1 and x2 have points of different dimension")
    if strategy not in STRATEGIES:
        raise ValueError(f"{where}: unknown strategy {strategy!r}; known: {STRATEGIES}")
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
    ):
        raise ValueError(
            f"{where}: chunk_size must be a positive integer or None, got {chunk_size!r}"
        )
    return x1, x2


def _chunks(x: Any, size: int) -> list[tuple[Any, int]]:
    """Blocks of exactly ``size`` points (the last one padded with copies of the first point,
    so every block compiles once), with the number of real points in each."""
    n = n_points(x)
    x = jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[:1], -n % size, axis=0)]), x)
    cut = lambda s: jax.tree.map(lambda a: a[s : s + size], x)
    return [(cut(s), min(size, n - s)) for s in range(0, n, size)]


def _traced(*xs) -> bool:
    return any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(xs))


def empirical_ntk(
    fn: Callable[[Any, Any], Float[Array, " m"]],
    model: Any,
    x1: Any,
    x2: Any | None = None,
    *,
    strategy: str = "jacobian",
    chunk_size: int | None = None,
    budget: int | None = None,
    fn2: Callable[[Any, Any], Array] | None = None,
) -> Float[Array, "N1 N2 m m"]:
    """Θ_mn(x, x') = Σ_I ∂f_m(x)/∂θ_I ∂f_n(x')/∂θ_I for ``f = fn(model, x)`` of shape (m,),
    over the trainable parameters of ``model``; ``x2=None``: x2 = x1 (faster).
    ``fn2``, points, chunks: docs/derivations.md#kernels-empirical-empirical_ntk."""
    x1, x2 = _check_args(x1, x2, strategy, chunk_size, "empirical_ntk", fn2 is not None)
    x2a = x1 if x2 is None else x2
    if _traced(x1, x2, model, fn, fn2):  # inside an outer jit: plain blocks
        (dyn, _, run), chunk = _split(fn, strategy, model, fn2), chunk_size
    else:
        chunk, run, dyn = _plan(fn, strategy, model, x1, x2, budget, chunk_size, fn2)
    if chunk is None or (chunk >= n_points(x1) and chunk >= n_points(x2a)):
        return run(dyn, x1, x2)
    c2 = _chunks(x2a, chunk)
    row = lambda b1, k1: jnp.concatenate([run(dyn, b1, b2)[:k1, :k2] for b2, k2 in c2], axis=1)
    return jnp.concatenate([row(b1, k1) for b1, k1 in _chunks(x1, chunk)], axis=0)


def _metric_components(model, x):
    g = model(x)
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise ValueError(f"metric_ntk: the model must return a square matrix, got shape {g.shape}")
    return g[np.triu_indices(g.shape[0])]


def _scalar_output(model, x):
    k = model(x)
    if k.size != 1:
        raise ValueError(f"scalar_ntk: the model must return a scalar, got shape {k.shape}")
    return jnp.reshape(k, (1,))


def unpack(theta_packed: Float[Array, "N1 N2 m m"]) -> Float[Array, "N1 N2 n n n n"]:
    """Expand a kernel on the m = n(n+1)/2 components to the paper's index order Θ_ijkl."""
    n = int(round((np.sqrt(8 * theta_packed.shape[-1] + 1) - 1) / 2))
    iu = np.triu_indices(n)
    idx = np.zeros((n, n), dtype=int)
    idx[iu] = np.arange(len(iu[0]))
    idx = idx + np.triu(idx, 1).T  # idx[i, j]: position of (min(i, j), max(i, j)) in iu
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
    """Empirical metric-NTK Θ_ijkl(x, x') (paper eq. (1.3)), shape (N1, N2, n, n, n, n), of a
    ``model`` mapping one point to a symmetric (n, n) matrix. ``packed=True``: the
    (N1, N2, m, m) kernel on the m = n(n+1)/2 upper-triangle components (row-major)."""
    kw = {"strategy": strategy, "chunk_size": chunk_size}
    theta = empirical_ntk(_metric_components, model, x1, x2, **kw)
    return theta if packed else unpack(theta)


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


def metric_ntk_plan(
    model: Any, x1: Any, x2: Any | None = None, *, strategy: str = DEFAULT_STRATEGY, budget=None
) -> tuple[int | None, int]:
    """(chunk, compiled bytes of one block) that :func:`metric_ntk` uses for points of these
    shapes (arrays or ``jax.ShapeDtypeStruct``; nothing is evaluated). chunk None: one block."""
    chunk, compiled, _ = _plan(_metric_components, strategy, model, x1, x2, budget)
    return chunk, _bytes(compiled)


class EmpiricalKernel(eqx.Module):
    """The empirical metric-NTK of ``model`` as a kernel callable on one pair of points,
    ``(x, x') ↦ Θ_ijkl(x, x')`` (n, n, n, n), for the frozen-kernel flows (traceable)."""

    model: Any

    def __call__(self, x, xp):
        return metric_ntk(self.model, x[None], xp[None], strategy="jacobian")[0, 0]


def _outputs(fn, model):
    """(trainable params, p ↦ [fn(model_p, x) for x in xs]); ``fn=None``: the model's output."""
    params, static = eqx.partition(model, trainable(model))
    fn = (lambda m, x: m(x)) if fn is None else fn
    return params, lambda p, xs: jax.vmap(lambda x: fn(eqx.combine(p, static), x))(xs)


@eqx.filter_jit
def _vjp_chunk(fn, model, xs, v):
    params, f = _outputs(fn, model)
    return jax.vjp(lambda p: f(p, xs), params)[1](v)[0]


@eqx.filter_jit
def _jvp_chunk(fn, model, xs, w):
    params, f = _outputs(fn, model)
    return jax.jvp(lambda p: f(p, xs), (params,), (w,))[1]


def tangent_maps(fn: Callable, model: Any, xs: Any) -> tuple[Array, Callable, Callable]:
    """(θ₀, w ↦ J w, v ↦ Jᵀ v) with J_(a,m),I = ∂fn(model, x_a)_m/∂θ_I over the flattened
    trainable parameters θ (the tangent features of the linearised model; Θ = J Jᵀ)."""
    params, f = _outputs(fn, model)
    flat, unravel = ravel_pytree(params)
    out = lambda t: f(unravel(t), xs)
    return flat, lambda w: jax.jvp(out, (flat,), (w,))[1], lambda v: jax.vjp(out, flat)[1](v)[0]


_KVP: dict = {}


def _kvp_chunk(fn, model, xs, v, budget) -> int:
    n = n_points(xs)
    if _traced(xs, v, model, fn):
        return n
    shapes = [(a.shape, a.dtype) for a in jax.tree.leaves((fn, model, xs, v)) if eqx.is_array(a)]
    key = (jax.tree.structure((fn, model, xs)), tuple(shapes), budget)
    if key not in _KVP:
        per = lambda xb, vb: _vjp_chunk(fn, model, xb, vb)
        _KVP[key] = budget_chunk(per, xs, v, budget=budget, max_chunk=n)
    return _KVP[key]


def kernel_vector_product(
    model: Any,
    xs: Any,
    v: Array,
    *,
    x_eval: Any | None = None,
    chunk_size: int | None = None,
    fn: Callable | None = None,
    budget: int | None = None,
) -> Array:
    """(Θ v)(x) = Σ_{x'∈xs} Θ_ijkl(x, x') v_kl(x') for x in ``x_eval`` (default ``xs``),
    computed as J(x) (J(xs)ᵀ v), one vjp and one jvp per chunk, never forming Θ. ``v`` has the
    output shape of ``fn(model, x)`` (default ``model(x)``) per point. ``chunk_size=None``:
    chunks from the memory budget (:func:`ntkflow.memory.chunk_size`), cached per shapes."""
    where = "kernel_vector_product"
    xs = _check_points(xs, "xs", where)
    v = jnp.asarray(v)
    if v.shape[0] != n_points(xs):
        raise ValueError(f"{where}: v has {v.shape[0]} points but xs has {n_points(xs)}")
    x_eval = xs if x_eval is None else _check_points(x_eval, "x_eval", where)
    if _dims(x_eval) != _dims(xs):
        raise ValueError(f"{where}: x_eval and xs have points of different dimension")
    size = chunk_size or _kvp_chunk(fn, model, xs, v, budget)
    w = None
    for (xb, k), (vb, _) in zip(_chunks(xs, size), _chunks(v, size), strict=True):
        wb = _vjp_chunk(fn, model, xb, vb.at[k:].set(0))  # padded points carry zero weight
        w = wb if w is None else jax.tree.map(jnp.add, w, wb)
    outs = [_jvp_chunk(fn, model, blk, w)[:k] for blk, k in _chunks(x_eval, size)]
    return jnp.concatenate(outs, axis=0)
