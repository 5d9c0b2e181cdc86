"""A network correction on top of a trained potential: K = K₀ + φ_θ(u(z)).

K₀ is a frozen potential with a closed-form pulled-back metric (e.g. the trained algebraic
ansatz of :mod:`ntkflow.cy.symmetry` or :mod:`ntkflow.cy.potential`); φ_θ is a scalar network
on the C*-invariant inputs u = (z_i z̄_j / |z|²) of :func:`~ntkflow.cy.potential.spectral_inputs`
(as :class:`~ntkflow.cy.potential.PhiPotential` uses them), so φ is a global function on the
variety and K stays in the Kähler class of K₀. The pulled-back metric is

    g_{a b̄} = g⁰_{a b̄} + ∂_{v_a} ∂̄_{v_b} φ(u(z)),   v_a the rows of J,

the first term in closed form, the second by autodiff along J (2·dim real directions). With
φ's read-out layer zero (:func:`zero_readout`), φ ≡ 0 and g = g⁰ exactly: the network stage
starts at the trained algebraic metric and can only add what the polynomial cannot.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float

from .potential import complex_hessian_along, spectral_inputs


class CorrectedPotential(eqx.Module):
    """K = K₀(z) + φ(u(z)) with K₀ frozen (module docstring)."""

    base: eqx.Module
    phi: eqx.Module
    ambient: tuple[int, ...] = eqx.field(static=True)

    def correction(self, z: Complex[Array, " n"]) -> Float[Array, ""]:
        """φ(u(z)) in the network's precision."""
        u = spectral_inputs(z, self.ambient)
        dtype = next(x.dtype for x in jax.tree.leaves(self.phi) if eqx.is_inexact_array(x))
        return jnp.reshape(self.phi(u.astype(dtype)), ())

    def __call__(self, z: Complex[Array, " n"]) -> Float[Array, ""]:
        return self.base(z) + self.correction(z)

    def correction_metric(self, z, jac) -> Complex[Array, "d d"]:
        """∂_{v_a} ∂̄_{v_b} φ(u(z)) along the rows of J."""
        return complex_hessian_along(self.correction, z, jac)

    def pullback_metric(
        self, z: Complex[Array, " n"], jac: Complex[Array, "d n"]
    ) -> Complex[Array, "d d"]:
        g0 = self.base.pullback_metric(z, jac)
        return g0 + self.correction_metric(z, jac).astype(g0.dtype)

    def trainable_mask(self):
        """Only φ trains; K₀ is frozen."""
        from ntkflow.nets.trainable import frozen_mask, trainable

        return CorrectedPotential(frozen_mask(self.base), trainable(self.phi), self.ambient)


def zero_readout(mlp):
    """``mlp`` with its read-out weights and bias set to zero, so it is ≡ 0 (and its gradient
    w.r.t. the read-out layer is not: training moves it off zero)."""
    last = mlp.layers[-1]
    mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, jnp.zeros_like(last.weight))
    if getattr(last, "bias", None) is not None:
        mlp = eqx.tree_at(lambda m: m.layers[-1].bias, mlp, jnp.zeros_like(last.bias))
    return mlp


__all__ = ["CorrectedPotential", "zero_readout"]
