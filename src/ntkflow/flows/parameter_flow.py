"""Finite-width metric flow: ``dθ_I/dt = −∂L/∂θ_I`` moves the metric by eq. 1.2 with the
empirical metric-NTK of eq. 1.3 (paper §2); :func:`flow_check` verifies it (residual O(η²)).
Curvature losses: docs/derivations.md#flows-parameter_flow."""

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

from ..geometry.curvature import metric_jet
from ..kernels import StructureError, as_matrix, metric_ntk, relative_change
from ..kernels import empirical_ntk as empirical_ntk_of
from ..nets.trainable import trainable
from .kernel_flow import FlowError
from .losses import Loss, functional_derivative, jets_at, weighted_loss
from .optimise import make_optimiser, make_step


class ParameterFlowError(FlowError):
    """Training produced a non-finite loss or parameters; ``last_good``: the last finite model."""


def empirical_ntk(model, xs: Float[Array, "N d"]) -> Float[Array, "N N n n n n"]:
    """Empirical metric-NTK Θ_ijkl(x_a, x_b) (eq. 1.3) by :func:`ntkflow.kernels.metric_ntk`:
    the structured strategy, or Jacobians for modules it cannot read."""
    try:
        return metric_ntk(model, xs)
    except StructureError:
        return metric_ntk(model, xs, strategy="jacobian")


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
    """Train ``model`` for ``steps`` optax steps (SGD, Adam or L-BFGS) on ``L = Σ_a w_a l(x_a)``,
    recording the empirical metric-NTK's relative change and eigenvalues on ``ntk_points``
    (default: the first ≤ 16 training points) every ``ntk_every`` steps, at the start and end.
    :class:`ParameterFlowError` (with the last finite model) on a non-finite loss or parameters."""
    xs, weights = jnp.asarray(xs), jnp.asarray(weights)
    opt = make_optimiser(optimiser, lr)
    params, static = eqx.partition(model, trainable(model))
    value = lambda p: weighted_loss(loss, eqx.combine(p, static), xs, weights)
    lbfgs = isinstance(optimiser, str) and optimiser == "lbfgs"
    step = jax.jit(make_step(value, opt, lbfgs=lbfgs))

    probe = xs[: min(16, xs.shape[0])] if ntk_points is None else jnp.asarray(ntk_points)
    res = ParameterFlowResult(model, np.zeros(0))

    def record(i, p):
        th = as_matrix(empirical_ntk(eqx.combine(p, static), probe))
        record.theta0 = th if not res.spectra else record.theta0
        res.ntk_steps.append(i)
        res.ntk_changes.append(float(relative_change(th, record.theta0)))
        res.spectra.append(np.asarray(jnp.linalg.eigvalsh(0.5 * (th + th.T))))

    state, losses = opt.init(params), []
    if ntk_every:
        record(0, params)
    for i in range(steps):
        new, state, val = step(params, state)
        val = float(val)
        finite = all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(new))
        if not (np.isfinite(val) and finite):
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
    res.model, res.losses = eqx.combine(params, static), np.asarray(losses)
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
    params, static = eqx.partition(model, trainable(model))
    flat, unravel = ravel_pytree(params)
    rebuild = lambda f: eqx.combine(unravel(f), static)
    grad = jax.grad(lambda f: weighted_loss(loss, rebuild(f), xs, weights))(flat)
    g0 = jax.vmap(model)(eval_xs)
    base = predicted_change(model, loss, xs, weights, eval_xs, 1.0)
    rel, absr = [], []
    for eta in etas:
        actual, pred = jax.vmap(rebuild(flat - eta * grad))(eval_xs) - g0, eta * base
        absr.append(float(jnp.linalg.norm(actual - pred)))
        rel.append(absr[-1] / float(jnp.linalg.norm(pred)))
    return {"etas": [float(e) for e in etas], "relative_residuals": rel, "residuals": absr}
