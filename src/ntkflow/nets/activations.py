"""Pointwise activation functions, looked up by name.

The names match neural-tangents' ``stax`` layers (``Relu``, ``Erf``, ``Gelu``, ``Cos``/``Sin``
via ``stax.Sin``) so that finite networks and analytic kernels can be compared one to one.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

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
