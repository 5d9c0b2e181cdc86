"""Memory budgets: the compiled footprint model and chunked evaluation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkflow  # noqa: F401  (float64)
from ntkflow.memory import (
    MemoryBudgetError,
    chunk_size,
    map_chunked,
    memory_budget,
    per_point_bytes,
)


def _outer(x):
    return jnp.outer(x, x)  # (m, m) output per point, no temporaries beyond it


def test_per_point_bytes_counts_inputs_and_outputs_exactly():
    # one point: m float64 inputs and m² float64 outputs → 8 (m + m²) bytes, nothing fixed
    m = 30
    x = jnp.ones((64, m))
    fixed, per = per_point_bytes(jax.vmap(_outer), x)
    assert per == 8 * (m + m * m)
    assert fixed == 0


def test_chunk_size_follows_the_budget():
    m = 30
    x = jnp.ones((10_000, m))
    per = 8 * (m + m * m)
    assert chunk_size(jax.vmap(_outer), x, budget=100 * per) == 100
    assert chunk_size(jax.vmap(_outer), x, budget=100 * per, max_chunk=7) == 7
    with pytest.raises(MemoryBudgetError, match="one point needs"):
        chunk_size(jax.vmap(_outer), x, budget=per // 2)


def test_map_chunked_equals_vmap_with_a_ragged_last_chunk():
    x = jax.random.normal(jax.random.PRNGKey(0), (103, 5))
    expect = jax.vmap(_outer)(x)
    got = map_chunked(_outer, x, budget=8 * (5 + 25) * 10)  # chunks of 10, last one of 3
    np.testing.assert_array_equal(got, np.asarray(expect))


def test_budget_from_environment(monkeypatch):
    monkeypatch.setenv("NTKFLOW_MEMORY_BUDGET", "0.5")
    assert memory_budget() == 2**29
    monkeypatch.setenv("NTKFLOW_MEMORY_BUDGET", "lots")
    with pytest.raises(MemoryBudgetError, match="not a number"):
        memory_budget()


def test_single_probe_is_conservative_and_exact_without_fixed_cost():
    m = 30
    x = jnp.ones((64, m))
    assert per_point_bytes(jax.vmap(_outer), x, probe=(8,)) == (0.0, 8 * (m + m * m))
    # a fixed cost (a closed-over table added to every point) is charged to the points
    table = jnp.ones((1000, m))
    fixed, per = per_point_bytes(jax.vmap(lambda p: _outer(p) + table[:m, :m].sum()), x)
    _, per1 = per_point_bytes(jax.vmap(lambda p: _outer(p) + table[:m, :m].sum()), x, probe=(8,))
    assert per1 >= per
