"""One hidden layer of N random features with a linear read-out (Cos-net, Gauss-net):

    φ(x) = Σ_{i=1}^N a_i f_i(x),   f_i(x) = feature(b_i·x + c_i; x),

stored in NTK form, b = σ_b w/√d and a = s_a ã/√N (``hidden`` and ``readout``, two
:class:`~ntkflow.nets.dense.Dense` layers). ``train="last"`` trains the read-out only (the
NNGP regime); ``train_c=False`` freezes the biases c.
"""

from __future__ import annotations

import abc
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .dense import Dense, check_out_size, check_point, check_size
from .trainable import check_train_mode, frozen_mask


class RandomFeatureNet(eqx.Module):
    """Base of :class:`~ntkflow.nets.CosNet` and :class:`~ntkflow.nets.GaussNet`."""

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
        check_train_mode(train, where)
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
