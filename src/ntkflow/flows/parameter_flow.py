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

from ..nets.trainable import trainable
from .losses import Loss, functional_derivative, jets_at, loss_from_jets, metric_jet


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


def metric_jacobian(model, xs: Float[Array, "N d"]) -> Float[Array, "N n n P"]:
    """``∂g_ij(x_a)/∂θ_I`` for all points (dense Jacobian; parameters flattened)."""
    flat, rebuild = _flat_model(model)
    return jax.vmap(lambda x: jax.jacfwd(lambda f: rebuild(f)(x))(flat))(xs)


def empirical_ntk(model, xs: Float[Array, "N d"]) -> Float[Array, "N N n n n n"]:
    """Empirical metric-NTK ``Θ_ijkl(x_a, x_b) = Σ_I ∂g_ij(x_a)/∂θ_I ∂g_kl(x_b)/∂θ_I`` (eq. 1.3).

    Uses ``ntkflow.kernels.metric_ntk`` (structured strategy, else Jacobian) when present; otherwise
    a plain Jacobian contraction. Only the trainable parameters
    (:func:`ntkflow.nets.trainable`) enter, here and in :func:`parameter_flow`.
    """
    try:
        from ..kernels import metric_ntk  # type: ignore[attr-defined]
    except ImportError:
        metric_ntk = None
    if metric_ntk is not None:
        from ..kernels import StructureError

        try:
            return metric_ntk(model, xs)  # structured strategy: fastest for ntkflow.nets
        except (StructureError, ValueError, TypeError):
            # the structured strategy needs ntkflow.nets layers; any other module: Jacobians
            return metric_ntk(model, xs, strategy="jacobian")
    jac = metric_jacobian(model, xs)
    return jnp.einsum("aijp,bklp->abijkl", jac, jac)


def ntk_matrix(theta: Array) -> Array:
    """Reshape ``(N, N, n, n, n, n)`` to the symmetric matrix ``(N n², N n²)``."""
    nn, n = theta.shape[0], theta.shape[2]
    return jnp.transpose(theta, (0, 2, 3, 1, 4, 5)).reshape(nn * n * n, nn * n * n)


def loss_fn(loss: Loss, model, xs, weights):
    """``L(θ) = Σ_a w_a l[g_θ](x_a)``."""
    return loss_from_jets(loss, xs, weights, *jets_at(model, xs, loss.order))


def make_optimizer(name: str | optax.GradientTransformation, lr: float):
    """``"sgd"`` (plain gradient descent), ``"adam"`` or ``"lbfgs"`` (optax), or a transform."""
    if not isinstance(name, str):
        return name
    if name == "sgd":
        return optax.sgd(lr)
    if name == "adam":
        return optax.adam(lr)
    if name == "lbfgs":
        return optax.lbfgs(learning_rate=lr if lr != 1.0 else None)
    raise ValueError(f"parameter_flow: unknown optimizer {name!r} (use sgd, adam or lbfgs)")


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
    optimizer: str | optax.GradientTransformation = "sgd",
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
    opt = make_optimizer(optimizer, lr)
    params, static = eqx.partition(model, trainable(model))
    lbfgs = isinstance(optimizer, str) and optimizer == "lbfgs"

    def value(p):
        return loss_fn(loss, eqx.combine(p, static), xs, weights)

    @jax.jit
    def step(p, state):
        val, grad = jax.value_and_grad(value)(p)
        if lbfgs:
            upd, state = opt.update(grad, state, p, value=val, grad=grad, value_fn=value)
        else:
            upd, state = opt.update(grad, state, p)
        return optax.apply_updates(p, upd), state, val

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
    jac_e = metric_jacobian(model, eval_xs)  # (M, n, n, P)
    if loss.order == 0:
        g = jax.vmap(model)(xs)
        dl = functional_derivative(loss, g, xs, weights)
        theta = jnp.einsum("mijp,aklp->maijkl", jac_e, metric_jacobian(model, xs))
        return -eta * jnp.einsum("maijkl,akl->mij", theta, dl)
    g, dg, d2g = jets_at(model, xs, 2)
    a, b, c = functional_derivative(loss, g, xs, weights, dg, d2g)
    flat, rebuild = _flat_model(model)
    jj = jax.vmap(lambda x: jax.jacfwd(lambda f: metric_jet(rebuild(f), x))(flat))(xs)
    out = 0.0
    for jet_jac, coef in zip(jj, (a, b, c), strict=True):
        # Θ between g(x_m) and a jet component at x_a, contracted with its gradient
        theta_c = jnp.einsum("mijp,a...p->mija...", jac_e, jet_jac)
        axes = (list(range(3, 3 + coef.ndim)), list(range(coef.ndim)))
        out = out + jnp.tensordot(theta_c, coef, axes=axes)
    return -eta * out


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
