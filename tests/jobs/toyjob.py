"""A toy job for the run-directory tests: Adam fits a small MLP metric to the round 2-sphere.

The model maps a point x in R^2 (stereographic chart) to g(x) = L(x) L(x)^T + eps I with L
lower triangular from an MLP; the target is the round metric 4 / (1 + |x|^2)^2 I. Each step
draws a fresh batch from ``fold_in(data_key, step)`` with the data key and the step counter
in the state, so the data order is a function of (seed, step) and a resumed run sees the
same batches as an uninterrupted one.

Job kind: ``"toyjob:make_job"`` (with ``tests/jobs`` on ``sys.path``).
"""

from __future__ import annotations

import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import ntkflow  # noqa: F401  (enables float64)


class MLPMetric(eqx.Module):
    """x (2,) -> SPD 2x2 matrix L L^T + eps I, L lower triangular from an MLP."""

    mlp: eqx.nn.MLP
    eps: float = eqx.field(static=True)

    def __init__(self, width: int, depth: int, key: jax.Array, eps: float = 1e-3):
        self.mlp = eqx.nn.MLP(2, 3, width, depth, activation=jnp.tanh, key=key)
        self.eps = eps

    def __call__(self, x):
        a, b, c = self.mlp(x)
        L = jnp.array([[jnp.exp(a), 0.0], [b, jnp.exp(c)]])
        return L @ L.T + self.eps * jnp.eye(2)


def round_sphere(x):
    return 4.0 / (1.0 + x @ x) ** 2 * jnp.eye(2)


class State(eqx.Module):
    model: MLPMetric
    opt_state: Any
    key: jax.Array  # typed PRNG key of the data stream
    step: jax.Array


class ToyJob:
    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.seed = int(config.get("seed", 0))
        self.width = int(config.get("width", 16))
        self.depth = int(config.get("depth", 2))
        self.batch = int(config.get("batch", 32))
        self.lr = float(config.get("lr", 3e-3))
        self.nan_at = config.get("nan_at")  # make the loss NaN from this step on (tests)
        self.sleep = float(config.get("sleep", 0.0))  # seconds per step (tests)
        self.optimizer = optax.adam(self.lr)
        self._step = eqx.filter_jit(self._step_impl)

    def hyperparameters(self) -> dict[str, Any]:
        return {"width": self.width, "depth": self.depth}

    def build(self, hp: dict[str, Any]) -> MLPMetric:
        return MLPMetric(hp["width"], hp["depth"], jax.random.key(0))

    def model(self, state: State) -> MLPMetric:
        return state.model

    def metric(self, model: MLPMetric, points):
        return jax.vmap(model)(jnp.asarray(points, dtype=jnp.float64))

    def init(self) -> State:
        return eqx.filter_jit(self._init_impl)()

    def _init_impl(self) -> State:
        init_key, data_key = jax.random.split(jax.random.key(self.seed))
        model = MLPMetric(self.width, self.depth, init_key)
        opt_state = self.optimizer.init(eqx.filter(model, eqx.is_array))
        return State(model, opt_state, data_key, jnp.asarray(0, dtype=jnp.int64))

    def _step_impl(self, state: State):
        key = jax.random.fold_in(state.key, state.step)
        xs = jax.random.uniform(key, (self.batch, 2), minval=-1.5, maxval=1.5, dtype=jnp.float64)

        def loss_fn(model):
            g = jax.vmap(model)(xs)
            return jnp.mean((g - jax.vmap(round_sphere)(xs)) ** 2)

        loss, grads = eqx.filter_value_and_grad(loss_fn)(state.model)
        updates, opt_state = self.optimizer.update(grads, state.opt_state)
        model = eqx.apply_updates(state.model, updates)
        g0 = model(jnp.zeros(2))
        metrics = {
            "loss": loss,
            "grad_norm": optax.tree.norm(grads),
            "spectrum": jnp.linalg.eigvalsh(g0)[::-1],
        }
        return State(model, opt_state, state.key, state.step + 1), metrics

    def step(self, state: State):
        if self.sleep:
            time.sleep(self.sleep)
        state, metrics = self._step(state)
        if self.nan_at is not None and int(state.step) >= int(self.nan_at):
            metrics = dict(metrics, loss=jnp.nan)
        return state, metrics


def make_job(config: dict[str, Any]) -> ToyJob:
    return ToyJob(config)
