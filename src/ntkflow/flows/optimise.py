"""One optax step for every trainer: gradient flow dθ/dt = −∂L/∂θ (paper eq. 1.2 in parameter
space) discretised by an optax transformation; L-BFGS (``optax.lbfgs``) reuses the value and
gradient its line search stored (docs/derivations.md#flows-optimise)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax


def make_optimiser(name: str | optax.GradientTransformation, lr: float):
    """``"sgd"`` (plain gradient descent), ``"adam"`` or ``"lbfgs"`` (optax), or a transform."""
    if not isinstance(name, str):
        return name
    lbfgs = lambda lr: optax.lbfgs(learning_rate=lr if lr != 1.0 else None)
    makers = {"sgd": optax.sgd, "adam": optax.adam, "lbfgs": lbfgs}
    if name not in makers:
        raise ValueError(f"unknown optimiser {name!r} (use sgd, adam or lbfgs)")
    return makers[name](lr)


def make_step(
    loss: Callable[..., Any], tx: optax.GradientTransformation, *, lbfgs: bool = False
) -> Callable:
    """``step(params, opt_state, *args) -> (params, opt_state, L)``: one optax update on
    ``L = loss(params, *args)``; ``lbfgs=True`` for line-search transforms. Not jitted."""

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
