"""The linearised network metric and its gradient flow (paper §2; Lee et al. 2019).

    g^L_ij(x; θ) = g_ij(x; θ0) + (θ − θ0)_I ∂g_ij(x)/∂θ_I |_{θ0}

evaluated by one Jacobian–vector product (``jax.jvp``) around θ0. Its metric-NTK is the
empirical one at θ0 and does not move, so gradient flow of ``g^L`` equals the kernel flow
(:mod:`ntkflow.flows.kernel_flow`) with ``Θ = Θ_{θ0}`` and ``g_ref = g(·; θ0)``:
``(θ − θ0)(t) = Σ_a J(x_a)ᵀ α_a(t)``, hence ``g^L(x, t) = g_ref(x) + Σ_a Θ(x, x_a) α_a(t)``.
"""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..nets.trainable import trainable
from .losses import Loss, jets_at, loss_from_jets


class LinearisedMetric(eqx.Module):
    """``x ↦ g(x; θ0) + J(x; θ0) δθ`` (first-order Taylor model of ``model`` in θ)."""

    model0: eqx.Module
    delta: object  # same pytree structure as the inexact arrays of model0

    @classmethod
    def around(cls, model) -> LinearisedMetric:
        params, _ = eqx.partition(model, trainable(model))
        return cls(model, jax.tree_util.tree_map(jnp.zeros_like, params))

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, "n n"]:
        params0, static = eqx.partition(self.model0, trainable(self.model0))
        delta = jax.lax.stop_gradient(params0)  # keep θ0 frozen under autodiff
        g0, dg = jax.jvp(lambda p: eqx.combine(p, static)(x), (delta,), (self.delta,))
        return g0 + dg


def linearised_flow(
    model,
    loss: Loss,
    xs: Float[Array, "N d"],
    weights: Float[Array, " N"],
    ts,
    *,
    lr: float | None = None,
    rtol: float = 1e-9,
    atol: float = 1e-11,
) -> tuple[LinearisedMetric, list[LinearisedMetric]]:
    """Train the linearised model on ``L = Σ_a w_a l(x_a)``.

    ``lr=None``: gradient flow ``dδθ/dt = −∂L/∂δθ`` integrated by diffrax (Tsit5, adaptive) and
    saved at ``ts``; otherwise plain gradient descent with step ``lr`` and ``ts`` read as
    step counts. Returns the final model and the models at ``ts``.
    """
    xs, weights = jnp.asarray(xs), jnp.asarray(weights)
    lin = LinearisedMetric.around(model)

    def value(delta):
        return loss_from_jets(
            loss, xs, weights, *jets_at(LinearisedMetric(model, delta), xs, loss.order)
        )

    grad = jax.jit(jax.grad(value))
    ts = np.asarray(ts)
    if lr is None:
        term = diffrax.ODETerm(lambda t, d, args: jax.tree_util.tree_map(jnp.negative, grad(d)))
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            0.0,
            float(ts[-1]),
            float(ts[-1]) / 100,
            lin.delta,
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            saveat=diffrax.SaveAt(ts=jnp.asarray(ts, float)),
            max_steps=100_000,
        )
        deltas = [jax.tree_util.tree_map(lambda y, i=i: y[i], sol.ys) for i in range(len(ts))]
    else:
        deltas, d, done = [], lin.delta, 0
        for target in ts.astype(int):
            for _ in range(target - done):
                d = jax.tree_util.tree_map(lambda a, b: a - lr * b, d, grad(d))
            done = target
            deltas.append(d)
    models = [LinearisedMetric(model, d) for d in deltas]
    for m, t in zip(models, ts, strict=True):
        leaves = jax.tree_util.tree_leaves(m.delta)
        if not all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in leaves):
            raise FloatingPointError(f"linearised_flow: parameters became NaN/inf by t = {t}")
    return models[-1], models
