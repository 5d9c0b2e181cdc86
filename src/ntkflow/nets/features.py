"""One hidden layer of N random features with a linear read-out: Cos-net and Gauss-net
(Halverson's talk, ``seeds/001``; Halverson, Maiti, Stoner; paper.md §4).
K(x, x') = (σ_a²/2) exp(−σ_b² |x − x'|² / (2d)) (Rahimi & Recht 2007).
Derivation: docs/derivations.md#nets-features."""

from __future__ import annotations

import abc
import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .dense import Dense, check_choice, check_out_size, check_point, check_size
from .trainable import TRAIN_MODES, frozen_mask


class RandomFeatureNet(eqx.Module):
    """Base of :class:`CosNet` and :class:`GaussNet`."""

    hidden: Dense
    readout: Dense
    in_size: int = eqx.field(static=True)
    out_size: int | Literal["scalar"] = eqx.field(static=True)
    width: int = eqx.field(static=True)
    sigma_a: float = eqx.field(static=True)
    sigma_b: float = eqx.field(static=True)
    train: str = eqx.field(static=True)
    train_c: bool = eqx.field(static=True)

    _readout_divisor = 1.0  # read-out W_std = σ_a / this

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
        where = type(self).__name__
        check_size(in_size, "in_size (d)", where)
        check_size(width, "width (N)", where)
        n_out = check_out_size(out_size, where)
        check_choice(train, TRAIN_MODES, "train", where)
        self.in_size, self.out_size, self.width = in_size, out_size, width
        self.sigma_a, self.sigma_b = float(sigma_a), float(sigma_b)
        self.train, self.train_c = train, train_c
        self.hidden, ko = self._hidden(key, dtype)
        a_std = sigma_a / self._readout_divisor
        self.readout = Dense(width, n_out, W_std=a_std, use_bias=False, key=ko, dtype=dtype)

    @abc.abstractmethod
    def _hidden(self, key: PRNGKeyArray, dtype) -> tuple[Dense, PRNGKeyArray]:
        """The hidden layer (b, c) and the key left for the read-out."""

    @abc.abstractmethod
    def features(self, x: Float[Array, " d"]) -> Float[Array, " N"]:
        """The N features f_i(x)."""

    def __call__(self, x: Float[Array, " d"]) -> Array:
        check_point(x, self.in_size, type(self).__name__)
        out = self.readout(self.features(x))
        return out[0] if self.out_size == "scalar" else out

    def trainable_mask(self):
        mask = jax.tree.map(eqx.is_inexact_array, self)
        if self.train == "last":
            return eqx.tree_at(lambda m: m.hidden, mask, replace=frozen_mask(self.hidden))
        if not self.train_c:
            return eqx.tree_at(lambda m: m.hidden.bias, mask, replace=False)
        return mask


class CosNet(RandomFeatureNet):
    """One hidden layer of width N with cosine features (docs/derivations.md#nets-features)."""

    def _hidden(self, key, dtype):
        kh, kc, ko = jax.random.split(key, 3)
        d = Dense(self.in_size, self.width, W_std=self.sigma_b, b_std=1.0, key=kh, dtype=dtype)
        c = jax.random.uniform(kc, (self.width,), dtype, minval=-math.pi, maxval=math.pi)
        return eqx.tree_at(lambda d: d.bias, d, c), ko

    def features(self, x: Float[Array, " d"]) -> Float[Array, " N"]:
        return jnp.cos(self.hidden(x))


class GaussNet(RandomFeatureNet):
    """One hidden layer of width N with normalised exponential features
    (docs/derivations.md#nets-features)."""

    sigma_c: float = eqx.field(static=True)

    _readout_divisor = math.sqrt(2.0)

    def __init__(self, in_size: int, width: int, *, sigma_c: float = 0.0, **kwargs):
        """The options of :class:`CosNet` and the bias scale ``sigma_c``."""
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
