"""Structured derivatives of dense layers (Novak et al. 2022, arXiv 2206.08720, §3).

For a dense layer y = s_W W a + s_b b inside any model with outputs f_m(x), the chain rule
gives ∂f_m(x)/∂W_pq = s_W Δ_mp(x) a_q(x) and ∂f_m(x)/∂b_p = s_b Δ_mp(x), with Δ = ∂f/∂y the
back-propagated vector and a the layer input. The layer's share of the NTK therefore
factorises without ever forming the Jacobian:

    Σ_pq ∂f_m(x)/∂W_pq ∂f_n(x')/∂W_pq + Σ_p ∂f_m/∂b_p ∂f_n'/∂b_p
        = (Δ(x) Δ(x')ᵀ)_mn · (s_W² a(x)·a(x') + s_b²).

Δ is obtained by adding a zero "probe" ε to every dense layer's output and differentiating in
ε (one reverse pass per output component, vmapped over points); the inputs a are recorded in
the same pass. Trainable arrays outside dense layers are handled by explicit Jacobians.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ..nets.dense import Dense
from .jacobian import jacobian_block, n_points


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
        if _is_dense(leaf):
            layers.append(leaf)
            flags.append((bool(m.weight), leaf.bias is not None and bool(m.bias)))
            rest.append(jax.tree.map(lambda _: False, m))
        else:
            rest.append(m)
    return layers, flags, jax.tree_util.tree_unflatten(mdef, rest)


def _probed(model: Any, eps: list[Array], records: list[list]) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten(model, is_leaf=_is_dense)
    new, k = [], 0
    for leaf in leaves:
        if _is_dense(leaf):
            new.append(_ProbedDense(leaf, eps[k], records[k].append))
            k += 1
        else:
            new.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, new)


def layer_features(
    fn: Callable, model: Any, layers: list[Dense], xs: Array
) -> tuple[list[Array], list[Array]]:
    """Back-propagated vectors Δ_l (N, m, out_l) and layer inputs a_l (N, in_l) of each
    dense layer, for the outputs ``fn(model, x)`` of shape (m,)."""
    eps0 = [jnp.zeros((layer.out_size,), layer.weight.dtype) for layer in layers]

    def one(x):
        def f(eps):
            records = [[] for _ in layers]
            out = fn(_probed(model, eps, records), x)
            for k, rec in enumerate(records):
                if len(rec) != 1:
                    raise StructureError(
                        f"structured strategy: dense layer {k} was called {len(rec)} times "
                        "(weight sharing); use strategy='jacobian' or 'matrix_free'"
                    )
            return out, [rec[0] for rec in records]

        return jax.jacrev(f, has_aux=True)(eps0)

    return jax.vmap(one)(xs)


def structured_block(fn: Callable, model: Any, mask: Any, x1: Array, x2: Array | None) -> Array:
    """Θ_mn(x, x') for x in ``x1``, x' in ``x2`` (``None``: x2 = x1), shape (N1, N2, m, m)."""
    layers, flags, rest_mask = dense_layers(model, mask)
    d1, a1 = layer_features(fn, model, layers, x1) if layers else ([], [])
    d2, a2 = (d1, a1) if x2 is None or not layers else layer_features(fn, model, layers, x2)
    theta = None
    for layer, (tw, tb), da, db, aa, ab in zip(layers, flags, d1, d2, a1, a2, strict=True):
        if not (tw or tb):
            continue
        w = 0.0
        if tw:
            w = layer.weight_scale**2 * (aa @ ab.T)
        if tb:
            w = w + layer.bias_scale**2
        term = jnp.einsum("amo,bno->abmn", da, db) * jnp.asarray(w)[..., None, None]
        theta = term if theta is None else theta + term
    if any(jax.tree_util.tree_leaves(rest_mask)):
        term = jacobian_block(fn, model, rest_mask, x1, x2)
        theta = term if theta is None else theta + term
    if theta is None:
        n1, n2 = n_points(x1), n_points(x1 if x2 is None else x2)
        one = jax.tree.map(lambda a: a[0], x1)
        out = jax.eval_shape(lambda x: fn(model, x), one)
        theta = jnp.zeros((n1, n2, out.shape[0], out.shape[0]), out.dtype)
    return theta
