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
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .dense import Dense, check_size
from .trainable import check_train_mode, frozen_mask


class CosNet(eqx.Module):
    """One hidden layer of width N with cosine features (see module docstring)."""

    hidden: Dense
    readout: Dense
    in_size: int = eqx.field(static=True)
    out_size: int | Literal["scalar"] = eqx.field(static=True)
    width: int = eqx.field(static=True)
    sigma_a: float = eqx.field(static=True)
    sigma_b: float = eqx.field(static=True)
    train: str = eqx.field(static=True)
    train_c: bool = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        width: int,
        *,
        sigma_a: float = 1.0,
        sigma_b: float = 1.0,
        out_size: int | Literal["scalar"] = "scalar",
        train: str = "all",
        train_c: bool = True,
        key: PRNGKeyArray,
        dtype=jnp.float64,
    ):
        check_size(in_size, "in_size (d)", "CosNet")
        check_size(width, "width (N)", "CosNet")
        if out_size != "scalar":
            check_size(out_size, "out_size", "CosNet")
        check_train_mode(train, "CosNet")
        kh, kc, ko = jax.random.split(key, 3)
        hidden = Dense(in_size, width, W_std=sigma_b, b_std=1.0, key=kh, dtype=dtype)
        c = jax.random.uniform(kc, (width,), dtype, minval=-math.pi, maxval=math.pi)
        self.hidden = eqx.tree_at(lambda d: d.bias, hidden, c)
        n_out = 1 if out_size == "scalar" else out_size
        self.readout = Dense(width, n_out, W_std=sigma_a, use_bias=False, key=ko, dtype=dtype)
        self.in_size, self.out_size, self.width = in_size, out_size, width
        self.sigma_a, self.sigma_b = float(sigma_a), float(sigma_b)
        self.train, self.train_c = train, train_c

    def __call__(self, x: Float[Array, " d"]) -> Array:
        if x.shape != (self.in_size,):
            raise ValueError(f"CosNet: expected an input of shape ({self.in_size},), got {x.shape}")
        out = self.readout(jnp.cos(self.hidden(x)))
        return out[0] if self.out_size == "scalar" else out

    def trainable_mask(self):
        mask = jax.tree.map(eqx.is_inexact_array, self)
        if self.train == "last":
            mask = eqx.tree_at(lambda m: m.hidden, mask, replace=frozen_mask(self.hidden))
        elif not self.train_c:
            mask = eqx.tree_at(lambda m: m.hidden.bias, mask, replace=False)
        return mask
