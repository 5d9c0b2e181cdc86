"""Kähler metric of a potential in real coordinates x = [Re z | Im z] (anchors.md conventions).

With ∂_i = (∂_{x_i} − i ∂_{y_i})/2 and ∂̄_j = (∂_{x_j} + i ∂_{y_j})/2 (Wirtinger derivatives),

    g_{i j̄} = ∂_i ∂̄_j K = ¼ [ K_{x_i x_j} + K_{y_i y_j} + i (K_{x_i y_j} − K_{y_i x_j}) ],

a Hermitian n×n matrix (Griffiths–Harris, ch. 0.7): :func:`ntkflow.geometry.kahler.complex_hessian`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jaxtyping import Array, Complex, Float

from ntkflow.geometry.kahler import complex_hessian


def kahler_metric(potential: Callable, x: Float[Array, " 2n"]) -> Complex[Array, "n n"]:
    """g_{i j̄} = ∂_i ∂̄_j K (complex Hermitian) at one point x = [Re z | Im z]."""
    if x.ndim != 1 or x.shape[0] % 2:
        raise ValueError(f"kahler_metric: expected x = [Re z | Im z] of even length, got {x.shape}")
    return complex_hessian(potential, x)


def kahler_metric_parts(
    potential: Callable, x: Float[Array, " 2n"]
) -> tuple[Float[Array, "n n"], Float[Array, "n n"]]:
    """(Re g, Im g) of g_{i j̄} = ∂_i ∂̄_j K at one point x = [Re z | Im z]."""
    g = kahler_metric(potential, x)
    return jnp.real(g), jnp.imag(g)
