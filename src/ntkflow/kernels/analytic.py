"""Infinite-width NNGP and NTK kernels of deep MLPs, composed layer by layer like neural-tangents'
``stax`` (NTK parameterisation; Lee et al. 2018; Jacot et al. 2018; Arora et al. 2019).
Σ' = E[φ(u)φ(u')],  Θ' = Θ · E[φ'(u)φ'(u')].  Derivation: docs/derivations.md#kernels-analytic."""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float


class KernelState(eqx.Module):
    """NNGP ``nngp`` (N1, N2), variances ``var1`` (N1,), ``var2`` (N2,), NTK ``ntk`` (N1, N2)."""

    nngp: Float[Array, "N1 N2"]
    var1: Float[Array, " N1"]
    var2: Float[Array, " N2"]
    ntk: Float[Array, "N1 N2"]


def point_pair(x1, x2=None, where: str = "analytic kernels"):
    """``(x1, x2)`` as (N, d) arrays of the same d (``x2`` = ``x1`` when None)."""
    x1 = jnp.asarray(x1)
    x2 = x1 if x2 is None else jnp.asarray(x2)
    if x1.ndim != 2 or x2.ndim != 2 or x1.shape[1] != x2.shape[1]:
        raise ValueError(
            f"{where}: x1 and x2 must be (N, d) batches of the same d, got "
            f"{x1.shape} and {x2.shape}"
        )
    return x1, x2


def input_state(x1: Float[Array, "N1 d"], x2: Float[Array, "N2 d"] | None = None) -> KernelState:
    """Σ⁰ = x·x'/d (neural-tangents' input normalisation), Θ⁰ = 0."""
    x1, x2 = point_pair(x1, x2)
    d = x1.shape[1]
    nngp = x1 @ x2.T / d
    return KernelState(nngp, jnp.sum(x1**2, 1) / d, jnp.sum(x2**2, 1) / d, jnp.zeros_like(nngp))


class Dense(eqx.Module):
    """Σ' = W_std² Σ + b_std², Θ' = Σ' + W_std² Θ (NTK parameterisation)."""

    W_std: float = 1.0
    b_std: float = 0.0

    def __call__(self, s: KernelState) -> KernelState:
        w2, b2 = self.W_std**2, self.b_std**2
        nngp = w2 * s.nngp + b2
        return KernelState(nngp, w2 * s.var1 + b2, w2 * s.var2 + b2, nngp + w2 * s.ntk)


def _cos_angle(s: KernelState) -> Array:
    norm = jnp.sqrt(jnp.outer(s.var1, s.var2))
    safe = jnp.where(norm > 0, norm, 1.0)
    return jnp.clip(jnp.where(norm > 0, s.nngp / safe, 1.0), -1.0, 1.0), norm


class Relu(eqx.Module):
    """Arc-cosine kernel of order 1 (Cho & Saul 2009): Σ' = √(Σ₁₁Σ₂₂)/(2π)(sin θ + (π − θ) cos θ),
    Σ̇ = (π − θ)/(2π), cos θ = Σ₁₂/√(Σ₁₁Σ₂₂)."""

    def __call__(self, s: KernelState) -> KernelState:
        cos_t, norm = _cos_angle(s)
        theta = jnp.arccos(cos_t)
        nngp = norm / (2 * math.pi) * (jnp.sin(theta) + (math.pi - theta) * cos_t)
        dot = (math.pi - theta) / (2 * math.pi)
        return KernelState(nngp, s.var1 / 2, s.var2 / 2, s.ntk * dot)


class Erf(eqx.Module):
    """φ = erf (Williams 1997): Σ' = (2/π) arcsin(2Σ₁₂/√((1 + 2Σ₁₁)(1 + 2Σ₂₂))),
    Σ̇ = (4/π)/√((1 + 2Σ₁₁)(1 + 2Σ₂₂) − 4Σ₁₂²)."""

    def __call__(self, s: KernelState) -> KernelState:
        p = jnp.outer(1 + 2 * s.var1, 1 + 2 * s.var2)
        nngp = (2 / math.pi) * jnp.arcsin(jnp.clip(2 * s.nngp / jnp.sqrt(p), -1.0, 1.0))
        dot = (4 / math.pi) / jnp.sqrt(p - 4 * s.nngp**2)
        var = lambda v: (2 / math.pi) * jnp.arcsin(2 * v / (1 + 2 * v))
        return KernelState(nngp, var(s.var1), var(s.var2), s.ntk * dot)


class Cos(eqx.Module):
    """φ = cos: Σ' = e^{−(Σ₁₁+Σ₂₂)/2} cosh Σ₁₂, Σ̇ = e^{−(Σ₁₁+Σ₂₂)/2} sinh Σ₁₂; ``sin=True``:
    φ = sin, with cosh and sinh exchanged."""

    sin: bool = eqx.field(static=True, default=False)

    def __call__(self, s: KernelState) -> KernelState:
        damp = jnp.exp(-0.5 * jnp.add.outer(s.var1, s.var2))
        nngp, dot = damp * jnp.cosh(s.nngp), damp * jnp.sinh(s.nngp)
        nngp, dot = (dot, nngp) if self.sin else (nngp, dot)
        var = lambda v: 0.5 * (1 + (-1 if self.sin else 1) * jnp.exp(-2 * v))
        return KernelState(nngp, var(s.var1), var(s.var2), s.ntk * dot)


ANALYTIC_ACTIVATIONS = {"relu": Relu, "erf": Erf, "cos": Cos, "sin": lambda: Cos(sin=True)}


class Serial(eqx.Module):
    """Layers applied in order; ``Serial(...)(x1, x2)`` returns ``(nngp, ntk)``."""

    layers: tuple

    def state(self, x1: Array, x2: Array | None = None) -> KernelState:
        s = input_state(x1, x2)
        for layer in self.layers:
            s = layer(s)
        return s

    def __call__(self, x1: Array, x2: Array | None = None) -> tuple[Array, Array]:
        return (s := self.state(x1, x2)).nngp, s.ntk


def serial(*layers) -> Serial:
    """Compose analytic layers, like ``neural_tangents.stax.serial``."""
    return Serial(tuple(layers))


def activation_layer(name: str):
    """The analytic layer for activation ``name``; a clear error where no closed form exists."""
    if name not in ANALYTIC_ACTIVATIONS:
        raise ValueError(
            f"analytic kernels: no closed-form kernel for activation {name!r}; "
            f"available: {', '.join(sorted(ANALYTIC_ACTIVATIONS))}"
        )
    return ANALYTIC_ACTIVATIONS[name]()


def mlp_kernel(depth: int, activation: str = "relu", W_std: float = 1.0, b_std: float = 0.0):
    """The analytic kernel of ``nets.MLP(depth, activation)``: (Dense, φ)×depth, Dense."""
    return serial(*[Dense(W_std, b_std), activation_layer(activation)] * depth, Dense(W_std, b_std))
