"""Memory budgets and chunked evaluation of per-point functions.
chunk = ⌊(budget − fixed) / per_point⌋ from XLA's memory analysis; 2 GiB by default.
Details: docs/derivations.md#memory."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

GIB = 1024**3
DEFAULT_BUDGET_GIB = 2.0


class MemoryBudgetError(RuntimeError):
    """A single point does not fit in the memory budget."""


def memory_budget() -> int:
    """The budget in bytes for one compiled chunk: ``NTKFLOW_MEMORY_BUDGET`` (GiB) or 2 GiB."""
    raw = os.environ.get("NTKFLOW_MEMORY_BUDGET", "").strip()
    if not raw:
        return int(DEFAULT_BUDGET_GIB * GIB)
    try:
        gib = float(raw)
    except ValueError:
        raise MemoryBudgetError(
            f"NTKFLOW_MEMORY_BUDGET={raw!r} is not a number of GiB (e.g. NTKFLOW_MEMORY_BUDGET=2)"
        ) from None
    if not gib > 0:
        raise MemoryBudgetError(f"NTKFLOW_MEMORY_BUDGET must be positive, got {raw!r}")
    return int(gib * GIB)


def compiled_bytes(fn: Callable, *args: Any) -> int:
    """Peak bytes XLA reserves for ``jit(fn)(*args)``: temporaries + outputs + arguments (from
    the compiled function's memory analysis; arguments may be ``jax.ShapeDtypeStruct``)."""
    m = jax.jit(fn).lower(*args).compile().memory_analysis()
    if m is None:  # backends without an analysis: count outputs + arguments only
        out = jax.eval_shape(fn, *args)
        return int(sum(_nbytes(x) for x in jax.tree.leaves((out, args))))
    return int(m.temp_size_in_bytes + m.output_size_in_bytes + m.argument_size_in_bytes)


def _nbytes(x) -> int:
    return int(np.prod(x.shape)) * jnp.dtype(x.dtype).itemsize if hasattr(x, "shape") else 0


def _batched_spec(args: tuple, b: int) -> tuple:
    """ShapeDtypeStructs of ``args`` (batched along axis 0) with the batch axis set to b."""
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct((b, *a.shape[1:]), a.dtype), args)


def per_point_bytes(batched_fn: Callable, *args: Any, probe: tuple[int, ...] = (4, 8)) -> tuple:
    """(fixed, per_point) bytes of the compiled ``batched_fn`` on args batched along axis 0,
    from its memory analysis at two batch sizes (a linear fit). With one probe size b the
    estimate is conservative: fixed = 0 and per_point = bytes(b)/b ≥ the true slope."""
    if len(probe) == 1:
        (b,) = probe
        return 0.0, max(compiled_bytes(batched_fn, *_batched_spec(args, b)) / b, 1.0)
    b1, b2 = probe
    m1 = compiled_bytes(batched_fn, *_batched_spec(args, b1))
    m2 = compiled_bytes(batched_fn, *_batched_spec(args, b2))
    per = max((m2 - m1) / (b2 - b1), 1.0)
    return max(m1 - per * b1, 0.0), per


def chunk_size(
    batched_fn: Callable,
    *args: Any,
    budget: int | None = None,
    max_chunk: int = 65536,
    probe: tuple[int, ...] = (4, 8),
) -> int:
    """The largest batch size whose compiled footprint fits ``budget`` bytes (module doc)."""
    budget = memory_budget() if budget is None else int(budget)
    fixed, per = per_point_bytes(batched_fn, *args, probe=probe)
    room = budget - fixed
    if room < per:
        raise MemoryBudgetError(
            f"one point needs {per / GIB:.2f} GiB (+{fixed / GIB:.2f} GiB fixed), more than the "
            f"budget of {budget / GIB:.2f} GiB; raise NTKFLOW_MEMORY_BUDGET"
        )
    return int(max(1, min(max_chunk, room // per)))


def map_chunked(
    fn: Callable,
    *args: Any,
    budget: int | None = None,
    chunk: int | None = None,
    progress: Callable[[int], Any] | None = None,
) -> Any:
    """``vmap(fn)(*args)`` evaluated in chunks sized from the memory budget: ``fn`` maps one
    point (leading-axis slices of ``args``) to a pytree; chunks are padded to one size (one
    compilation; the size from one conservative probe, :func:`per_point_bytes`); ``progress(k)``
    is called after each chunk of k points."""
    n = jax.tree.leaves(args)[0].shape[0]
    batched = jax.jit(jax.vmap(fn))
    if chunk is None:
        chunk = chunk_size(batched, *args, budget=budget, max_chunk=max(n, 1), probe=(8,))
    chunk = max(1, min(chunk, n))
    outs = []
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        block = jax.tree.map(functools.partial(_block, start=start, size=chunk), args)
        outs.append(jax.tree.map(functools.partial(_head, k=k), batched(*block)))
        if progress is not None:
            progress(k)
    return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *outs)


def _head(o, k: int) -> np.ndarray:
    return np.asarray(o)[:k]


def _block(a, start: int, size: int):
    """Rows start..start+size of ``a``, padded by repeating the last row (valid points whose
    results are discarded), so every chunk has one shape and one compilation."""
    a = a[start : start + size]
    k = a.shape[0]
    if k == size:
        return a
    return jnp.concatenate([a, jnp.repeat(a[-1:], size - k, axis=0)], axis=0)
