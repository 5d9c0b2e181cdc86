"""Blocks of the empirical NTK (paper eq. 1.3): Jacobian, matrix-free and structured (Novak et
al. 2022, arXiv 2206.08720, §3): per dense layer (Δ(x) Δ(x')ᵀ)_mn · (s_W² a(x)·a(x') + s_b²).
Derivation: docs/derivations.md#kernels-structured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ..nets.dense import Dense


def n_points(x: Any) -> int:
    """The batch size of a pytree of points (leading axis of its leaves)."""
    return jax.tree.leaves(x)[0].shape[0]


def jacobian_block(
    fn: Callable, model: Any, mask: Any, x1: Any, x2: Any | None, fn2: Callable | None = None
) -> Array:
    """Θ_mn(x, x') = Σ_I ∂f_m(x)/∂θ_I ∂f'_n(x')/∂θ_I by explicit Jacobians (N1, N2, m, m'),
    with f' = ``fn2`` (default f) for the mixed kernels of two outputs."""
    params, static = eqx.partition(model, mask)

    def jac(xs, f):  # the leaves of ∂f/∂θ, each flattened to (N, m, leaf size)
        j = jax.vmap(lambda x: jax.jacrev(lambda p: f(eqx.combine(p, static), x))(params))(xs)
        return [a.reshape(a.shape[0], a.shape[1], -1) for a in jax.tree.leaves(j)]

    j1 = jac(x1, fn)
    j2 = j1 if x2 is None and fn2 is None else jac(x1 if x2 is None else x2, fn2 or fn)
    return sum(jnp.einsum("amp,bnp->abmn", a, b) for a, b in zip(j1, j2, strict=True))


def matrix_free_block(
    fn: Callable, model: Any, mask: Any, x1: Any, x2: Any | None, fn2: Callable | None = None
) -> Array:
    """Θ by products: v_(b,n) = J'(x2)ᵀ e_(b,n) (vjp), then J(x1) v (jvp), (N1, N2, m, m')."""
    params, static = eqx.partition(model, mask)
    x2 = x1 if x2 is None else x2

    f_batch = lambda f, p, xs: jax.vmap(lambda x: f(eqx.combine(p, static), x))(xs)
    out2, vjp2 = jax.vjp(lambda p: f_batch(fn2 or fn, p, x2), params)
    n2, m2 = out2.shape
    (vs,) = jax.vmap(vjp2)(jnp.eye(n2 * m2, dtype=out2.dtype).reshape(n2 * m2, n2, m2))
    jvp1 = lambda v: jax.jvp(lambda p: f_batch(fn, p, x1), (params,), (v,))[1]
    out = jax.vmap(jvp1)(vs)  # (n2*m2, N1, m)
    return out.reshape(n2, m2, n_points(x1), -1).transpose(2, 0, 3, 1)


class StructureError(ValueError):
    """The model cannot use the structured strategy (e.g. a dense layer called twice)."""


def _is_dense(node: Any) -> bool:
    return isinstance(node, Dense)


class _ProbedDense(eqx.Module):
    layer: Dense
    eps: Array
    record: Callable

    def __call__(self, a):
        self.record(a)
        return self.layer(a) + self.eps


def dense_layers(model: Any, mask: Any) -> tuple[list[Dense], list[tuple[bool, bool]], Any]:
    """The dense layers of ``model`` (tree order), whether their (W, b) train, and the mask of
    the trainable arrays that lie outside dense layers."""
    leaves = jax.tree_util.tree_leaves(model, is_leaf=_is_dense)
    mleaves, mdef = jax.tree_util.tree_flatten(mask, is_leaf=_is_dense)
    layers, flags, rest = [], [], []
    for leaf, m in zip(leaves, mleaves, strict=True):
        rest.append(jax.tree.map(lambda _: False, m) if _is_dense(leaf) else m)
        if _is_dense(leaf):
            layers.append(leaf)
            flags.append((bool(m.weight), leaf.bias is not None and bool(m.bias)))
    return layers, flags, jax.tree_util.tree_unflatten(mdef, rest)


def _probed(model: Any, eps: list[Array], records: list[list]) -> Any:
    probes = iter(zip(eps, [rec.append for rec in records], strict=True))
    wrap = lambda leaf: _ProbedDense(leaf, *next(probes)) if _is_dense(leaf) else leaf
    return jax.tree.map(wrap, model, is_leaf=_is_dense)


def layer_features(
    fn: Callable, model: Any, layers: list[Dense], xs: Array
) -> tuple[list[Array], list[Array]]:
    """Back-propagated vectors Δ_l (N, m, out_l) and layer inputs a_l (N, in_l) of each
    dense layer, for the outputs ``fn(model, x)`` of shape (m,)."""
    eps0 = [jnp.zeros((layer.out_size,), layer.weight.dtype) for layer in layers]

    def f(eps, x):  # (outputs, layer inputs) of the model with probes ε
        records = [[] for _ in layers]
        out = fn(_probed(model, eps, records), x)
        for k, rec in enumerate(records):
            if len(rec) != 1:
                raise StructureError(
                    f"structured strategy: dense layer {k} was called {len(rec)} times "
                    "(weight sharing); use strategy='jacobian' or 'matrix_free'"
                )
        return out, [rec[0] for rec in records]

    return jax.vmap(lambda x: jax.jacrev(f, has_aux=True)(eps0, x))(xs)


def structured_block(fn: Callable, model: Any, mask: Any, x1: Array, x2: Array | None) -> Array:
    """Θ_mn(x, x') for x in ``x1``, x' in ``x2`` (``None``: x2 = x1), shape (N1, N2, m, m)."""
    layers, flags, rest_mask = dense_layers(model, mask)
    d1, a1 = layer_features(fn, model, layers, x1) if layers else ([], [])
    d2, a2 = (d1, a1) if x2 is None or not layers else layer_features(fn, model, layers, x2)
    terms = []
    for layer, (tw, tb), da, db, aa, ab in zip(layers, flags, d1, d2, a1, a2, strict=True):
        if tw or tb:
            w = (layer.weight_scale**2 * (aa @ ab.T) if tw else 0.0) + (
                layer.bias_scale**2 if tb else 0.0
            )
            terms.append(jnp.einsum("amo,bno->abmn", da, db) * jnp.asarray(w)[..., None, None])
    if any(jax.tree.leaves(rest_mask)):
        terms.append(jacobian_block(fn, model, rest_mask, x1, x2))
    if terms:
        return sum(terms[1:], terms[0])
    out = jax.eval_shape(lambda x: fn(model, x), jax.tree.map(lambda a: a[0], x1))
    n2 = n_points(x1 if x2 is None else x2)
    return jnp.zeros((n_points(x1), n2, out.shape[0], out.shape[0]), out.dtype)
