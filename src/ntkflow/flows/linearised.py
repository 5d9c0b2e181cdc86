"""The linearised network metric and its gradient flow (paper §2; Lee et al. 2019):
g^L_ij(x; θ) = g_ij(x; θ0) + (θ − θ0)_I ∂g_ij(x)/∂θ_I |_{θ0}, a kernel flow with Θ = Θ_{θ0}.
Derivation: docs/derivations.md#flows-linearised."""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..nets.trainable import frozen_mask, trainable
from .losses import Loss, weighted_loss


class LinearisedMetric(eqx.Module):
    """``x ↦ g(x; θ0) + J(x; θ0) δθ`` (first-order Taylor model of ``model`` in θ); with
    ``centred``, ``J(x; θ0) δθ`` alone (zero at initialisation). Only δθ trains."""

    model0: eqx.Module
    delta: object  # same pytree structure as the inexact arrays of model0
    centred: bool = eqx.field(static=True, default=False)

    @classmethod
    def around(cls, model, centred: bool = False) -> LinearisedMetric:
        params, _ = eqx.partition(model, trainable(model))
        return cls(model, jax.tree_util.tree_map(jnp.zeros_like, params), centred)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, "n n"]:
        params0, static = eqx.partition(self.model0, trainable(self.model0))
        delta = jax.lax.stop_gradient(params0)  # keep θ0 frozen under autodiff
        g0, dg = jax.jvp(lambda p: eqx.combine(p, static)(x), (delta,), (self.delta,))
        return dg if self.centred else g0 + dg

    def trainable_mask(self):
        on = jax.tree.map(lambda _: True, self.delta)
        return eqx.tree_at(lambda m: m.delta, frozen_mask(self), on)


def linearised_flow(
    model,
    loss: Loss,
    xs: Float[Array, "N d"],
    weights: Float[Array, " N"],
    ts,
    *,
    rtol: float = 1e-9,
    atol: float = 1e-11,
) -> tuple[LinearisedMetric, list[LinearisedMetric]]:
    """Gradient flow ``dδθ/dt = −∂L/∂δθ`` of the linearised model on ``L = Σ_a w_a l(x_a)``,
    integrated by diffrax (Tsit5, adaptive); returns the final model and the models at ``ts``.
    """
    xs, weights = jnp.asarray(xs), jnp.asarray(weights)
    grad = jax.jit(jax.grad(lambda d: weighted_loss(loss, LinearisedMetric(model, d), xs, weights)))
    ts = np.asarray(ts, float)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, d, args: jax.tree_util.tree_map(jnp.negative, grad(d))),
        diffrax.Tsit5(),
        0.0,
        float(ts[-1]),
        float(ts[-1]) / 100,
        LinearisedMetric.around(model).delta,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        saveat=diffrax.SaveAt(ts=jnp.asarray(ts)),
        max_steps=100_000,
    )
    models = [
        LinearisedMetric(model, jax.tree_util.tree_map(lambda y, i=i: y[i], sol.ys))
        for i in range(len(ts))
    ]
    for m, t in zip(models, ts, strict=True):
        if not all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(m.delta)):
            raise FloatingPointError(f"linearised_flow: parameters became NaN/inf by t = {t}")
    return models[-1], models
