"""What a command or an experiment hands back: JSON-safe values, an atomic JSON file and a
PNG figure (shared by the experiments and the command line)."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write_text


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/JAX scalars and arrays (and nested containers) to plain JSON types.

    Non-finite floats become ``None`` so the output stays valid JSON.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "__array__") and not isinstance(obj, str):
        arr = np.asarray(obj)
        if arr.ndim == 0:
            return to_jsonable(arr.item())
        return [to_jsonable(v) for v in arr.tolist()]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, complex):
        return {"re": to_jsonable(obj.real), "im": to_jsonable(obj.imag)}
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    return obj


def write_json(path: str | Path, obj: Any, **dumps: Any) -> Path:
    """``obj`` (made JSON-safe by :func:`to_jsonable`) written atomically to ``path``."""
    return atomic_write_text(path, json.dumps(to_jsonable(obj), **dumps))


@contextlib.contextmanager
def figure(path: str | Path, figsize=(5, 3.5), **subplots: Any) -> Iterator[Any]:
    """A matplotlib figure (Agg, no display) whose axes the block draws on; then written to
    ``path`` (its folder made) as a 120-dpi PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize, **subplots)
    try:
        yield ax
        fig.tight_layout()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
