"""A job with a closed-form trajectory: x_k = x0 * r^k, logged as metric "x".

Job kind ``"scalarjob:make_job"``. ``nan_metric_at`` / ``nan_state_at`` make the metric or
only the state NaN from that step on (to test the loop's NaN handling).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

import ntkflow  # noqa: F401  (enables float64)


class ScalarJob:
    def __init__(self, config: dict[str, Any]):
        self.x0 = float(config.get("x0", 1.0))
        self.r = float(config.get("r", 0.9))
        self.nan_metric_at = config.get("nan_metric_at")
        self.nan_state_at = config.get("nan_state_at")

    def init(self) -> dict:
        return {"x": jnp.asarray(self.x0), "k": 0}

    def step(self, state: dict):
        k = state["k"] + 1
        x = state["x"] * self.r
        metric = x
        if self.nan_metric_at is not None and k >= self.nan_metric_at:
            metric = jnp.nan
        if self.nan_state_at is not None and k >= self.nan_state_at:
            x = x * jnp.nan
            metric = jnp.asarray(1.0)
        return {"x": x, "k": k}, {"x": metric}


def make_job(config: dict[str, Any]) -> ScalarJob:
    return ScalarJob(config)
