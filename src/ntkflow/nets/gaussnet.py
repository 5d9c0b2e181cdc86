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
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .dense import Dense, check_size
from .trainable import check_train_mode, frozen_mask


class GaussNet(eqx.Module):
    """One hidden layer of width N with normalised exponential features (module docstring)."""

    hidden: Dense
    readout: Dense
    in_size: int = eqx.field(static=True)
    out_size: int | Literal["scalar"] = eqx.field(static=True)
    width: int = eqx.field(static=True)
    sigma_a: float = eqx.field(static=True)
    sigma_b: float = eqx.field(static=True)
    sigma_c: float = eqx.field(static=True)
    train: str = eqx.field(static=True)
    train_c: bool = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        width: int,
        *,
        sigma_a: float = 1.0,
        sigma_b: float = 1.0,
        sigma_c: float = 0.0,
        out_size: int | Literal["scalar"] = "scalar",
        train: str = "all",
        train_c: bool = True,
        key: PRNGKeyArray,
        dtype=jnp.float64,
    ):
        check_size(in_size, "in_size (d)", "GaussNet")
        check_size(width, "width (N)", "GaussNet")
        if out_size != "scalar":
            check_size(out_size, "out_size", "GaussNet")
        check_train_mode(train, "GaussNet")
        kh, ko = jax.random.split(key)
        self.hidden = Dense(in_size, width, W_std=sigma_b, b_std=sigma_c, key=kh, dtype=dtype)
        n_out = 1 if out_size == "scalar" else out_size
        self.readout = Dense(
            width, n_out, W_std=sigma_a / math.sqrt(2.0), use_bias=False, key=ko, dtype=dtype
        )
        self.in_size, self.out_size, self.width = in_size, out_size, width
        self.sigma_a, self.sigma_b, self.sigma_c = float(sigma_a), float(sigma_b), float(sigma_c)
        self.train, self.train_c = train, train_c

    def __call__(self, x: Float[Array, " d"]) -> Array:
        if x.shape != (self.in_size,):
            raise ValueError(
                f"GaussNet: expected an input of shape ({self.in_size},), got {x.shape}"
            )
        # g_i(x)/sqrt(exp[2(σ_c² + σ_b²|x|²/d)]) = exp(b_i·x + c_i − σ_c² − σ_b²|x|²/d)
        shift = self.sigma_c**2 + self.sigma_b**2 * (x @ x) / self.in_size
        out = self.readout(jnp.exp(self.hidden(x) - shift))
        return out[0] if self.out_size == "scalar" else out

    def trainable_mask(self):
        mask = jax.tree.map(eqx.is_inexact_array, self)
        if self.train == "last":
            mask = eqx.tree_at(lambda m: m.hidden, mask, replace=frozen_mask(self.hidden))
        elif not self.train_c:
            mask = eqx.tree_at(lambda m: m.hidden.bias, mask, replace=False)
        return mask
