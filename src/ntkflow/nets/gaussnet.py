"""Gauss-net (Halverson, Maiti, Stoner; talk ``seeds/001``; paper.md §4).

    φ(x) = Σ_{i=1}^N a_i g_i(x) / sqrt(exp[2(σ_c² + σ_b² |x|²/d)]),   g_i(x) = exp(b_i·x + c_i),
    a ~ N(0, σ_a²/(2N)),  b ~ N(0, σ_b²/d),  c ~ N(0, σ_c²).

As for the Cos-net we read g_i(x) = exp(Σ_j b_ij x_j + c_i) (one exponential of the full inner
product, one bias per neuron), the reading whose kernel is the stated Gaussian:
E[g_i(x) g_i(x')] = exp(2σ_c² + σ_b²|x + x'|²/(2d)), hence

    K(x, x') = (σ_a²/2) exp(−σ_b² |x − x'|² / (2d)),

the same kernel as the Cos-net (the two are dual at infinite width). Note: the "Derived
kernels" paragraph of paper.md §4 writes a = σ_a ã/√N, which doubles every kernel; we keep the
talk's a ~ N(0, σ_a²/(2N)) so that both nets share G(p) = σ_a²/(2Z_b) exp(−(d/σ_b²)p²/2).

Stored in NTK form: a = (σ_a/√2) ã/√N, b = σ_b w/√d, c = σ_c c̃ with ã, w, c̃ ~ N(0, 1). The
infinite-width NTK is (σ_a²/2)(1 + σ_c² + σ_b² x·x'/d) G with all trained (σ_c² drops with c
frozen) and K with the last layer only.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .dense import Dense
from .features import RandomFeatureNet


class GaussNet(RandomFeatureNet):
    """One hidden layer of width N with normalised exponential features (module docstring)."""

    sigma_c: float = eqx.field(static=True)

    _readout_divisor = math.sqrt(2.0)

    def __init__(self, in_size: int, width: int, *, sigma_c: float = 0.0, **kwargs):
        """The options of :class:`~ntkflow.nets.CosNet` and the bias scale ``sigma_c``."""
        self.sigma_c = float(sigma_c)
        super().__init__(in_size, width, **kwargs)

    def _hidden(self, key, dtype):
        kh, ko = jax.random.split(key)
        w, b = self.sigma_b, self.sigma_c
        return Dense(self.in_size, self.width, W_std=w, b_std=b, key=kh, dtype=dtype), ko

    def features(self, x: Float[Array, " d"]) -> Float[Array, " N"]:
        # g_i(x)/sqrt(exp[2(σ_c² + σ_b²|x|²/d)]) = exp(b_i·x + c_i − σ_c² − σ_b²|x|²/d)
        shift = self.sigma_c**2 + self.sigma_b**2 * (x @ x) / self.in_size
        return jnp.exp(self.hidden(x) - shift)
