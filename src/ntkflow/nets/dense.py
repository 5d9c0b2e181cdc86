"""A dense (fully connected) layer with neural-tangents' parameterisations (Novak et al. 2020).
``'ntk'``: y = (W_std / √fan_in) W a + b_std b;  ``'standard'``: y = W a + b.
Details: docs/derivations.md#nets-dense."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

PARAMETERIZATIONS = ("ntk", "standard")


def check_size(value: int, name: str, where: str, minimum: int = 1) -> int:
    """Validate a layer size (an ``int`` at least ``minimum``) with an error naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_choice(value, choices: tuple, name: str, where: str):
    """``value`` if it is one of ``choices``, else a ``ValueError`` naming it and ``where``."""
    if value not in choices:
        raise ValueError(f"{where}: {name} must be one of {choices}, got {value!r}")
    return value


def check_out_size(out_size: int | str, where: str) -> int:
    """Number of outputs: 1 for ``"scalar"``, else ``out_size`` checked as a layer size."""
    return 1 if out_size == "scalar" else check_size(out_size, "out_size", where)


def check_point(x: Array, n: int, where: str) -> None:
    """One point of shape ``(n,)``, or a ``ValueError`` naming ``where``."""
    if x.shape != (n,):
        raise ValueError(f"{where}: expected one point of shape ({n},), got {x.shape}")


class Dense(eqx.Module):
    """One dense layer ``a ↦ y`` (see the module docstring for the two parameterisations)."""

    weight: Float[Array, "out in"]
    bias: Float[Array, " out"] | None
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    W_std: float = eqx.field(static=True)
    b_std: float = eqx.field(static=True)
    parameterization: str = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int,
        *,
        W_std: float = 1.0,
        b_std: float = 0.0,
        parameterization: str = "ntk",
        use_bias: bool = True,
        key: PRNGKeyArray,
        dtype=jnp.float64,
    ):
        check_size(in_size, "in_size", "Dense")
        check_size(out_size, "out_size (width)", "Dense")
        check_choice(parameterization, PARAMETERIZATIONS, "parameterization", "Dense")
        if not (W_std >= 0 and b_std >= 0):
            raise ValueError(f"Dense: W_std and b_std must be >= 0, got {W_std}, {b_std}")
        kw, kb = jax.random.split(key)
        w = jax.random.normal(kw, (out_size, in_size), dtype)
        b = jax.random.normal(kb, (out_size,), dtype) if use_bias else None
        if parameterization == "standard":
            w = w * (W_std / math.sqrt(in_size))
            b = None if b is None else b * b_std
        self.weight, self.bias = w, b
        self.in_size, self.out_size = in_size, out_size
        self.W_std, self.b_std = float(W_std), float(b_std)
        self.parameterization = parameterization

    @property
    def weight_scale(self) -> float:
        """s_W in y = s_W W a + s_b b (W_std/√fan_in for 'ntk', 1 for 'standard')."""
        return self.W_std / math.sqrt(self.in_size) if self.parameterization == "ntk" else 1.0

    @property
    def bias_scale(self) -> float:
        """s_b in y = s_W W a + s_b b (b_std for 'ntk', 1 for 'standard'; 0 without bias)."""
        if self.bias is None:
            return 0.0
        return self.b_std if self.parameterization == "ntk" else 1.0

    def __call__(self, a: Float[Array, " in"]) -> Float[Array, " out"]:
        check_point(a, self.in_size, "Dense")
        y = self.weight_scale * (self.weight @ a)
        return y if self.bias is None else y + self.bias_scale * self.bias
