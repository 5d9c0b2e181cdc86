"""Kähler metric of a potential in real coordinates x = [Re z | Im z] (anchors.md conventions).

With ∂_i = (∂_{x_i} − i ∂_{y_i})/2 and ∂̄_j = (∂_{x_j} + i ∂_{y_j})/2 (Wirtinger derivatives),

    g_{i j̄} = ∂_i ∂̄_j K = ¼ [ K_{x_i x_j} + K_{y_i y_j} + i (K_{x_i y_j} − K_{y_i x_j}) ],

a Hermitian n×n matrix (Griffiths–Harris, ch. 0.7).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
from jaxtyping import Array, Complex, Float


def kahler_metric_parts(
    potential: Callable, x: Float[Array, " 2n"]
) -> tuple[Float[Array, "n n"], Float[Array, "n n"]]:
    """(Re g, Im g) of g_{i j̄} = ∂_i ∂̄_j K at one point x = [Re z | Im z]."""
    if x.ndim != 1 or x.shape[0] % 2:
        raise ValueError(f"kahler_metric: expected x = [Re z | Im z] of even length, got {x.shape}")
    n = x.shape[0] // 2
    h = jax.hessian(potential)(x)
    hxx, hxy, hyx, hyy = h[:n, :n], h[:n, n:], h[n:, :n], h[n:, n:]
    return 0.25 * (hxx + hyy), 0.25 * (hxy - hyx)


def kahler_metric(potential: Callable, x: Float[Array, " 2n"]) -> Complex[Array, "n n"]:
    """g_{i j̄} = ∂_i ∂̄_j K (complex Hermitian) at one point x = [Re z | Im z]."""
    re, im = kahler_metric_parts(potential, x)
    return re + 1j * im
