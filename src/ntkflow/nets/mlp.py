"""Deep fully connected networks (multilayer perceptrons), as neural-tangents' ``stax.serial``.
z¹ = Dense(x),  zˡ⁺¹ = Dense(φ(zˡ)),  f(x) = Dense_out(φ(z^depth))  (Neal 1996; Lee et al. 2018).
Details: docs/derivations.md#nets-mlp."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .dense import Dense, check_choice, check_out_size, check_point, check_size
from .trainable import TRAIN_MODES, frozen_mask

ACTIVATIONS: dict[str, Callable] = {
    "relu": jax.nn.relu,
    "erf": jax.scipy.special.erf,
    "tanh": jnp.tanh,
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "cos": jnp.cos,
    "sin": jnp.sin,
    "exp": jnp.exp,
    "identity": lambda x: x,
}


def get_activation(name: str, where: str = "activation") -> Callable:
    """Return the activation called ``name``; raise ``ValueError`` listing the known ones."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(
            f"{where}: unknown activation {name!r}; known: {', '.join(sorted(ACTIVATIONS))}"
        )
    return ACTIVATIONS[name]


class MLP(eqx.Module):
    """``depth`` hidden layers of width ``width``, activation ``activation``, then a read-out.

    ``out_size="scalar"`` returns a scalar. ``train="last"`` trains the read-out layer only
    (the NNGP regime: the NTK equals the NNGP kernel).
    """

    layers: tuple[Dense, ...]
    in_size: int = eqx.field(static=True)
    out_size: int | Literal["scalar"] = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    activation: str = eqx.field(static=True)
    train: str = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int | Literal["scalar"],
        width: int,
        depth: int,
        activation: str = "relu",
        *,
        W_std: float = 1.0,
        b_std: float = 0.0,
        parameterization: str = "ntk",
        train: str = "all",
        key: PRNGKeyArray,
        dtype=jnp.float64,
    ):
        check_size(in_size, "in_size", "MLP")
        check_size(width, "width", "MLP")
        check_size(depth, "depth", "MLP", minimum=0)
        n_out = check_out_size(out_size, "MLP")
        get_activation(activation, "MLP")
        check_choice(train, TRAIN_MODES, "train", "MLP")
        keys = jax.random.split(key, depth + 1)
        sizes = [in_size] + [width] * depth + [n_out]
        kw = dict(W_std=W_std, b_std=b_std, parameterization=parameterization, dtype=dtype)
        pairs = zip(sizes[:-1], sizes[1:], keys, strict=True)
        self.layers = tuple(Dense(a, b, key=k, **kw) for a, b, k in pairs)
        self.in_size, self.out_size = in_size, out_size
        self.width, self.depth = width, depth
        self.activation, self.train = activation, train

    def __call__(self, x: Float[Array, " d"]) -> Array:
        check_point(x, self.in_size, "MLP")
        act = get_activation(self.activation)
        h = x
        for layer in self.layers[:-1]:
            h = act(layer(h))
        out = self.layers[-1](h)
        return out[0] if self.out_size == "scalar" else out

    def trainable_mask(self):
        mask = jax.tree.map(eqx.is_inexact_array, self)
        if self.train == "last":
            last = jax.tree.map(eqx.is_inexact_array, self.layers[-1])
            mask = eqx.tree_at(lambda m: m.layers[-1], frozen_mask(mask), replace=last)
        return mask
