"""Loss functionals ``L[g] = Σ_a w_a l[g](x_a)`` on weighted points (paper §2, eqs. 1.1/1.2) and
their functional derivatives ``δl/δg`` (Perelman's F in closed form: :func:`perelman_gradient`).
Derivation: docs/derivations.md#flows-losses."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..geometry import christoffel, ricci_scalar, ricci_tensor
from ..geometry.curvature import metric_jet

Field = Callable[[Float[Array, " n"]], Float[Array, ""]]


class LossError(ValueError):
    """Raised for malformed loss input (shapes, weights, NaN)."""


def taylor_metric(x0: Array, g: Array, dg: Array, d2g: Array) -> Callable:
    """The quadratic Taylor polynomial of a metric around ``x0`` from its 2-jet: its curvature
    at ``x0`` is that of any metric with that jet."""

    def g_poly(y):
        h = y - x0
        return g + jnp.einsum("ijk,k->ij", dg, h) + 0.5 * jnp.einsum("ijkm,k,m->ij", d2g, h, h)

    return g_poly


class Loss(eqx.Module):
    """A local loss density ``l(x, g, ∂g, ∂²g)``; subclasses set ``order`` (0: ``g`` only, or 2)."""

    def density(self, x: Array, g: Array, dg: Array, d2g: Array) -> Float[Array, ""]:
        raise NotImplementedError


class MetricRegression(Loss):
    """Mean-squared error to a target metric: ``l(x) = ½ Σ_ij (g_ij(x) − g*_ij(x))²``."""

    target: Callable
    order: ClassVar[int] = 0

    def density(self, x, g, dg=None, d2g=None):
        return 0.5 * jnp.sum((g - self.target(x)) ** 2)


class UserLoss(Loss):
    """A user loss: ``fn(x, g)`` (``order=0``) or ``fn(x, g, dg, d2g)`` (``order=2``)."""

    fn: Callable
    order: int = eqx.field(static=True, default=0)

    def density(self, x, g, dg=None, d2g=None):
        return self.fn(x, g) if self.order == 0 else self.fn(x, g, dg, d2g)


class EinsteinLoss(Loss):
    """Einstein loss ``l = |Ric − λ g|²_g = g^{ik} g^{jl} E_ij E_kl``, ``E = Ric − λ g``
    (λ = 0: Ricci-flatness), optionally times the volume density ``√det g``."""

    lam: float = 0.0
    volume_weighted: bool = eqx.field(static=True, default=False)
    order: ClassVar[int] = 2

    def density(self, x, g, dg, d2g):
        m = taylor_metric(x, g, dg, d2g)
        e = ricci_tensor(m, x) - self.lam * g
        gi = jnp.linalg.inv(g)
        val = jnp.einsum("ik,jl,ij,kl->", gi, gi, e, e)
        return val * jnp.sqrt(jnp.linalg.det(g)) if self.volume_weighted else val


def _dilaton_fixed_measure(g_fn: Callable, measure: Field) -> Field:
    """φ(x) = log(√det g(x) / m(x)): the dilaton that keeps ``e^{−φ} dV = m dⁿx`` fixed."""
    return lambda y: 0.5 * jnp.linalg.slogdet(g_fn(y))[1] - jnp.log(measure(y))


class PerelmanLoss(Loss):
    """Minus Perelman's F density: ``l = −(R + |∇φ|²_g) e^{−φ} √det g`` (paper §3), so that
    ``L = −F = −∫ (R + |∇φ|²) e^{−φ} dV``. Give exactly one of ``dilaton`` (x ↦ φ, held fixed)
    or ``measure`` (x ↦ m(x), φ = log(√det g / m): ``e^{−φ} dV = m dⁿx`` fixed)."""

    dilaton: Field | None = None
    measure: Field | None = None
    order: ClassVar[int] = 2

    def __check_init__(self):
        if (self.dilaton is None) == (self.measure is None):
            raise LossError("PerelmanLoss: give exactly one of dilaton= or measure=")

    def phi(self, g_fn: Callable) -> Field:
        return self.dilaton if self.measure is None else _dilaton_fixed_measure(g_fn, self.measure)

    def density(self, x, g, dg, d2g):
        m = taylor_metric(x, g, dg, d2g)
        phi = self.phi(m)
        dphi = jax.grad(phi)(x)
        gi = jnp.linalg.inv(g)
        r = ricci_scalar(m, x)
        return -(r + dphi @ gi @ dphi) * jnp.exp(-phi(x)) * jnp.sqrt(jnp.linalg.det(g))


def perelman_gradient(
    metric: Callable, x: Float[Array, " n"], measure: Field
) -> Float[Array, "n n"]:
    """The covariant Perelman gradient ``E_ij = R_ij + ∇_i∇_j φ``, φ = log(√det g / m): with the
    measure m fixed, ``δF/δg_ij = −(R^ij + ∇^i∇^j φ) m`` (Perelman 2002, §1; paper §3), i.e.
    ``E_ij = −g_ik g_jl (δF/δg_kl) / m``; Perelman's flow is ``∂_t g = −2E``."""
    phi = _dilaton_fixed_measure(metric, measure)
    gam_dphi = jnp.einsum("kij,k->ij", christoffel(metric, x), jax.grad(phi)(x))
    return ricci_tensor(metric, x) + jax.hessian(phi)(x) - gam_dphi


def _check_points(xs: Array, weights: Array, where: str) -> None:
    if xs.ndim != 2:
        raise LossError(f"{where}: points must have shape (N, d), got {xs.shape}")
    if weights.shape != (xs.shape[0],):
        raise LossError(
            f"{where}: weights must have shape ({xs.shape[0]},) to match the points, "
            f"got {weights.shape}"
        )


@eqx.filter_jit
def jets_at(metric: Callable, xs: Array, order: int) -> tuple[Array, Array | None, Array | None]:
    """Values (order 0) or 2-jets (order 2) of ``metric`` at every point of ``xs``."""
    if order == 0:
        return jax.vmap(metric)(xs), None, None
    return jax.vmap(lambda x: metric_jet(metric, x))(xs)


def _densities(loss: Loss, xs, g, dg=None, d2g=None) -> Float[Array, " N"]:
    if loss.order == 0:
        return jax.vmap(lambda x, ga: loss.density(x, ga, None, None))(xs, g)
    return jax.vmap(loss.density)(xs, g, dg, d2g)


def loss_from_jets(loss: Loss, xs, weights, g, dg=None, d2g=None) -> Float[Array, ""]:
    """``L = Σ_a w_a l(x_a, g_a, ∂g_a, ∂²g_a)`` from precomputed values/jets."""
    return jnp.sum(weights * _densities(loss, xs, g, dg, d2g))


@eqx.filter_jit
def weighted_loss(loss: Loss, metric: Callable, xs, weights) -> Float[Array, ""]:
    """``L[g] = Σ_a w_a l[g](x_a)`` for a metric callable (unchecked, jitted)."""
    return loss_from_jets(loss, xs, weights, *jets_at(metric, xs, loss.order))


def total_loss(loss: Loss, metric: Callable, xs: Array, weights: Array) -> Float[Array, ""]:
    """``L[g] = Σ_a w_a l[g](x_a)`` for a metric callable."""
    xs, weights = jnp.asarray(xs), jnp.asarray(weights)
    _check_points(xs, weights, "total_loss")
    return weighted_loss(loss, metric, xs, weights)


@eqx.filter_jit
def _densities_and_gradient(loss, xs, weights, g, dg, d2g):
    jets = (g,) if loss.order == 0 else (g, dg, d2g)
    grads = jax.grad(lambda j: loss_from_jets(loss, xs, weights, *j))(jets)
    return _densities(loss, xs, *jets), grads[0] if loss.order == 0 else grads


def functional_derivative(
    loss: Loss,
    g_values: Float[Array, "N n n"],
    xs: Float[Array, "N d"],
    weights: Float[Array, " N"],
    dg: Array | None = None,
    d2g: Array | None = None,
):
    """``δL/δg`` at the points by autodiff in the metric values: ``∂L/∂g_kl(x_a)`` (N, n, n)
    for order 0, ``(∂L/∂g_a, ∂L/∂(∂g)_a, ∂L/∂(∂²g)_a)`` for order 2 (``dg``, ``d2g`` required),
    weights included. :class:`LossError` if the density or its derivative is not finite."""
    xs, weights, g_values = jnp.asarray(xs), jnp.asarray(weights), jnp.asarray(g_values)
    _check_points(xs, weights, "functional_derivative")
    if g_values.shape[0] != xs.shape[0] or g_values.ndim != 3:
        raise LossError(
            f"functional_derivative: metric values must have shape (N, n, n) with "
            f"N = {xs.shape[0]}, got {g_values.shape}"
        )
    if loss.order != 0 and (dg is None or d2g is None):
        raise LossError("functional_derivative: a curvature loss needs dg and d2g (jets)")
    dens, out = _densities_and_gradient(loss, xs, weights, g_values, dg, d2g)
    leaves = [dens[:, None], *(out if loss.order else [out])]
    bad = [~jnp.all(jnp.isfinite(leaf), axis=tuple(range(1, leaf.ndim))) for leaf in leaves]
    bad_any = jnp.any(jnp.stack(bad), axis=0)
    if not isinstance(bad_any, jax.core.Tracer) and bool(jnp.any(bad_any)):
        i = int(jnp.argmax(bad_any))
        raise LossError(
            f"functional_derivative: the loss or δl/δg is NaN or inf at point {i} "
            f"(x = {xs[i].tolist()})"
        )
    return out
