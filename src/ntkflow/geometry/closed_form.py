"""Closed-form metrics as equinox modules (callables ``x -> g(x)``).

The dimension is read from the point ``x`` unless the metric fixes it. Round sphere and
Poincaré ball: Petersen, *Riemannian Geometry*, §1.4; warped products: O'Neill, ch. 7.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .metric import Metric, MetricError


class Flat(eqx.Module):
    """A constant metric ``g_ij = G_ij`` (flat, Riemann = 0)."""

    matrix: Float[Array, "n n"]

    @classmethod
    def identity(cls, n: int) -> Flat:
        """The Euclidean metric δ_ij on ℝⁿ (or the square torus)."""
        return cls(jnp.eye(n))

    def __call__(self, x: Float[Array, " n"]) -> Float[Array, "n n"]:
        return self.matrix + 0.0 * jnp.sum(x)


class _Ball(eqx.Module):
    """g = 4 r⁴ / (r² + κ|x|²)² δ with κ = ±1 (``_sign``)."""

    radius: float | Array = 1.0
    _sign = 1.0

    def __call__(self, x: Float[Array, " n"]) -> Float[Array, "n n"]:
        r2 = jnp.asarray(self.radius) ** 2
        return (4 * r2**2 / (r2 + self._sign * (x @ x)) ** 2) * jnp.eye(x.shape[0], dtype=x.dtype)


class RoundSphere(_Ball):
    """Round n-sphere of radius ``r`` in stereographic coordinates from a pole:
    ``g = 4 r⁴ / (r² + |x|²)² δ`` (Ric = (n−1)/r² g, R = n(n−1)/r²)."""


class Hyperbolic(_Ball):
    """Hyperbolic space in the Poincaré ball ``|x| < r``: ``g = 4 r⁴ / (r² − |x|²)² δ``
    (sectional curvature −1/r², R = −n(n−1)/r²; r = 1 is the standard ball)."""

    _sign = -1.0


class Conformal(eqx.Module):
    """Conformal metric ``g = e^{2u(x)} g_base(x)``; ``base=None`` means δ."""

    u: Callable[[Array], Array]
    base: Metric | None = None

    def __call__(self, x: Float[Array, " n"]) -> Float[Array, "n n"]:
        g0 = jnp.eye(x.shape[0], dtype=x.dtype) if self.base is None else self.base(x)
        return jnp.exp(2 * self.u(x)) * g0


def _split(x: Array, n1: int, what: str) -> tuple[Array, Array]:
    if x.ndim != 1 or not 0 < n1 < x.shape[0]:
        raise MetricError(
            f"{what}: point of shape {x.shape} cannot be split after {n1} coordinates; "
            f"expected one point with more than {n1} coordinates"
        )
    return x[:n1], x[n1:]


class Product(eqx.Module):
    """Riemannian product ``g = g1(x[:n1]) ⊕ g2(x[n1:])`` (block diagonal)."""

    first: Metric
    second: Metric
    n1: int = eqx.field(static=True)

    def __call__(self, x: Float[Array, " n"]) -> Float[Array, "n n"]:
        a, b = _split(x, self.n1, "Product")
        return jax.scipy.linalg.block_diag(self.first(a), self.second(b))


class WarpedProduct(eqx.Module):
    """Warped product ``B ×_f F``: ``g = g_B(b) ⊕ f(b)² g_F(y)`` with ``b = x[:n_base]``,
    ``y = x[n_base:]`` and ``f > 0`` a function on the base (O'Neill, *Semi-Riemannian
    Geometry*, Def. 7.33). Example: ``dr² + sin(r)² g_{S^{n−1}}`` is the round sphere."""

    base: Metric
    fibre: Metric
    warp: Callable[[Array], Array]
    n_base: int = eqx.field(static=True)

    def __call__(self, x: Float[Array, " n"]) -> Float[Array, "n n"]:
        b, y = _split(x, self.n_base, "WarpedProduct")
        return jax.scipy.linalg.block_diag(self.base(b), self.warp(b) ** 2 * self.fibre(y))


class Pullback(eqx.Module):
    """Pull-back ``(φ*g)(x) = J(x)ᵀ g(φ(x)) J(x)``, ``J = ∂φ/∂x``, of a metric by a smooth map
    (a coordinate change when φ is a diffeomorphism)."""

    metric: Metric
    chart: Callable[[Array], Array]

    def __call__(self, x: Float[Array, " n"]) -> Float[Array, "n n"]:
        jac = jax.jacfwd(self.chart)(x)
        return jac.T @ self.metric(self.chart(x)) @ jac
