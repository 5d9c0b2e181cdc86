"""Finite-width metric flow: gradient descent on the parameters θ of a network metric.

Gradient flow ``dθ_I/dt = −∂L/∂θ_I`` moves the metric by (paper §2, eqs. 1.2/1.3)

    dg_ij(x)/dt = −Σ_a Θ_ijkl(x, x_a) ∂L/∂g_kl(x_a),   Θ_ijkl(x,x') = ∂g_ij(x)/∂θ_I ∂g_kl(x')/∂θ_I.

:func:`parameter_flow` trains any metric module (an ``equinox.Module`` mapping x ↦ g) with an
optax optimiser (SGD, Adam or L-BFGS) and records the empirical metric-NTK at a cadence on a
fixed set of probe points: relative change ``‖Θ_t − Θ_0‖_F / ‖Θ_0‖_F`` and spectrum.
:func:`flow_check` verifies eq. 1.2 against one small SGD step: the predicted change
``Δg = −η Σ_a Θ(x, x_a) ∂L/∂g(x_a)`` agrees with the actual change to first order in η (the
residual is O(η²)).

For curvature losses (order 2) the sum in eq. 1.2 runs over the 2-jet: ``∂L/∂g(x_a)`` is
replaced by the jet gradients of :func:`~ntkflow.flows.losses.functional_derivative` and Θ by
the kernel between ``g(x)`` and the jet ``(g, ∂g, ∂²g)(x_a)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float

from ..kernels import StructureError, metric_ntk
from ..kernels import empirical_ntk as empirical_ntk_of
from ..nets.trainable import trainable
from .losses import Loss, functional_derivative, jets_at, loss_from_jets, metric_jet
from .optimise import make_optimiser, make_step


class ParameterFlowError(RuntimeError):
    """Raised when training produces a non-finite loss or parameters; ``last_good`` holds the
    last finite model."""

    def __init__(self, message: str, last_good=None):
        super().__init__(message)
        self.last_good = last_good


def _flat_model(model):
    params, static = eqx.partition(model, trainable(model))
    flat, unravel = ravel_pytree(params)
    return flat, lambda f: eqx.combine(unravel(f), static)


def empirical_ntk(model, xs: Float[Array, "N d"]) -> Float[Array, "N N n n n n"]:
    """Empirical metric-NTK Θ_ijkl(x_a, x_b) (eq. 1.3) by :func:`ntkflow.kernels.metric_ntk`:
    the structured strategy, or Jacobians for modules it cannot read."""
    try:
        return metric_ntk(model, xs)
    except StructureError:
        return metric_ntk(model, xs, strategy="jacobian")


def ntk_matrix(theta: Array) -> Array:
    """Reshape ``(N, N, n, n, n, n)`` to the symmetric matrix ``(N n², N n²)``."""
    nn, n = theta.shape[0], theta.shape[2]
    return jnp.transpose(theta, (0, 2, 3, 1, 4, 5)).reshape(nn * n * n, nn * n * n)


def loss_fn(loss: Loss, model, xs, weights):
    """``L(θ) = Σ_a w_a l[g_θ](x_a)``."""
    return loss_from_jets(loss, xs, weights, *jets_at(model, xs, loss.order))


@dataclass
class ParameterFlowResult:
    model: object
    losses: np.ndarray
    ntk_steps: list[int] = field(default_factory=list)
    ntk_changes: list[float] = field(default_factory=list)
    spectra: list[np.ndarray] = field(default_factory=list)


def parameter_flow(
    model,
    loss: Loss,
    xs: Float[Array, "N d"],
    weights: Float[Array, " N"],
    steps: int,
    optimiser: str | optax.GradientTransformation = "sgd",
    lr: float = 1e-2,
    ntk_every: int | None = None,
    ntk_points: Array | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> ParameterFlowResult:
    """Train ``model`` for ``steps`` optimiser steps on ``L = Σ_a w_a l(x_a)``.

    Every ``ntk_every`` steps (and at the start and end) the empirical metric-NTK on
    ``ntk_points`` (default: the first ≤ 16 training points) is recorded: relative change
    ``‖Θ_t − Θ_0‖_F / ‖Θ_0‖_F`` and eigenvalues. Raises :class:`ParameterFlowError` on a
    non-finite loss (the last finite model is attached).
    """
    xs, weights = jnp.asarray(xs), jnp.asarray(weights)
    opt = make_optimiser(optimiser, lr)
    params, static = eqx.partition(model, trainable(model))

    def value(p):
        return loss_fn(loss, eqx.combine(p, static), xs, weights)

    lbfgs = isinstance(optimiser, str) and optimiser == "lbfgs"
    step = jax.jit(make_step(value, opt, lbfgs=lbfgs))

    probe = xs[: min(16, xs.shape[0])] if ntk_points is None else jnp.asarray(ntk_points)
    res = ParameterFlowResult(model, np.zeros(0))

    def record(i, p):
        th = ntk_matrix(empirical_ntk(eqx.combine(p, static), probe))
        if not res.spectra:
            record.theta0 = th
        th0 = record.theta0
        res.ntk_steps.append(i)
        res.ntk_changes.append(float(jnp.linalg.norm(th - th0) / jnp.linalg.norm(th0)))
        res.spectra.append(np.asarray(jnp.linalg.eigvalsh(0.5 * (th + th.T))))

    state = opt.init(params)
    losses = []
    if ntk_every:
        record(0, params)
    for i in range(steps):
        new, state, val = step(params, state)
        val = float(val)
        if not np.isfinite(val) or not all(
            bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree_util.tree_leaves(new)
        ):
            raise ParameterFlowError(
                f"parameter_flow: loss or parameters became NaN/inf at step {i} (loss {val})",
                last_good=eqx.combine(params, static),
            )
        losses.append(val)
        params = new
        if ntk_every and ((i + 1) % ntk_every == 0 or i + 1 == steps):
            record(i + 1, params)
        if callback is not None:
            callback(i, val)
    losses.append(float(value(params)))
    res.model = eqx.combine(params, static)
    res.losses = np.asarray(losses)
    return res


def predicted_change(model, loss: Loss, xs, weights, eval_xs, eta: float) -> Array:
    """Eq. 1.2 times a step η: ``Δg(x) = −η Σ_a Θ(x, x_a) · δL/δg(x_a)`` at ``eval_xs``.

    Order-0 losses use the empirical metric-NTK and ``∂L/∂g``; order-2 losses contract the
    kernel between ``g(x)`` and the 2-jet at ``x_a`` with the jet gradients.
    """
    xs, weights, eval_xs = jnp.asarray(xs), jnp.asarray(weights), jnp.asarray(eval_xs)
    if loss.order == 0:
        dl = functional_derivative(loss, jax.vmap(model)(xs), xs, weights)
        theta = metric_ntk(model, eval_xs, xs, strategy="jacobian")
        return -eta * jnp.einsum("maijkl,akl->mij", theta, dl)
    g, dg, d2g = jets_at(model, xs, 2)
    coefs = functional_derivative(loss, g, xs, weights, dg, d2g)
    n = g.shape[-1]

    def g_and_jet(m, x):  # [g(x), (g, ∂g, ∂²g)(x)] flattened: Θ pairs g(x_m) with the jet
        return jnp.concatenate([m(x).ravel()] + [j.ravel() for j in metric_jet(m, x)])

    theta = empirical_ntk_of(g_and_jet, model, eval_xs, xs)[:, :, : n * n, n * n :]
    flat = jnp.concatenate([c.reshape(c.shape[0], -1) for c in coefs], axis=1)
    out = jnp.einsum("mapq,aq->mp", theta, flat)
    return -eta * out.reshape(eval_xs.shape[0], n, n)


def flow_check(model, loss: Loss, xs, weights, etas, eval_xs=None) -> dict[str, list[float]]:
    """Compare eq. 1.2's prediction with the actual change of g after one SGD step
    ``θ → θ − η ∂L/∂θ`` for each η. Returns ``etas``, relative residuals
    ``‖Δg_actual − Δg_pred‖ / ‖Δg_pred‖`` and absolute residuals (O(η²) if eq. 1.2 holds)."""
    xs, weights = jnp.asarray(xs), jnp.asarray(weights)
    eval_xs = xs if eval_xs is None else jnp.asarray(eval_xs)
    flat, rebuild = _flat_model(model)
    grad = jax.grad(lambda f: loss_fn(loss, rebuild(f), xs, weights))(flat)
    g0 = jax.vmap(model)(eval_xs)
    base = predicted_change(model, loss, xs, weights, eval_xs, 1.0)
    rel, absr = [], []
    for eta in etas:
        actual = jax.vmap(rebuild(flat - eta * grad))(eval_xs) - g0
        pred = eta * base
        r = float(jnp.linalg.norm(actual - pred))
        absr.append(r)
        rel.append(r / float(jnp.linalg.norm(pred)))
    return {"etas": [float(e) for e in etas], "relative_residuals": rel, "residuals": absr}
