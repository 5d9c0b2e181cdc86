"""One optax step for every trainer: gradient flow dθ/dt = −∂L/∂θ (paper eq. 1.2 in parameter
space) discretised by an optax transformation; L-BFGS (``optax.lbfgs``) reuses the value and
gradient its line search stored (docs/derivations.md#flows-optimise)."""

from __future__ import annotations

import dataclasses
import math
import weakref
from collections.abc import Callable
from typing import Any

import equinox as eqx
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


@dataclasses.dataclass(frozen=True)
class Stationarity:
    """The stopping rule of :func:`minimise`: stationary once the loss fell by at most
    ``tol · L₀`` over the last ``window`` steps, ``L_{k−w} − L_k ≤ tol · L₀`` (L₀ the
    starting loss); ``max_steps`` caps the run, and a run stopped by the cap is reported as
    not converged."""

    tol: float = 1e-4
    window: int = 25
    max_steps: int = 2000

    def __post_init__(self):
        if not self.tol > 0 or self.window < 1 or self.max_steps < 1:
            raise ValueError(
                f"stationarity: need tol > 0, window >= 1 and max_steps >= 1, got {self.tol}, "
                f"{self.window}, {self.max_steps}"
            )

    def holds(self, losses: list[float]) -> bool:
        w = self.window
        return len(losses) > w and losses[-1 - w] - losses[-1] <= self.tol * losses[0]

    def describe(self) -> str:
        return f"L(k−{self.window}) − L(k) ≤ {self.tol:g}·L(0), at most {self.max_steps} steps"


@dataclasses.dataclass(frozen=True)
class Minimised:
    """What :func:`minimise` reached: parameters, loss per step (``losses[0]`` = L(θ₀)),
    steps taken, and whether the stationarity test held before the step cap."""

    params: Any
    losses: list[float]
    steps: int
    converged: bool
    criterion: str


_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def minimise(
    loss: Callable[..., Any],
    params: Any,
    rule: Stationarity = Stationarity(),
    on_step: Callable[[int, float], None] | None = None,
    args: tuple = (),
) -> Minimised:
    """Full-batch L-BFGS (:func:`make_step`) on ``loss(params, *args)`` from ``params`` until
    ``rule`` holds or its step cap. The iterates stay in θ₀ + span of the gradients met, so
    for a model linear in θ and a quadratic loss the limit is the minimiser nearest θ₀ — the
    fixed point of the gradient flow from θ₀ (docs/derivations.md#flows-optimise). The
    compiled step is kept per ``loss`` object, so runs that differ only in ``params`` and
    ``args`` (seeds, frozen arrays) compile once. A non-finite loss is a
    :class:`FloatingPointError`."""
    tx = optax.lbfgs()
    if loss not in _STEPS:
        _STEPS[loss] = eqx.filter_jit(make_step(loss, tx, lbfgs=True))
    step = _STEPS[loss]
    state = tx.init(params)
    losses: list[float] = []
    for k in range(rule.max_steps + 1):
        new, new_state, value = step(params, state, *args)
        value = float(value)  # L at the current params (before the update)
        if not math.isfinite(value):
            raise FloatingPointError(f"minimise: the loss is not finite at step {k}")
        losses.append(value)
        if on_step is not None:
            on_step(k, value)
        if rule.holds(losses) or k == rule.max_steps:
            return Minimised(params, losses, k, rule.holds(losses), rule.describe())
        params, state = new, new_state
    raise AssertionError("unreachable")
