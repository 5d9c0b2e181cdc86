"""Two blocks of the empirical NTK Θ_mn(x, x') = Σ_I ∂f_m(x)/∂θ_I ∂f_n(x')/∂θ_I (paper eq. 1.3)
for ``f = fn(model, x)`` of shape (m,), over the parameters selected by ``mask``:

- :func:`jacobian_block`: explicit per-point Jacobians ∂f/∂θ, contracted leaf by leaf;
- :func:`matrix_free_block`: J(x) (J(x')ᵀ e_n) by one vjp and vmapped jvps (neural-tangents'
  "NTK-vector products", Novak et al. 2022 §3).

Points are pytrees batched along axis 0 (an array (N, d), or e.g. a tuple (z, J) of a variety
point and its embedding Jacobian); ``x2=None`` means x2 = x1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array


def n_points(x: Any) -> int:
    """The batch size of a pytree of points (leading axis of its leaves)."""
    return jax.tree.leaves(x)[0].shape[0]


def jacobian_block(
    fn: Callable, model: Any, mask: Any, x1: Any, x2: Any | None, fn2: Callable | None = None
) -> Array:
    """Θ_mn(x, x') = Σ_I ∂f_m(x)/∂θ_I ∂f'_n(x')/∂θ_I by explicit Jacobians (N1, N2, m, m'),
    with f' = ``fn2`` (default f) for the mixed kernels of two outputs."""
    params, static = eqx.partition(model, mask)

    def jac(xs, f):
        def one(x):
            return jax.jacrev(lambda p: f(eqx.combine(p, static), x))(params)

        return jax.vmap(one)(xs)

    j1 = jac(x1, fn)
    j2 = j1 if x2 is None and fn2 is None else jac(x1 if x2 is None else x2, fn2 or fn)
    terms = [
        jnp.einsum(
            "amp,bnp->abmn",
            a.reshape(a.shape[0], a.shape[1], -1),
            b.reshape(b.shape[0], b.shape[1], -1),
        )
        for a, b in zip(jax.tree_util.tree_leaves(j1), jax.tree_util.tree_leaves(j2), strict=True)
    ]
    return sum(terms[1:], terms[0])


def matrix_free_block(
    fn: Callable, model: Any, mask: Any, x1: Any, x2: Any | None, fn2: Callable | None = None
) -> Array:
    """Θ by products: v_(b,n) = J'(x2)ᵀ e_(b,n) (vjp), then J(x1) v (jvp), (N1, N2, m, m')."""
    params, static = eqx.partition(model, mask)
    x2 = x1 if x2 is None else x2

    def f_batch(f, p, xs):
        return jax.vmap(lambda x: f(eqx.combine(p, static), x))(xs)

    out2, vjp2 = jax.vjp(lambda p: f_batch(fn2 or fn, p, x2), params)
    n2, m2 = out2.shape
    basis = jnp.eye(n2 * m2, dtype=out2.dtype).reshape(n2 * m2, n2, m2)
    (vs,) = jax.vmap(vjp2)(basis)

    def jvp1(v):
        return jax.jvp(lambda p: f_batch(fn, p, x1), (params,), (v,))[1]

    out = jax.vmap(jvp1)(vs)  # (n2*m2, N1, m)
    return out.reshape(n2, m2, n_points(x1), -1).transpose(2, 0, 3, 1)
