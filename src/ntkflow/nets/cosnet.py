"""Cos-net (Halverson's talk, ``seeds/001``; paper.md §4).

    φ(x) = Σ_{i=1}^N a_i ℓ_i(x),   ℓ_i(x) = cos(Σ_j b_ij x_j + c_i),
    a ~ N(0, σ_a²/N),  b ~ N(0, σ_b²/d),  c ~ U[−π, π].

Reading of ℓ_i: the slide writes ℓ_i(x) = Σ_j cos(b_ij x_j + c_i); that sum over coordinates
gives the kernel (σ_a²/2) Σ_j exp(−σ_b² (x_j − x'_j)²/(2d)), which is *not* the stated
Gaussian. We implement the reading ℓ_i(x) = cos(b_i·x + c_i) (random Fourier features, Rahimi &
Recht 2007), whose NNGP kernel is exactly

    K(x, x') = E[φ(x) φ(x')] = (σ_a²/2) exp(−σ_b² |x − x'|² / (2d))      (width² = d/σ_b²).

Parameters are stored in NTK form: a_i = σ_a ã_i/√N, b_ij = σ_b w_ij/√d with ã, w ~ N(0, 1)
and c stored as is, so gradient descent moves (ã, w, c). The infinite-width NTK is
(σ_a²/2)(2 + σ_b² x·x'/d) G with all trained, (σ_a²/2)(1 + σ_b² x·x'/d) G with c frozen and
K with the last layer only (paper.md §4, "Derived kernels").
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .dense import Dense
from .features import RandomFeatureNet


class CosNet(RandomFeatureNet):
    """One hidden layer of width N with cosine features (see module docstring)."""

    def _hidden(self, key, dtype):
        kh, kc, ko = jax.random.split(key, 3)
        d = Dense(self.in_size, self.width, W_std=self.sigma_b, b_std=1.0, key=kh, dtype=dtype)
        c = jax.random.uniform(kc, (self.width,), dtype, minval=-math.pi, maxval=math.pi)
        return eqx.tree_at(lambda d: d.bias, d, c), ko

    def features(self, x: Float[Array, " d"]) -> Float[Array, " N"]:
        return jnp.cos(self.hidden(x))
