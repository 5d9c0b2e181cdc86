"""One optax step for every trainer: gradient flow dθ/dt = −∂L/∂θ (paper eq. 1.2 in parameter
space) discretised by an optax transformation.

``make_step(loss, tx)`` returns ``step(params, opt_state, *args) -> (params, opt_state, L)``
with ``L = loss(params, *args)``. First-order transforms (SGD, Adam) take the gradient;
L-BFGS with its zoom line search (``optax.lbfgs``) also takes the value, the gradient and the
loss itself (``value_fn``), and reuses the value and gradient its line search stored in the
state (``optax.value_and_grad_from_state``), so each step costs one line search.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax


def make_optimiser(name: str | optax.GradientTransformation, lr: float):
    """``"sgd"`` (plain gradient descent), ``"adam"`` or ``"lbfgs"`` (optax), or a transform."""
    if not isinstance(name, str):
        return name
    if name == "sgd":
        return optax.sgd(lr)
    if name == "adam":
        return optax.adam(lr)
    if name == "lbfgs":
        return optax.lbfgs(learning_rate=lr if lr != 1.0 else None)
    raise ValueError(f"unknown optimiser {name!r} (use sgd, adam or lbfgs)")


def make_step(
    loss: Callable[..., Any], tx: optax.GradientTransformation, *, lbfgs: bool = False
) -> Callable:
    """``step(params, opt_state, *args)``: one optax update of ``params`` on ``loss(params,
    *args)``; ``lbfgs=True`` for line-search transforms (module docstring). Not jitted: jit it,
    or call it inside ``lax.scan``."""

    def step(params, opt_state, *args):
        f = lambda p: loss(p, *args)
        if lbfgs:
            value, grad = optax.value_and_grad_from_state(f)(params, state=opt_state)
            extra = {"value": value, "grad": grad, "value_fn": f}
        else:
            value, grad = jax.value_and_grad(f)(params)
            extra = {}
        updates, opt_state = tx.update(grad, opt_state, params, **extra)
        return optax.apply_updates(params, updates), opt_state, value

    return step


__all__ = ["make_optimiser", "make_step"]
